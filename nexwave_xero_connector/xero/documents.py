"""Invoices, bills and credit notes in Xero (GET/PUT/POST /Invoices and /CreditNotes, allocations), over
the shared SDK plumbing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any

from ..sync.errors import XeroError
from ..sync.model import LIVE_XERO_STATUSES, ElementResult, Kind, XeroRecord
from .plumbing import NO_ID, SdkCalls, any_of, as_date, count_mismatch, messages, quoted, where_all
from .transport import SEND_BY


class SdkDocuments:
	"""The document half of sync.ports.XeroGateway."""

	def __init__(self, sdk: SdkCalls):
		self.sdk = sdk

	# --- documents ------------------------------------------------------------------------------------

	def find_documents(
		self, tenant_id: str, kind: Kind, numbers: Sequence[str], contact_ids: Sequence[str] = ()
	) -> list[XeroRecord]:
		"""Every document of `kind` numbered one of `numbers` (any status), batched and paged."""
		wanted = list(dict.fromkeys(n for n in numbers if n))
		if not wanted:
			return []
		contacts = list(dict.fromkeys(c for c in contact_ids if c))
		if kind.is_credit_note:
			found = self._find_credit_notes(tenant_id, kind, wanted, contacts)
		else:
			found = self._find_invoices(tenant_id, kind, wanted, contacts)
		keep = set(wanted)
		# filter again here: the where/InvoiceNumbers filters are Xero's, this is our contract
		return _unique(
			r
			for r in found
			if r.number in keep and r.kind == kind and (not contacts or r.contact_id in contacts)
		)

	def _find_invoices(
		self, tenant_id: str, kind: Kind, numbers: list[str], contacts: list[str]
	) -> list[XeroRecord]:
		"""InvoiceNumbers lookups; numbers containing a comma cannot go through that csv list."""
		type_clause = f"Type=={quoted(kind.value)}"
		extra = {"contact_i_ds": contacts} if contacts else {}
		plain = [n for n in numbers if "," not in n]
		awkward = [n for n in numbers if "," in n]
		found = []
		for chunk in self.sdk.chunks(plain, lambda c: self._invoice_query(type_clause, c, contacts)):
			found += self.sdk.paged(
				self.sdk.api.get_invoices,
				"invoices",
				tenant_id,
				where=type_clause,
				invoice_numbers=chunk,
				**extra,
			)
		for chunk in self.sdk.chunks(
			awkward, lambda c: self._invoice_query(_number_where(type_clause, c), [], contacts)
		):
			found += self.sdk.paged(
				self.sdk.api.get_invoices,
				"invoices",
				tenant_id,
				where=_number_where(type_clause, chunk),
				**extra,
			)
		return [r for r in map(invoice_record, found) if r]

	def _find_credit_notes(
		self, tenant_id: str, kind: Kind, numbers: list[str], contacts: list[str]
	) -> list[XeroRecord]:
		"""GET /CreditNotes has no number list, so OR the numbers in `where`."""
		type_clause = f"Type=={quoted(kind.value)}"
		contact_clause = " OR ".join(f'Contact.ContactID=guid("{c}")' for c in contacts)

		def where(chunk: list[str]) -> str:
			return where_all(type_clause, contact_clause, any_of("CreditNoteNumber", chunk))

		found = []
		for chunk in self.sdk.chunks(
			numbers, lambda c: [("where", where(c)), *self.sdk.paging(1)], "/CreditNotes"
		):
			found += self.sdk.paged(
				self.sdk.api.get_credit_notes, "credit_notes", tenant_id, where=where(chunk)
			)
		return [r for r in map(credit_note_record, found) if r]

	def removed_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		"""Invoices, bills and credit notes voided or deleted in Xero since `since` (two paged GETs)."""
		return self.modified_since(tenant_id, since, _REMOVED)

	def live_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		"""Live invoices, bills and credit notes created or changed since `since`, as light records: the
		invoices' listing is summaryOnly, so payments, allocations and Url may be absent (read a document
		by ID before acting on it). Pages of scan_page_size keep a large organisation to a few calls."""
		return self.modified_since(tenant_id, since, _LIVE, summary_only=True)

	def modified_since(
		self,
		tenant_id: str,
		since: datetime | None,
		statuses: Sequence[str],
		*,
		summary_only: bool = False,
		credit_notes: bool = True,
	) -> list[XeroRecord]:
		"""Every invoice, bill and credit note in one of `statuses` created or changed since `since`: two
		paged GETs with If-Modified-Since (invoices by Statuses, credit notes by a where clause, since
		GET /CreditNotes has neither Statuses nor summaryOnly). `since` None lists them all (no header).
		Without `credit_notes`, the invoices' GET alone."""
		wanted = list(dict.fromkeys(statuses))
		extra = {"summary_only": True} if summary_only else {}
		if since is not None:
			extra["if_modified_since"] = since
		invoices = self.sdk.paged(
			self.sdk.api.get_invoices,
			"invoices",
			tenant_id,
			page_size=self.sdk.scan_page_size,
			statuses=wanted,
			**extra,
		)
		notes = (
			self.sdk.paged(
				self.sdk.api.get_credit_notes,
				"credit_notes",
				tenant_id,
				page_size=self.sdk.scan_page_size,
				where=any_of("Status", wanted),
				**{k: v for k, v in extra.items() if k != "summary_only"},
			)
			if credit_notes
			else []
		)
		return [r for r in map(invoice_record, invoices) if r] + [
			r for r in map(credit_note_record, notes) if r
		]

	def documents_dated(self, tenant_id: str, date_from: date, date_to: date) -> list[XeroRecord]:
		"""Every invoice, bill and credit note (any status) dated in [date_from, date_to]: two paged GETs
		of scan_page_size (1000) documents a page, full detail (the Url marker included)."""
		where = (
			f"Date >= DateTime({date_from.year}, {date_from.month:02d}, {date_from.day:02d}) AND "
			f"Date <= DateTime({date_to.year}, {date_to.month:02d}, {date_to.day:02d})"
		)
		invoices = self.sdk.paged(
			self.sdk.api.get_invoices, "invoices", tenant_id, page_size=self.sdk.scan_page_size, where=where
		)
		notes = self.sdk.paged(
			self.sdk.api.get_credit_notes,
			"credit_notes",
			tenant_id,
			page_size=self.sdk.scan_page_size,
			where=where,
		)
		return [r for r in map(invoice_record, invoices) if r] + [
			r for r in map(credit_note_record, notes) if r
		]

	def get_documents(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> list[XeroRecord]:
		"""The documents with these IDs; invoices by IDs in batches, credit notes one by one."""
		ids = list(dict.fromkeys(i for i in xero_ids if i))
		records: list[XeroRecord | None] = []
		if kind.is_credit_note:
			for credit_note_id in ids:
				answer = self._get_credit_note(tenant_id, credit_note_id)
				records += [credit_note_record(c) for c in (answer.credit_notes if answer else None) or []]
		else:
			for chunk in self.sdk.chunks(ids, lambda c: [("IDs", ",".join(c)), *self.sdk.paging(1)]):
				found = self.sdk.paged(self.sdk.api.get_invoices, "invoices", tenant_id, i_ds=chunk)
				records += [invoice_record(i) for i in found]
		keep = set(ids)
		return _unique(r for r in records if r and r.xero_id in keep)

	def created_by_app(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> set[str]:
		"""The IDs among `xero_ids` that Xero says this app created (GET /Invoices?createdByMyApp=true).
		Xero answers this for invoices and bills only: for credit notes nothing is proven (empty set)."""
		ids = list(dict.fromkeys(i for i in xero_ids if i))
		if kind.is_credit_note or not ids:
			return set()
		mine: set[str] = set()
		query = lambda c: [("IDs", ",".join(c)), ("createdByMyApp", True), *self.sdk.paging(1)]  # noqa: E731
		for chunk in self.sdk.chunks(ids, query):
			found = self.sdk.paged(
				self.sdk.api.get_invoices,
				"invoices",
				tenant_id,
				i_ds=chunk,
				created_by_my_app=True,
				summary_only=True,
			)
			mine |= {str(i.invoice_id) for i in found if getattr(i, "invoice_id", None)}
		return mine & set(ids)

	def _get_credit_note(self, tenant_id: str, credit_note_id: str) -> Any:
		"""One credit note, or None when Xero does not know the ID."""
		try:
			return self.sdk.call(
				self.sdk.api.get_credit_note, tenant_id, credit_note_id, document=credit_note_id
			)
		except XeroError as exc:
			if exc.status == 404:
				return None
			raise

	def create_documents(
		self,
		tenant_id: str,
		kind: Kind,
		bodies: Sequence[dict],
		idempotency_key: str,
		send_by: float | None = None,
	) -> list[ElementResult]:
		"""PUT the documents in one request (summarizeErrors=false, unitdp); results in input order. A
		request that has not left by `send_by` (time.monotonic()) is dropped: RequestNotSent."""
		if not bodies:
			return []
		family = _family(kind)
		label = _label(bodies, family.number_key)
		elements = self.sdk.wrap(
			family.collection, family.model, [{**b, "Type": kind.value} for b in bodies], label
		)
		token = SEND_BY.set(send_by)
		try:
			answer = self.sdk.call(
				getattr(self.sdk.api, family.create),
				tenant_id,
				elements,
				summarize_errors=False,
				unitdp=self.sdk.unitdp,
				idempotency_key=idempotency_key,
				document=label,
			)
		finally:
			SEND_BY.reset(token)
		return _in_order(getattr(answer, family.answer), len(bodies), partial(family.record, fallback=kind))

	def wire_sizes(self, kind: Kind, bodies: Sequence[dict]) -> list[int]:
		"""The bytes each document takes in create_documents' request body."""
		family = _family(kind)
		label = _label(bodies, family.number_key)
		return self.sdk.wire_sizes(family.model, [{**b, "Type": kind.value} for b in bodies], label)

	def set_statuses(
		self, tenant_id: str, kind: Kind, changes: Sequence[tuple[str, str]], idempotency_key: str
	) -> list[ElementResult]:
		"""POST {ID, Status} elements in one request; by ID only, since a number could match another bill."""
		if not changes:
			return []
		family = _family(kind)
		label = ", ".join(xero_id for xero_id, _ in changes[:5])
		elements = [{family.id_key: xero_id, "Status": status} for xero_id, status in changes]
		answer = self.sdk.call(
			getattr(self.sdk.api, family.update),
			tenant_id,
			self.sdk.wrap(family.collection, family.model, elements, label),
			summarize_errors=False,
			idempotency_key=idempotency_key,
			document=label,
		)
		return _in_order(getattr(answer, family.answer), len(changes), partial(family.record, fallback=kind))

	def allocate_credit(
		self,
		tenant_id: str,
		kind: Kind,
		credit_note_id: str,
		invoice_id: str,
		amount: Decimal,
		on: date,
		idempotency_key: str,
	) -> ElementResult:
		"""PUT one allocation; the record describes the credit note (ID, remaining credit if echoed)."""
		element = {"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": on}
		wrapper = self.sdk.wrap("Allocations", "Allocation", [element], credit_note_id)
		answer = self.sdk.call(
			self.sdk.api.create_credit_note_allocation,
			tenant_id,
			credit_note_id,
			wrapper,
			summarize_errors=False,
			idempotency_key=idempotency_key,
			document=credit_note_id,
		)
		allocations = answer.allocations or []
		if len(allocations) != 1:
			raise count_mismatch(len(allocations), 1)
		return allocation_result(kind, credit_note_id, allocations[0])

	def delete_allocation(self, tenant_id: str, kind: Kind, credit_note_id: str, allocation_id: str) -> None:
		"""DELETE one allocation; a 404 means it is already gone, which is what we wanted."""
		try:
			self.sdk.call(
				self.sdk.api.delete_credit_note_allocations,
				tenant_id,
				credit_note_id,
				allocation_id,
				document=credit_note_id,
			)
		except XeroError as exc:
			if exc.status != 404:
				raise

	# --- organisation ---------------------------------------------------------------------------------

	def _invoice_query(self, where: str, numbers: list[str], contacts: list[str]) -> list[tuple[str, Any]]:
		"""The query string GET /Invoices will carry, to measure the URL before sending."""
		params: list[tuple[str, Any]] = [("where", where)]
		if numbers:
			params.append(("InvoiceNumbers", ",".join(numbers)))
		if contacts:
			params.append(("ContactIDs", ",".join(contacts)))
		return params + self.sdk.paging(1)


_REMOVED = ("VOIDED", "DELETED")
_LIVE = tuple(sorted(LIVE_XERO_STATUSES))


@dataclass(frozen=True)
class _Family:
	"""One Xero endpoint family: invoices and bills, or credit notes of either side."""

	collection: str  # the wrapper model and JSON key: Invoices / CreditNotes
	model: str  # the element model: Invoice / CreditNote
	number_key: str
	id_key: str
	create: str  # AccountingApi method names
	update: str
	answer: str  # attribute of the answer holding the elements
	record: Callable[..., XeroRecord | None]


def _family(kind: Kind) -> _Family:
	if kind.is_credit_note:
		return _Family(
			"CreditNotes",
			"CreditNote",
			"CreditNoteNumber",
			"CreditNoteID",
			"create_credit_notes",
			"update_or_create_credit_notes",
			"credit_notes",
			credit_note_record,
		)
	return _Family(
		"Invoices",
		"Invoice",
		"InvoiceNumber",
		"InvoiceID",
		"create_invoices",
		"update_or_create_invoices",
		"invoices",
		invoice_record,
	)


def invoice_record(invoice: Any, fallback: Kind | None = None) -> XeroRecord | None:
	"""An Invoice as a XeroRecord, or None when it has no real ID (a failed element) or no known type."""
	xero_id = invoice.invoice_id
	kind = _kind_of_type(invoice.type, fallback)
	if not xero_id or xero_id == NO_ID or kind is None:
		return None
	return XeroRecord(
		kind=kind,
		xero_id=xero_id,
		number=invoice.invoice_number,
		status=invoice.status or "",
		contact_id=_contact_id(invoice.contact),
		total=invoice.total,
		date=invoice.date,
		url=invoice.url,
		amount_paid=invoice.amount_paid or Decimal(0),
		amount_credited=invoice.amount_credited or Decimal(0),
		amount_due=invoice.amount_due,
		updated=_utc(invoice.updated_date_utc),
		fully_paid_on=as_date(invoice.fully_paid_on_date) if invoice.fully_paid_on_date else None,
	)


def credit_note_record(credit_note: Any, fallback: Kind | None = None) -> XeroRecord | None:
	"""A CreditNote as a XeroRecord: amount_paid = refunds, amount_credited = what is allocated."""
	xero_id = credit_note.credit_note_id
	kind = _kind_of_type(credit_note.type, fallback)
	if not xero_id or xero_id == NO_ID or kind is None:
		return None
	refunded = sum((p.amount or Decimal(0) for p in credit_note.payments or []), Decimal(0))
	return XeroRecord(
		kind=kind,
		xero_id=xero_id,
		number=credit_note.credit_note_number,
		status=credit_note.status or "",
		contact_id=_contact_id(credit_note.contact),
		total=credit_note.total,
		date=credit_note.date,
		amount_paid=refunded,
		amount_credited=_allocated(credit_note, refunded),
		remaining_credit=credit_note.remaining_credit,
		allocations=tuple(
			(a.allocation_id, a.invoice.invoice_id if a.invoice else "", a.amount or Decimal(0))
			for a in credit_note.allocations or []
			if not a.is_deleted and a.allocation_id
		),
		updated=_utc(credit_note.updated_date_utc),
		fully_paid_on=as_date(credit_note.fully_paid_on_date) if credit_note.fully_paid_on_date else None,
	)


def _allocated(credit_note: Any, refunded: Decimal) -> Decimal:
	"""Allocated amount: from the allocations when listed, else total - remaining - refunds."""
	live = [a for a in credit_note.allocations or [] if not a.is_deleted]
	if live:
		return sum((a.amount or Decimal(0) for a in live), Decimal(0))
	if credit_note.total is not None and credit_note.remaining_credit is not None:
		return max(credit_note.total - credit_note.remaining_credit - refunded, Decimal(0))
	return Decimal(0)


def element_result(element: Any, to_record: Callable[[Any], XeroRecord | None]) -> ElementResult:
	"""One echoed element of a summarizeErrors=false answer: record, or its errors; warnings kept."""
	errors = messages(element.validation_errors)
	failed = element.status_attribute_string == "ERROR" or bool(getattr(element, "has_errors", False))
	if failed and not errors:
		errors = ("Xero reported an error for this document without a message.",)
	record = None if errors else to_record(element)
	if record is None and not errors:
		errors = ("Xero returned no ID for this document.",)
	return ElementResult(record=record, errors=errors, warnings=messages(getattr(element, "warnings", None)))


def allocation_result(kind: Kind, credit_note_id: str, allocation: Any) -> ElementResult:
	"""An echoed Allocation as the credit note's record (amount_credited = the allocated amount)."""
	errors = messages(allocation.validation_errors)
	if allocation.status_attribute_string == "ERROR" and not errors:
		errors = ("Xero reported an error for this allocation without a message.",)
	if errors:
		return ElementResult(record=None, errors=errors)
	echoed = allocation.credit_note
	record = XeroRecord(
		kind=kind,
		xero_id=credit_note_id,
		number=getattr(echoed, "credit_note_number", None),
		status=getattr(echoed, "status", None) or "AUTHORISED",
		total=getattr(echoed, "total", None),
		date=allocation.date,
		amount_credited=allocation.amount or Decimal(0),
		remaining_credit=getattr(echoed, "remaining_credit", None),
	)
	return ElementResult(record=record)


def _in_order(
	elements: Sequence[Any] | None, expected: int, to_record: Callable[[Any], XeroRecord | None]
) -> list[ElementResult]:
	"""Element results by position; a count mismatch means we cannot tell which is which."""
	elements = elements or []
	if len(elements) != expected:
		raise count_mismatch(len(elements), expected)
	return [element_result(e, to_record) for e in elements]


def _kind_of_type(type_value: str | None, fallback: Kind | None) -> Kind | None:
	"""The Kind of an echoed document's Type (prepayments and the like have none)."""
	if not type_value:
		return fallback
	try:
		return Kind(type_value)
	except ValueError:
		return None


def _contact_id(contact: Any) -> str | None:
	"""The ContactID of an embedded contact."""
	return getattr(contact, "contact_id", None) if contact is not None else None


def _number_where(type_clause: str, numbers: list[str]) -> str:
	"""Type filter AND InvoiceNumber=="..." alternatives (for numbers that contain commas)."""
	return where_all(type_clause, any_of("InvoiceNumber", numbers))


def _label(bodies: Sequence[Mapping[str, Any]], number_key: str) -> str:
	"""Document numbers for messages, e.g. "SINV-1, SINV-2" (first five)."""
	numbers = [str(b.get(number_key) or "?") for b in bodies]
	head = ", ".join(numbers[:5])
	return head + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def _unique(records: Iterable[XeroRecord]) -> list[XeroRecord]:
	"""Records without repeats of the same Xero ID, first seen first."""
	seen: dict[str, XeroRecord] = {}
	for record in records:
		seen.setdefault(record.xero_id, record)
	return list(seen.values())


def _utc(value: Any) -> datetime | None:
	"""An SDK datetime as an aware UTC datetime (Xero's /Date(ms)/ values are UTC)."""
	if not isinstance(value, datetime):
		return None
	return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
