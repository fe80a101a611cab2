"""Invoices, bills and credit notes pushed to Xero: map, look up what may be there, create the rest.

For each claim (the drain's context holds it):
  1. rows whose document is cancelled or deleted go to the undo (invoice_undo.py); rows that already hold a
     Xero ID are finished;
  2. every document is mapped and pre-flighted (no call is made for a document that would be wrong);
  3. only rows whose write-ahead marker says an earlier attempt may have reached Xero are looked up (one
     batched GET per Xero type), by what was really sent (the row's sent identity); a hit is adopted, never
     created again, and a miss proves absence only once no earlier request can still reach Xero: until
     then the row waits, it is never created a second time;
  4. the marker is committed through the context's gate (still ours, not cancelled) right before each
     batched PUT creates the rest under a deterministic key (a batch closes at fifty documents or at a
     byte budget under Xero's 3.5 MB cap: sync/batching.py; a document over the cap fails unsent);
  5. each Xero ID is stored at once; then the ERP docstatus is re-read and documents cancelled meanwhile
     are undone; then outcomes are recorded (a Synced outcome refuses itself if a cancel slipped in).
A fresh document therefore costs no lookup at all: one PUT carries up to fifty of them (fewer when they
are large).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import batching, keys
from ..config import PURCHASE_INVOICE
from ..errors import MappingError, XeroError
from ..model import ElementResult, ErrorClass, Kind, Outcome, SentIdentity, Status, SyncRow, Write, XeroRecord
from .contacts import ContactResolver, party_of
from .protocol import Context, Item

UNIQUE_NUMBER_ERRORS = ("must be unique",)
# Documents of one endpoint family are created before those that may be allocated against them.
KIND_ORDER = (Kind.SALES_INVOICE, Kind.BILL, Kind.SALES_CREDIT, Kind.BILL_CREDIT)


class InvoicePush:
	"""Pushes one claim's invoice rows through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx
		self.contacts = ContactResolver(ctx)

	def push(self, pushes: list[Item], voids: list[Item]) -> None:
		to_map: list[Item] = []
		for item in pushes:
			item.doc = self.ctx.load(item)
			if item.doc is None:
				if item.row.name in self.ctx.pending:
					voids.append(item)  # deleted in ERPNext but maybe in Xero: settle it like a cancel
				continue
			if item.doc.get("docstatus") == 2 and not item.row.xero_id:
				voids.append(item)
			else:
				to_map.append(item)
		contacts = self.contacts.resolve([i for i in to_map if not i.row.xero_id])
		by_kind: dict[Kind, list[Item]] = {}
		for item in to_map:
			if item.row.name not in self.ctx.pending:
				continue
			self.map_item(item, contacts)
			if item.row.name in self.ctx.pending and (item.payload or item.row.xero_id):
				by_kind.setdefault(xero_kind_of(item.row), []).append(item)
		ready: list[Item] = []
		for kind in KIND_ORDER:
			if by_kind.get(kind):
				ready += self._create(kind, by_kind[kind])
		self._settle(ready, voids)

	def map_item(self, item: Item, contacts: dict[tuple[str, str], str | Exception]) -> None:
		"""Build the payload; a row already in Xero only needs it for its allocation, so it cannot fail."""
		doc, row = item.doc, item.row
		party = party_of(row.reference_doctype, doc)
		contact = contacts.get(party)
		if row.xero_id:
			contact = contact or self.ctx.erp.contact_id(party[0], party[1], self.ctx.tenant_id) or ""
		if not row.xero_id and (isinstance(contact, Exception) or contact is None):
			message = str(contact) if contact else f"No Xero contact for {party[0]} {party[1]}."
			self.ctx.finish(item, Outcome(Status.FAILED, message, ErrorClass.VALIDATION, action="Contact"))
			return
		against = doc.get("return_against")
		against_id = self.ctx.erp.xero_id_of(row.reference_doctype, against) if against else None
		try:
			item.payload = self.ctx.mapper(
				doc,
				config=self.ctx.config,
				masters=self.ctx.masters,
				contact_id=contact,
				org=self.ctx.org(),
				against_xero_id=against_id,
			)
		except MappingError as exc:
			if not row.xero_id:
				self.ctx.finish(item, Outcome(Status.FAILED, str(exc), ErrorClass.MAPPING, action="Check"))

	def _create(self, kind: Kind, group: list[Item]) -> list[Item]:
		"""Adopt what an earlier attempt already created, create the rest; return the items now in Xero."""
		in_xero: list[Item] = []
		for item in [i for i in group if i.row.xero_id]:
			# Created by an attempt that died after storing the ID but before recording its outcome.
			item.record = XeroRecord(
				kind=kind,
				xero_id=item.row.xero_id,
				number=item.row.xero_number,
				status=item.row.xero_status or "AUTHORISED",
			)
			item.notes.append("Found the Xero ID stored by an interrupted attempt; nothing sent again.")
			in_xero.append(item)
		group = [i for i in group if not i.row.xero_id]
		generations = {i.row.name: i.row.key_generation for i in group}
		maybe_sent = [i for i in group if i.row.send_started]
		if maybe_sent:
			found = free(self.ctx, lookup(self.ctx, kind, maybe_sent))
			in_xero += self.ctx.adopt_or_wait(
				maybe_sent,
				found,
				lambda item, free_records: identity_of(item).find_in(free_records),
				generations,
			)
		to_send = [i for i in group if i not in in_xero and i.row.name in self.ctx.pending]
		if not to_send:
			return in_xero
		measured = self.ctx.gateway.wire_sizes(kind, [i.payload.body for i in to_send])
		return in_xero + self.ctx.send_in_batches(
			to_send,
			measured,
			generations,
			lambda batch, send_by: self._put(kind, batch, generations, send_by),
			lambda item, size: self._fail_too_large(kind, item, size),
		)

	def _put(
		self, kind: Kind, to_send: list[Item], generations: dict[str, int], send_by: float
	) -> list[Item]:
		"""One PUT of gated items under its own deterministic key; return the items now in Xero."""
		self.ctx.calling_for(to_send)
		# Keyed by the log row, not the document name: a new document that reuses a deleted one's name
		# (same content, too, when an accountant re-enters it) must not get Xero's cached answer for the
		# old, since voided, copy.
		key = keys.create_key(
			self.ctx.tenant_id,
			kind.value,
			[(i.row.name, i.payload.digest(), generations[i.row.name]) for i in to_send],
		)
		try:
			results = self.ctx.call(
				self.ctx.gateway.create_documents,
				self.ctx.tenant_id,
				kind,
				[i.payload.body for i in to_send],
				key,
				send_by=send_by,
			)
		except XeroError as exc:
			names = [i.row.name for i in to_send]
			if exc.too_large or not exc.may_have_committed:
				# Refused for its size before Xero read it (the context sends it again in halves), or before
				# it left (rate governor, 429, connection refused): nothing was saved, nothing is in flight.
				self.ctx.journal.unmark_sending(self.ctx.owner, names)
			elif exc.status is not None:
				# Xero answered (a 5xx): it may have saved the documents, so the next claim looks first, but
				# nothing is still in flight, so a miss then proves absence without waiting.
				self.ctx.journal.store_xero_ids(self.ctx.owner, {}, answered=names)
			raise
		created, collided, in_xero = {}, [], []
		for item, result in zip(to_send, results, strict=True):
			if result.ok:
				item.record = result.record
				if result.warnings:
					item.notes.append("Xero warned: " + "; ".join(result.warnings))
				created[item.row.name] = result.record
				in_xero.append(item)
			elif kind.number_is_unique and _is_number_clash(result):
				collided.append(item)
			else:
				self._fail_element(item, result)
		self.ctx.journal.store_xero_ids(self.ctx.owner, created, answered=[i.row.name for i in to_send])
		return in_xero + self._resolve_clashes(kind, collided)

	def _fail_too_large(self, kind: Kind, item: Item, size: int | None) -> None:
		"""One document Xero cannot take in a request: Failed before (or instead of) any further call."""
		label = _kind_label(kind)
		message = batching.too_large_message(
			item.row.reference_doctype,
			item.row.document,
			size,
			f"split the {label} into smaller ones (fewer lines or shorter descriptions)",
		)
		self.ctx.finish(item, Outcome(Status.FAILED, message, ErrorClass.VALIDATION, action="Check"))

	def _resolve_clashes(self, kind: Kind, collided: list[Item]) -> list[Item]:
		"""Xero says the number exists: adopt it if it is ours, else explain the conflict."""
		if not collided:
			return []
		found = lookup(self.ctx, kind, collided)
		adopted = []
		for item in [i for i in collided if i.row.name in self.ctx.pending]:
			record = identity_of(item).find_in(free(self.ctx, found))
			if record:
				self.ctx.adopted.add(record.xero_id)
				item.record = record
				item.notes.append(
					"Xero already had this document (an earlier response was lost); adopted it."
				)
				adopted.append(item)
				continue
			self.ctx.finish(item, _clash(kind, item, found))
		self.ctx.journal.store_xero_ids(self.ctx.owner, {i.row.name: i.record for i in adopted})
		return adopted

	def _fail_element(self, item: Item, result: ElementResult) -> None:
		message = self.ctx.gateway.explain(result.errors, document=item.row.document)
		self.ctx.finish(
			item,
			Outcome(
				Status.FAILED,
				f"{message} Fix it, then press Retry.",
				ErrorClass.VALIDATION,
				response={"errors": list(result.errors)},
			),
		)

	def _settle(self, ready: list[Item], voids: list[Item]) -> None:
		"""Re-read docstatus after the create: cancelled meanwhile ⇒ void; otherwise record Synced."""
		ready = [i for i in ready if i.row.name in self.ctx.pending]
		if not ready:
			return
		statuses = self.ctx.erp.docstatuses([i.row.ref for i in ready])
		for item in ready:
			if statuses.get(item.row.ref) == 2:
				voids.append(item)
				continue
			self._allocate(item)
			outcome = Outcome(
				Status.SYNCED,
				" ".join(item.notes) or "Sent to Xero.",
				xero_id=item.record.xero_id,
				xero_number=item.record.number,
				xero_status=item.record.status,
				action="Create",
				request=item.payload.body if item.payload else None,
			)
			if self.ctx.finish(item, outcome) is Write.CANCELLED:
				voids.append(item)  # the Synced write refused itself: a cancel committed while we pushed

	def _allocate(self, item: Item) -> None:
		"""Allocate a new credit note to the document it reverses, if that one is in Xero and open."""
		payload, record = item.payload, item.record
		if payload is None or not record.kind.is_credit_note:
			return
		if payload.allocation is None:
			if payload.unallocated_reason:
				item.notes.append(payload.unallocated_reason)
			return
		if record.remaining_credit is None:
			# Known only by ID (an interrupted attempt): read it, so a done allocation is not redone.
			if not self.ctx.held([item]):
				return
			fetched = self.ctx.call(
				self.ctx.gateway.get_documents, self.ctx.tenant_id, record.kind, [record.xero_id]
			)
			record = fetched[0] if fetched else record
		if (
			record.remaining_credit is not None
			and record.total is not None
			and record.remaining_credit < record.total
		):
			return  # allocated by an earlier attempt
		alloc = payload.allocation
		invoice_id = self.ctx.erp.xero_id_of(alloc.against_doctype, alloc.against_name)
		if not invoice_id:
			item.notes.append(
				f"Credit left unallocated: {alloc.against_name} is not in Xero yet. Allocate it in Xero once "
				"it is."
			)
			return
		if not self.ctx.held([item]):
			return
		try:
			result = self.ctx.call(
				self.ctx.gateway.allocate_credit,
				self.ctx.tenant_id,
				record.kind,
				record.xero_id,
				invoice_id,
				alloc.amount,
				payload.date,
				keys.allocation_key(self.ctx.tenant_id, record.xero_id, invoice_id, alloc.amount),
			)
		except XeroError as exc:
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise
			result = ElementResult(None, (exc.message,))
		if result.errors:
			item.notes.append(
				f"Credit left unallocated against {alloc.against_name}: {'; '.join(result.errors)} "
				"Allocate it in Xero by hand if needed."
			)
		else:
			item.notes.append(f"Allocated {alloc.amount} against {alloc.against_name}.")


def lookup(ctx: Context, kind: Kind, items: list[Item]) -> list[XeroRecord]:
	"""One batched GET for what these rows sent (or would send)."""
	items = ctx.held(items)
	if not items:
		return []
	idents = [identity_of(i) for i in items]
	numbers = sorted({x.number for x in idents})
	contact_ids = () if kind.number_is_unique else sorted({x.contact_id for x in idents})
	return ctx.call(ctx.gateway.find_documents, ctx.tenant_id, kind, numbers, contact_ids)


def free(ctx: Context, found: list[XeroRecord]) -> list[XeroRecord]:
	"""The documents of a lookup no log row holds and this batch has not taken: only those may be
	adopted, so two rows with the same number, contact and total (a reused name, two identical
	supplier credit notes) never share one copy."""
	held = ctx.journal.rows_holding([r.xero_id for r in found])
	return [r for r in found if r.xero_id not in held and r.xero_id not in ctx.adopted]


def xero_kind_of(row: SyncRow) -> Kind:
	"""The Xero kind recorded on the row at queue time (xero_type), else from the doctype."""
	if row.xero_type:
		return Kind(row.xero_type)
	return Kind.BILL if row.reference_doctype == PURCHASE_INVOICE else Kind.SALES_INVOICE


def xero_id_of(item: Item) -> str:
	return item.record.xero_id if item.record else item.row.xero_id


def identity_of(item: Item) -> SentIdentity:
	"""What this row sent (its stored sent identity), or what it would send now."""
	if item.row.sent_identity:
		return SentIdentity.of(item.row.sent_identity)
	return SentIdentity.of(item.payload.identity())


def _clash(kind: Kind, item: Item, found: Sequence[XeroRecord]) -> Outcome:
	"""Xero refused the number and no live copy of ours holds it: say who holds it and what to do."""
	number = item.payload.number
	same = [r for r in found if r.number == number and r.kind == kind]
	live = next((r for r in same if r.is_live), None)
	if live is not None:
		detail = f" It belongs to another contact or has total {live.total}, not {item.payload.total}."
		remedy = "Rename or void the one in Xero, then press Retry."
	elif same:
		# Typically the voided copy of an earlier document of the same name that was deleted in ERPNext
		# (ERPNext reuses the name of the last deleted document of a series). Xero keeps a voided
		# document's number for good, so only a new name here gets this document into Xero.
		detail = (
			f" Xero keeps that number on a {same[0].status.lower()} {_kind_label(kind)} "
			f"({same[0].xero_id}), probably the copy of an earlier, deleted document of the same name, and "
			"never lets a number be used twice."
		)
		remedy = (
			"Give this document a new name in ERPNext (duplicate it, submit the copy, then cancel this one), "
			"or enter it in Xero by hand."
		)
	else:
		detail, remedy = "", "Rename or void the one in Xero, then press Retry."
	return Outcome(
		Status.FAILED,
		f"Xero already has a {_kind_label(kind)} numbered {number} that is not {item.row.document}.{detail} "
		f"{remedy} Nothing was sent.",
		ErrorClass.CONFLICT,
	)


def _is_number_clash(result: ElementResult) -> bool:
	return any(any(s in e for s in UNIQUE_NUMBER_ERRORS) for e in result.errors)


def _kind_label(kind: Kind) -> str:
	return {
		Kind.SALES_INVOICE: "sales invoice",
		Kind.SALES_CREDIT: "credit note",
		Kind.BILL: "bill",
		Kind.BILL_CREDIT: "supplier credit note",
	}[kind]
