"""Invoices, bills and credit notes undone in Xero after a cancel or delete in ERPNext: voided (AUTHORISED)
or deleted (DRAFT, SUBMITTED), only when this app provably made them; the rest become Orphans with the
reason and the Void in Xero button."""

from __future__ import annotations

from .. import keys
from ..errors import XeroError
from ..mapping import document_url
from ..model import ErrorClass, Kind, Outcome, Status, XeroRecord
from .contacts import party_of
from .invoice_push import InvoicePush, free, identity_of, lookup, xero_id_of, xero_kind_of
from .protocol import Context, Item

REMOVE_PAYMENTS = "Remove the payments or credit allocations in Xero, then press Void in Xero."


class InvoiceUndo:
	"""Voids or deletes in Xero one claim's cancelled invoice rows through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx

	def undo(self, voids: list[Item]) -> None:
		"""Void/delete in Xero what was cancelled in ERPNext; explain what cannot be voided."""
		voids = [i for i in voids if i.row.name in self.ctx.pending]
		if not voids:
			return
		unknown = [i for i in voids if not (i.record or i.row.xero_id)]
		for item in unknown:
			if not item.row.send_started:
				self.ctx.finish(
					item,
					Outcome(
						Status.SKIPPED,
						"Cancelled in ERPNext before it was sent; nothing reached Xero.",
						action="Void",
					),
				)
		self._find_interrupted([i for i in unknown if i.row.send_started and i.row.name in self.ctx.pending])
		targets = [i for i in voids if i.row.name in self.ctx.pending and (i.record or i.row.xero_id)]
		by_kind: dict[Kind, list[Item]] = {}
		for item in targets:
			by_kind.setdefault(xero_kind_of(item.row), []).append(item)
		for kind, group in by_kind.items():
			self._void_group(kind, group)

	def _find_interrupted(self, items: list[Item]) -> None:
		"""A cancelled row whose create may have reached Xero: look for what was sent, never for a
		payload rebuilt now (the mapping may have changed, the document may be gone)."""
		by_kind: dict[Kind, list[Item]] = {}
		for item in items:
			if item.row.sent_identity is None and not self._rebuild_identity(item):
				continue
			by_kind.setdefault(identity_of(item).kind, []).append(item)
		for kind, group in by_kind.items():
			found = free(self.ctx, lookup(self.ctx, kind, group))
			for item in [i for i in group if i.row.name in self.ctx.pending]:
				item.record = identity_of(item).find_in(
					[r for r in found if r.xero_id not in self.ctx.adopted]
				)
				if item.record is not None:
					self.ctx.adopted.add(item.record.xero_id)
					continue
				if self.ctx.may_be_in_flight(item):
					self.ctx.wait_for_in_flight(item)
				else:
					self.ctx.finish(
						item,
						Outcome(
							Status.SKIPPED,
							"Cancelled in ERPNext; the interrupted attempt never reached Xero, so nothing to void.",
							action="Void",
						),
					)

	def _rebuild_identity(self, item: Item) -> bool:
		"""Rows marked before sent identities were recorded: rebuild the payload to look it up."""
		item.doc = item.doc or self.ctx.load(item)
		if item.doc is None:
			self.ctx.finish(
				item,
				Outcome(
					Status.FAILED,
					f"{item.row.document} was deleted in ERPNext after an interrupted push that may have reached "
					"Xero. Look for it in Xero and void it there if it is present.",
					ErrorClass.CONFLICT,
					action="Void",
				),
			)
			return False
		party = party_of(item.row.reference_doctype, item.doc)
		contact = self.ctx.erp.contact_id(party[0], party[1], self.ctx.tenant_id)
		InvoicePush(self.ctx).map_item(item, {party: contact} if contact else {})
		return item.row.name in self.ctx.pending and item.payload is not None

	def _own_allocations(self, item: Item, record: XeroRecord) -> list[str] | None:
		"""What blocks the void, if we put it there: a credit note's allocation to the document it
		reverses is ours (made at push), so a cancelled return takes it back. None: something else blocks."""
		if record.status == "PAID" and not record.kind.is_credit_note:
			return None
		if record.amount_paid or (record.amount_credited and not record.kind.is_credit_note):
			return None
		if not record.allocations:
			return None if record.amount_credited else []
		doc = item.doc or self.ctx.load(item)
		against = (
			self.ctx.erp.xero_id_of(item.row.reference_doctype, doc.get("return_against")) if doc else None
		)
		if not against or any(invoice_id != against for _, invoice_id, _ in record.allocations):
			return None
		item.notes.append(f"Took back its allocation to {doc.get('return_against')}.")
		return [allocation_id for allocation_id, _, _ in record.allocations]

	def _made_here(self, item: Item, record: XeroRecord) -> bool:
		"""Only what this app made is voided on a cancel without a person's word. An invoice or bill we sent
		carries this site's Url marker for its document. A credit note has no Url: it is ours unless a
		Backfill adopted it and nothing of ours was ever sent for the row (a row Log Settings cleared keeps no
		such trace, so the credit note the document links to is taken as ours)."""
		if record.kind.is_credit_note or not self.ctx.config.site_url:
			return item.row.send_started or not item.row.backfill
		return record.url == document_url(
			self.ctx.config.site_url, item.row.reference_doctype, item.row.document
		)

	def _void_group(self, kind: Kind, group: list[Item]) -> None:
		group = self.ctx.held(group)
		if not group:
			return
		current = {
			r.xero_id: r
			for r in self.ctx.call(
				self.ctx.gateway.get_documents, self.ctx.tenant_id, kind, [xero_id_of(i) for i in group]
			)
		}
		changes: list[tuple[Item, str, list[str]]] = []
		for item in group:
			record = current.get(xero_id_of(item))
			if record is None or not record.is_live:
				self.ctx.finish(
					item,
					Outcome(
						Status.VOIDED,
						"Cancelled in ERPNext; already void or deleted in Xero.",
						xero_status=record.status if record else "DELETED",
						action="Void",
					),
				)
			elif not (item.row.void_confirmed or self._made_here(item, record)):
				self.ctx.finish(
					item,
					_orphan(
						item,
						record,
						"it was already in Xero when ERPNext was linked to it (adopted by a Backfill or matched by "
						"its number), so this app did not make it and leaves voiding it to a person",
						"Press Void in Xero to void it, or void it in Xero yourself.",
					),
				)
			elif not (self.ctx.config.void_on_cancel or item.row.void_confirmed):
				self.ctx.finish(
					item,
					_orphan(
						item,
						record,
						"automatic voiding is off in Xero Sync Settings",
						"Press Void in Xero to void it, or void it in Xero yourself.",
					),
				)
			elif (own := self._own_allocations(item, record)) is None:
				self.ctx.finish(item, _orphan(item, record, record.void_blocker(), REMOVE_PAYMENTS))
			else:
				new_status = "DELETED" if record.status in ("DRAFT", "SUBMITTED") else "VOIDED"
				changes.append((item, new_status, own))
		if not changes:
			return
		# The gate: only rows still ours, whose cancel still stands, are voided; a worker that lost a row
		# while it read Xero leaves it alone.
		# (the drain decided to void from the docstatus, or absence, it read during this claim; a cancel is
		# never withdrawn, so holding the lease is the whole gate)
		kept = {i.row.name for i in self.ctx.renew([i for i, _, _ in changes])}
		changes = [c for c in changes if c[0].row.name in kept]
		self.ctx.calling_for([i for i, _, _ in changes])
		try:
			for item, _, own in changes:
				record = current[xero_id_of(item)]
				for allocation_id in own:
					self.ctx.call(
						self.ctx.gateway.delete_allocation,
						self.ctx.tenant_id,
						kind,
						record.xero_id,
						allocation_id,
					)
			if not changes:
				return
			key = keys.status_key(
				self.ctx.tenant_id, kind.value, [(xero_id_of(i), s, i.row.attempts) for i, s, _ in changes]
			)
			results = self.ctx.call(
				self.ctx.gateway.set_statuses,
				self.ctx.tenant_id,
				kind,
				[(xero_id_of(i), s) for i, s, _ in changes],
				key,
			)
		except XeroError as exc:
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise
			# Refused as a whole: the reason belongs to these documents only, not to the rest of the batch.
			for item, _, _ in changes:
				self.ctx.finish(item, _orphan(item, current[xero_id_of(item)], exc.message, REMOVE_PAYMENTS))
			return
		for (item, new_status, _), result in zip(changes, results, strict=True):
			if result.ok:
				self.ctx.finish(
					item,
					Outcome(
						Status.VOIDED,
						" ".join([f"Cancelled in ERPNext; {new_status.lower()} in Xero.", *item.notes]),
						xero_id=xero_id_of(item),
						xero_status=new_status,
						action="Void",
					),
				)
			else:
				record = current[xero_id_of(item)]
				reason = "; ".join(result.errors) or "Xero refused the void"
				self.ctx.finish(item, _orphan(item, record, reason, REMOVE_PAYMENTS))


def _orphan(item: Item, record: XeroRecord, reason: str, remedy: str) -> Outcome:
	return Outcome(
		Status.ORPHAN,
		f"{item.row.document} is cancelled in ERPNext but still live in Xero "
		f"({record.number or record.xero_id}, {record.status}): {reason}. {remedy}",
		xero_id=record.xero_id,
		xero_status=record.status,
		action="Void",
	)
