"""Plain data the sync core works with. No framework, no HTTP: dataclasses and enums only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
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

	@property
	def ref(self) -> tuple[str, str]:
		return (self.reference_doctype, self.reference_name)


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

	def digest(self) -> str:
		"""Return a stable hash of the body; it changes whenever what we would send changes."""
		canonical = json.dumps(self.body, sort_keys=True, default=str, separators=(",", ":"))
		return hashlib.sha256(canonical.encode()).hexdigest()


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

	@property
	def is_live(self) -> bool:
		return self.status in LIVE_XERO_STATUSES


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
	retry_at: datetime | None = None
	action: str = "Create"
	request: dict | list | None = None
	response: dict | list | None = None
	calls: int = 0
	extra: dict = field(default_factory=dict)
