"""Plain data the sync core works with. No framework, no HTTP: dataclasses and enums only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum


class Status(str, Enum):
	"""Status of a Xero Sync Log row (one row per ERP document)."""

	QUEUED = "Queued"
	SYNCED = "Synced"
	FAILED = "Failed"
	VOIDED = "Voided"
	SKIPPED = "Skipped"
	ORPHAN = "Orphan"


class Kind(str, Enum):
	"""The Xero document type an ERP document becomes."""

	SALES_INVOICE = "ACCREC"
	SALES_CREDIT = "ACCRECCREDIT"
	BILL = "ACCPAY"
	BILL_CREDIT = "ACCPAYCREDIT"

	@property
	def is_credit_note(self) -> bool:
		return self in (Kind.SALES_CREDIT, Kind.BILL_CREDIT)

	@property
	def number_is_unique(self) -> bool:
		"""Xero rejects a second ACCREC/ACCRECCREDIT with the same number; bill numbers repeat freely."""
		return self in (Kind.SALES_INVOICE, Kind.SALES_CREDIT)


class ErrorClass(str, Enum):
	"""Why a row failed, in the words shown in the log's error class field."""

	TRANSIENT = "Transient"
	RATE_LIMITED = "Rate Limited"
	VALIDATION = "Validation"
	MAPPING = "Mapping"
	CONNECTION = "Connection"
	CONFLICT = "Conflict"
	UNEXPECTED = "Unexpected"  # a bug or malformed data, not a Xero outcome: retried a little, then Failed


# Xero statuses in which a document still counts in the books.
LIVE_XERO_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "PAID"})


@dataclass
class SyncRow:
	"""One Xero Sync Log row as claimed by a drain.

	`send_started` is the write-ahead marker: it is committed before a create request leaves, so a row
	without it has never reached Xero and needs no lookup.
	"""

	name: str
	reference_doctype: str
	reference_name: str
	company: str
	tenant_id: str
	status: Status = Status.QUEUED
	attempts: int = 0
	send_started: bool = False
	key_generation: int = 0
	cancel_requested: bool = False
	void_confirmed: bool = False  # a person pressed Void in Xero: void even with automatic voiding off
	xero_id: str | None = None
	xero_number: str | None = None
	xero_status: str | None = None
	xero_type: str | None = None
	# Seconds since the latest create request was let out (the database's clock), None if never.
	sent_age: float | None = None
	# What that request was (XeroPayload.identity()): recovery looks Xero up by it, never by a rebuilt
	# payload, so a mapping changed meanwhile or a deleted document cannot hide a live copy.
	sent_identity: dict | None = None
	# The ERP document was deleted: the row keeps its history under `deleted_reference` and is settled
	# from what it recorded (the Xero ID or the sent identity), never by loading a document of that name.
	deleted_reference: str | None = None
	# Written by a Backfill: adopted (Synced with a Xero ID it found) or queued to be created by one.
	backfill: bool = False

	@property
	def ref(self) -> tuple[str, str]:
		return (self.reference_doctype, self.reference_name)

	@property
	def document(self) -> str:
		"""The ERP document's name for messages, also once it was deleted."""
		return self.reference_name or self.deleted_reference or self.name


@dataclass(frozen=True)
class AllocationIntent:
	"""A credit note's wish to be allocated against the original document (`return_against`)."""

	against_doctype: str
	against_name: str
	amount: Decimal


@dataclass(frozen=True)
class XeroPayload:
	"""A document ready to send: the Xero JSON body (PascalCase keys, Decimal money, date objects)."""

	kind: Kind
	number: str
	contact_id: str
	body: dict
	total: Decimal
	date: date
	url: str | None = None
	allocation: AllocationIntent | None = None
	# Why a credit note against a document carries no allocation, in words for the accountant (else None).
	unallocated_reason: str | None = None

	def digest(self) -> str:
		"""Return a stable hash of the body; it changes whenever what we would send changes."""
		canonical = json.dumps(self.body, sort_keys=True, default=str, separators=(",", ":"))
		return hashlib.sha256(canonical.encode()).hexdigest()

	def identity(self) -> dict:
		"""What identifies the sent document in Xero (kept on the row before the request leaves)."""
		return {
			"kind": self.kind.value,
			"number": self.number,
			"contact_id": self.contact_id,
			"total": str(self.total),
			"date": self.date.isoformat(),
			"url": self.url,
		}


@dataclass(frozen=True)
class SentIdentity:
	"""A stored XeroPayload.identity(): enough to recognise the document in a lookup."""

	kind: Kind
	number: str
	contact_id: str
	total: Decimal
	url: str | None = None

	def find_in(self, found: Sequence[XeroRecord]) -> XeroRecord | None:
		"""The live Xero document that is this one: same number, contact and total (and our marker for
		bills, whose numbers Xero does not keep unique)."""
		for record in found:
			if record.number != self.number or not record.is_live or record.kind != self.kind:
				continue
			if record.contact_id and record.contact_id != self.contact_id:
				continue
			if record.total is not None and Decimal(record.total) != self.total:
				continue
			if not self.kind.number_is_unique and self.url and record.url != self.url:
				continue
			return record
		return None

	@classmethod
	def of(cls, value: dict) -> SentIdentity:
		return cls(
			kind=Kind(value["kind"]),
			number=value["number"],
			contact_id=value.get("contact_id") or "",
			total=Decimal(value["total"]),
			url=value.get("url"),
		)


@dataclass(frozen=True)
class XeroRecord:
	"""A document as Xero holds it (from a lookup or a create response)."""

	kind: Kind
	xero_id: str
	number: str | None
	status: str
	contact_id: str | None = None
	total: Decimal | None = None
	date: date | None = None
	url: str | None = None
	amount_paid: Decimal = Decimal(0)
	amount_credited: Decimal = Decimal(0)
	amount_due: Decimal | None = None
	remaining_credit: Decimal | None = None
	# A credit note's live allocations: (allocation id, invoice id, amount).
	allocations: tuple[tuple[str, str, Decimal], ...] = ()
	updated: datetime | None = None  # UpdatedDateUTC (aware, UTC) when Xero sent it
	fully_paid_on: date | None = None  # FullyPaidOnDate

	@property
	def is_live(self) -> bool:
		return self.status in LIVE_XERO_STATUSES

	def void_blocker(self) -> str:
		"""What in Xero stops this document from being voided, in words for the accountant."""
		if self.kind.is_credit_note:
			if self.amount_paid:
				return f"{self.amount_paid} of it was refunded in Xero"
			return f"{self.amount_credited} of it is allocated in Xero to invoices this connector did not allocate"
		if self.amount_paid:
			return f"it has payments of {self.amount_paid} in Xero"
		if self.amount_credited:
			return f"credit notes of {self.amount_credited} are allocated to it in Xero"
		return "it is paid in Xero"


@dataclass(frozen=True)
class ElementResult:
	"""Xero's answer for one element of a batched create (summarizeErrors=false), in request order."""

	record: XeroRecord | None
	errors: tuple[str, ...] = ()
	warnings: tuple[str, ...] = ()

	@property
	def ok(self) -> bool:
		return self.record is not None and not self.errors


@dataclass(frozen=True)
class ContactRequest:
	"""A party that needs a Xero contact: ContactNumber is the ERP party ID."""

	party_type: str
	party: str
	name: str
	email: str | None = None
	tax_number: str | None = None
	# Another party of the same type carries the same display name in ERPNext: the contact then gets a
	# distinct name, "Name (ID)", and an unnumbered Xero contact of that name is never adopted for it.
	name_shared: bool = False

	@property
	def distinct_name(self) -> str:
		"""The name when the plain one is taken: "Name (ID)", or "Name (Customer)" when the ID is the name
		(ERPNext's default naming), since "Name (Name)" reads badly and the name alone is the one taken."""
		return f"{self.name} ({self.party_type if self.name == self.party else self.party})"


@dataclass(frozen=True)
class ContactRecord:
	contact_id: str
	name: str
	contact_number: str | None
	status: str = "ACTIVE"


@dataclass
class Outcome:
	"""What one claim of a row ended in; written by Journal.finish with the attempt's history entry."""

	status: Status
	message: str = ""
	error_class: ErrorClass | None = None
	xero_id: str | None = None
	xero_number: str | None = None
	xero_status: str | None = None
	# Seconds from now (the database's clock) before the row may be claimed again; None = at once.
	retry_in: float | None = None
	action: str = "Create"
	request: dict | list | None = None
	response: dict | list | None = None
	calls: int = 0
	# A scrubbed traceback of an unexpected failure, recorded where people can read it (Error Log).
	trace: str | None = None
	# False for a claim that only waited (an earlier request may still be in flight): it does not count
	# towards the retry cap, so waiting can never use up a document's attempts.
	counted: bool = True
	# The list view's words for the row, when its kind words them itself (else the journal's, for documents).
	title: str | None = None


class Write(str, Enum):
	"""What became of a journal write fenced by the lease."""

	DONE = "done"
	CANCELLED = "cancelled"  # a cancel committed meanwhile: a Synced outcome refused itself
	LEASE_LOST = "lease lost"  # another worker holds the row now: this worker must leave it alone

	def __bool__(self) -> bool:
		return self is Write.DONE


@dataclass(frozen=True)
class EntryPlan:
	"""The Payment Entry a Xero payment becomes (the Frappe layer builds it with ERPNext's own
	get_payment_entry, then sets these)."""

	payment_id: str
	company: str
	payment_type: str  # Receive or Pay
	against_doctype: str
	against_name: str
	allocated: Decimal  # party account currency, signed as ERPNext allocates (negative against a return)
	posting_date: date
	bank_account: str  # the ERPNext bank/cash account
	mode_of_payment: str | None
	exchange_rate: Decimal  # company currency per party account currency unit
	base_amount: Decimal  # the allocated amount in company currency at that rate
	reference_no: str


class EntryRefused(Exception):
	"""ERPNext refused to create or cancel the Payment Entry; the message is ERPNext's, for the row."""
