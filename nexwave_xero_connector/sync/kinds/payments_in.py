"""The payments-in kind: payments made in Xero, recorded in ERPNext as submitted Payment Entries.

What such a payment is, how it becomes an entry and how the poll finds it: sync/payments_from_xero.py.
Here the drain's part (see that module's docstring for the rules): the Payment Entry that carries the
PaymentID is the durable link; otherwise the entry is created and submitted in the same transaction as the
row's Synced outcome; a payment deleted in Xero cancels its entry, again in the outcome's transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal

from ..journal import LOG_TABLE, SqlDb
from ..model import EntryPlan, EntryRefused, ErrorClass, Kind, Outcome, Status, SyncRow, Write
from ..money import ZERO, dec
from ..payment_mapping import PAYMENT_ENTRY, PULLED, WAITING_PREFIX
from ..payments_from_xero import (
	ENTRY_KINDS,
	PAYMENTS_ON_SQL,
	PUSH_PENDING_SQL,
	RETURN_PENDING_SQL,
	UNDO_PENDING_SQL,
	UNDO_WAIT_SECONDS,
	WAIT_SECONDS,
	PaidInXero,
	Payable,
	Refused,
	check_ledgers,
	entries_by_payment,
	payables,
	plan_entry,
)
from ..ports import EntryBook
from .protocol import Context, Item

FACTS_SQL = f"SELECT name, response FROM {LOG_TABLE} WHERE name IN %(names)s"


# A payment made in Xero and recorded here: what happened to it, in ERPNext's words.
PULLED_VERBS = {
	Status.SYNCED: "recorded",
	Status.VOIDED: "deleted in Xero, undone here",
	Status.FAILED: "not recorded",
	Status.SKIPPED: "not copied",
	Status.ORPHAN: "needs a look",
	Status.QUEUED: "will be retried",
}


class PaymentsIn:
	"""Each payment made in Xero recorded in ERPNext as a submitted Payment Entry; deleted in Xero, the
	entry is cancelled. Calls Xero only to read what is due on the documents paid."""

	name = "payments in"
	xero_types = (PULLED,)
	doctypes = (PAYMENT_ENTRY,)
	writes_to_xero = False
	waits_for_invoices = True
	link_paths = {PULLED: "/Bank/ViewTransaction.aspx?bankTransactionID="}  # a payment made in Xero

	def title(self, row: SyncRow, outcome: Outcome, reference: str | None) -> str:
		"""What happened to the payment, in ERPNext's words (`reference`: the entry it became)."""
		entry = reference or row.reference_name
		made = f" as {entry}" if entry and outcome.status == Status.SYNCED else ""
		return f"Xero payment {row.xero_id or row.name} {PULLED_VERBS[outcome.status]}{made}"[:140]

	def push(self, ctx: Context, items: list[Item]) -> None:
		"""Record or undo the claim's Xero payments in ERPNext; no Xero write is made."""
		PaymentRecorder(ctx).run(items)

	def undo(self, ctx: Context, items: list[Item]) -> None:
		"""Cancel the Payment Entries of payments deleted in Xero (or flag the conflict of one cancelled here).
		The same path as `push`: what Xero lists decides, per row, whether it is recorded or undone."""
		PaymentRecorder(ctx).run(items)


class PaymentRecorder:
	"""Records or undoes one claim's Xero payments through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx
		self.db: SqlDb = ctx.journal.db
		self.book: EntryBook = ctx.erp
		self.due: dict[str, Decimal] = {}  # Xero document ID -> what Xero has due on it now
		self.unrecorded: dict[str, Decimal] = {}  # Xero document ID -> its Xero payments not in ERPNext yet

	def run(self, items: list) -> None:
		names = tuple(i.row.name for i in items)
		facts = {r["name"]: r["response"] for r in self.db.query(FACTS_SQL, {"names": names})}
		paid = {}
		for item in items:
			raw = facts.get(item.row.name)
			paid[item.row.name] = PaidInXero.of(json.loads(raw)) if raw else None
		known = [p for p in paid.values() if p is not None]
		entries = entries_by_payment(self.db, [p.payment_id for p in known])
		for item in items:
			if item.row.name in self.ctx.pending and paid[item.row.name] is None:
				self._finish(
					item, Outcome(Status.FAILED, "The row holds no Xero payment.", ErrorClass.UNEXPECTED)
				)
		undos = [
			i for i in items if paid[i.row.name] and (not paid[i.row.name].is_live or i.row.cancel_requested)
		]
		records = [i for i in items if paid[i.row.name] and i not in undos]
		# Undo first: a payment that replaces one deleted in Xero then finds the outstanding it frees.
		for item in undos:
			if item.row.name in self.ctx.pending:
				payment = paid[item.row.name]
				self._undo(item, payment, entries.get(payment.payment_id))
		docs = payables(self.db, [paid[i.row.name].target_id for i in records if paid[i.row.name].target_id])
		to_plan = [
			i
			for i in records
			if (p := paid[i.row.name]).target_id in docs
			and p.target_type in ENTRY_KINDS
			and p.payment_id not in entries
			and docs[p.target_id].docstatus == 1
			and self.ctx.config.pulls_payments(docs[p.target_id].company)
		]
		self._read_ledgers(to_plan, paid)
		for item in records:
			if item.row.name in self.ctx.pending:
				payment = paid[item.row.name]
				self._record(
					item, payment, entries.get(payment.payment_id), docs.get(payment.target_id or "")
				)

	def _read_ledgers(self, items: list, paid: dict) -> None:
		"""What Xero has due on the documents these payments are on (one read per kind: a fresh figure, not
		the poll's), and what of their Xero payments ERPNext has not recorded yet."""
		by_kind: dict[Kind, set[str]] = {}
		for item in items:
			payment = paid[item.row.name]
			by_kind.setdefault(Kind(payment.target_type), set()).add(payment.target_id)
		targets = sorted(set().union(*by_kind.values())) if by_kind else []
		if not targets or not self.ctx.held(items):
			return
		for kind, ids in by_kind.items():
			for record in self.ctx.call(
				self.ctx.gateway.get_documents, self.ctx.tenant_id, kind, sorted(ids)
			):
				due = record.remaining_credit if kind.is_credit_note else record.amount_due
				if due is not None:
					self.due[record.xero_id] = dec(due)
		found = [
			PaidInXero.of(json.loads(r["response"]))
			for r in self.db.query(PAYMENTS_ON_SQL, {"tenant_id": self.ctx.tenant_id, "ids": tuple(targets)})
			if r["response"]
		]
		live = [p for p in found if p.is_live and p.target_id]
		recorded = entries_by_payment(self.db, [p.payment_id for p in live])
		for payment in {p.payment_id: p for p in live}.values():
			if recorded.get(payment.payment_id, ("", 0))[1] != 1:
				self.unrecorded[payment.target_id] = (
					self.unrecorded.get(payment.target_id, ZERO) + payment.amount
				)

	def _finish(self, item, outcome: Outcome, **kwargs) -> Write:
		outcome.action = "Record" if outcome.action == "Create" else outcome.action
		return self.ctx.finish(item, outcome, **kwargs)

	def _record(self, item, paid: PaidInXero, entry: tuple[str, int] | None, payable: Payable | None) -> None:
		if entry is not None:
			name, docstatus = entry
			if docstatus == 1:
				self._finish(item, Outcome(Status.SYNCED, f"Recorded in ERPNext as {name}."), reference=name)
			else:
				self._finish(item, _cancelled_here(paid, name), reference=name)
			return
		try:
			plan = self._plan(item, paid, payable)
		except Refused as refused:
			self._finish(item, Outcome(refused.status, str(refused), refused.error_class))
			return
		if plan is None:
			return
		if not self.ctx.held([item]):
			return
		try:
			name = self.book.create_entry(plan)
		except EntryRefused as exc:
			self._finish(
				item,
				Outcome(
					Status.FAILED,
					f"ERPNext refused the Payment Entry for {paid.describe()}: {exc} Fix that, then press Retry.",
					ErrorClass.VALIDATION,
					request=asdict(plan),
				),
			)
			return
		written = self._finish(
			item,
			Outcome(Status.SYNCED, f"Recorded in ERPNext as {name}.", request=asdict(plan)),
			reference=name,
			with_erp_change=True,
		)
		if written is Write.CANCELLED:
			# Deleted in Xero while we recorded it: the entry was rolled back with the refused write; the
			# next pass closes the row.
			self._finish(
				item,
				Outcome(
					Status.QUEUED,
					f"{paid.describe()} was deleted in Xero while it was being recorded; nothing was kept.",
					counted=False,
				),
			)

	def _plan(self, item, paid: PaidInXero, payable: Payable | None) -> EntryPlan | None:
		if paid.target_type not in ENTRY_KINDS or not paid.target_id:
			raise Refused(
				f"{paid.describe()} pays an overpayment or prepayment ({paid.payment_type or 'unknown type'}). "
				"ERPNext keeps those as unallocated advances, so it is not copied: record it by hand if needed.",
				status=Status.SKIPPED,
			)
		if payable is None:
			pending = self.db.query(
				PUSH_PENDING_SQL,
				{
					"tenant_id": self.ctx.tenant_id,
					"xero_type": paid.target_type,
					"number": paid.target_number,
				},
			)
			if paid.target_number and pending[0]["n"]:
				self._finish(
					item,
					Outcome(
						Status.QUEUED,
						f"{WAITING_PREFIX}{paid.target_number} to finish syncing before its payment is recorded.",
						retry_in=WAIT_SECONDS,
						counted=False,
						action="Wait",
					),
				)
				return None
			raise Refused(
				f"{paid.describe()}: that Xero document was not sent from ERPNext, so its payment is not "
				"copied. Record it in ERPNext by hand if the document exists here.",
				status=Status.SKIPPED,
			)
		if not self.ctx.config.pulls_payments(payable.company):
			raise Refused(
				f"{paid.describe()} is for {payable.company}, whose payments are not copied from Xero (Xero "
				"Sync Settings > Organisations: Payments Owned By, Create Payment Entries from Xero).",
				status=Status.SKIPPED,
			)
		try:
			plan = plan_entry(paid, payable, self.ctx.config)
			check_ledgers(
				paid, payable, self.due.get(paid.target_id), self.unrecorded.get(paid.target_id, ZERO)
			)
			return plan
		except Refused as refused:
			if refused.error_class != ErrorClass.CONFLICT:
				raise
			undoing = [
				r["name"]
				for r in self.db.query(
					UNDO_PENDING_SQL,
					{
						"tenant_id": self.ctx.tenant_id,
						"row": item.row.name,
						"doctype": payable.doctype,
						"name": payable.name,
					},
				)
			]
			if undoing:
				# A payment deleted in Xero still stands here as an entry on the same document, its cancel
				# queued (maybe in another worker's claim): this one follows it.
				waiting_for = (
					f"{', '.join(sorted(undoing))} (its payment was deleted in Xero) to be cancelled"
				)
			elif self.db.query(
				RETURN_PENDING_SQL.format(table=f"`tab{payable.doctype}`"),
				{"tenant_id": self.ctx.tenant_id, "name": payable.name},
			)[0]["n"]:
				# ERPNext already counts the credit of a return that is still on its way to Xero.
				waiting_for = f"a return against {payable.name} to reach Xero"
			else:
				raise
			self._finish(
				item,
				Outcome(
					Status.QUEUED,
					f"Waiting for {waiting_for} before {paid.describe()} is recorded.",
					retry_in=UNDO_WAIT_SECONDS,
					counted=False,
					action="Wait",
				),
			)
			return None

	def _undo(self, item, paid: PaidInXero, entry: tuple[str, int] | None) -> None:
		if paid.is_live:
			# The entry was cancelled here (the cancel hook or the orphan scan flagged the row) while Xero,
			# which owns the payment, keeps it.
			name = entry[0] if entry else item.row.reference_name or "its Payment Entry"
			self._finish(item, _cancelled_here(paid, name))
			return
		if entry is None or entry[1] != 1:
			self._finish(
				item,
				Outcome(
					Status.VOIDED,
					f"{paid.describe()} was deleted in Xero; nothing of it stands in ERPNext.",
					action="Undo",
				),
			)
			return
		name = entry[0]
		if not self.ctx.held([item]):
			return
		try:
			self.book.cancel_entry(name)
		except EntryRefused as exc:
			self._finish(
				item,
				Outcome(
					Status.FAILED,
					f"{paid.describe()} was deleted in Xero, but ERPNext refused to cancel {name}: {exc} "
					"Cancel it by hand (this row then closes when you press Retry).",
					ErrorClass.VALIDATION,
					action="Undo",
				),
			)
			return
		self._finish(
			item,
			Outcome(
				Status.VOIDED,
				f"{paid.describe()} was deleted in Xero, so {name} was cancelled.",
				action="Undo",
			),
			reference=name,
			with_erp_change=True,
		)


def _cancelled_here(paid: PaidInXero, name: str) -> Outcome:
	return Outcome(
		Status.FAILED,
		f"{name} was cancelled in ERPNext, but Xero still has {paid.describe()}, and Xero owns this company's "
		"payments. Delete the payment in Xero so both agree (this row then closes by itself).",
		ErrorClass.CONFLICT,
	)


PAYMENTS_IN = PaymentsIn()
