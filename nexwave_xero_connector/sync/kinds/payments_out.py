"""The payments-out kind: a Payment Entry's row pushes its Xero payments, or deletes them after a cancel.

One Xero Sync Log row per Payment Entry (xero_type PAYMENT) carries all its payments (one per reference to
an invoice in Xero), through the drain's context like every kind: the claim and lease, the send gate that
commits the write-ahead marker with the sent identity (every payment the entry stands for: document,
amount, date, reference) before the PUT leaves, `answered` when Xero replied, and `finish`, whose Synced
write refuses itself when a cancel committed meanwhile.

For each claim:
  1. rows flagged by a cancel, or whose Payment Entry is cancelled or deleted, go to the undo;
  2. each entry is mapped (payment_mapping.plan_payment); one waiting for an invoice that is not in Xero
     yet stays Queued with a back-off and says so; nothing in scope is Skipped with the reason;
  3. rows whose marker says an earlier attempt may have reached Xero are looked up (one GET /Payments by
     Reference for the batch); a payment found is adopted, a miss proves absence only once no earlier
     request can still land (else the row waits), and then the key generation moves;
  4. one GET by number per kind (by ID for any renumbered in Xero) reads what Xero holds now: a voided
     invoice, a draft (the row waits), or a payment larger than what is due there is refused before any
     call that writes;
  5. the gate, then one PUT /Payments per 50 payments under a deterministic Idempotency-Key;
  6. docstatus is re-read: an entry cancelled meanwhile has its payments deleted; the rest are Synced.
Undo: the payments are found (known from this claim, or one batched lookup), and each is deleted
(POST Status DELETED, one call each); one Xero refuses to delete (reconciled to a bank line) leaves the
row an Orphan with the reason and the Void in Xero button.

A fresh backlog therefore costs one GET and one PUT per fifty Payment Entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .. import keys
from ..errors import MappingError, XeroError
from ..journal import LOG_TABLE
from ..model import ErrorClass, Kind, Outcome, Status, SyncRow, Write
from ..money import shown
from ..payment_mapping import (
	PAYMENT,
	PAYMENT_ENTRY,
	WAITING_PREFIX,
	NothingToSend,
	PaymentLine,
	PaymentPlan,
	XeroPayment,
	in_scope_refs,
	match_lines,
	plan_payment,
)
from ..ports import PaymentGateway, PaymentSource
from .protocol import CHANGED_WHILE_PREPARED, Context, Item

MAX_PER_CALL = 50
WAIT_FIRST_SECONDS = 60
WAIT_MAX_SECONDS = 900  # a wait costs no Xero call (only a claim), so look again often
NOT_DELETED = "Remove the bank reconciliation of the payment in Xero, then press Void in Xero."
# Cancelled Payment Entries whose payments are still to be deleted in Xero (what each sent names the
# documents it paid): until they are, Xero shows that much less due on those documents.
DELETIONS_PENDING_SQL = f"""
SELECT name, reference_name, deleted_reference, sent_identity FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND xero_type = '{PAYMENT}' AND status = 'Queued' AND cancel_requested = 1
	AND send_started = 1 AND sent_identity IS NOT NULL
"""


@dataclass
class Pay:
	"""A Payment Entry's row on its way through one claim."""

	item: Item
	plan: PaymentPlan | None = None
	generation: int = 0
	# Per plan line: the Xero payment that is it (adopted or created), None while it is not in Xero.
	done: list[XeroPayment | None] = field(default_factory=list)
	errors: list[str] = field(default_factory=list)
	adopted: int = 0

	@property
	def row(self):
		return self.item.row

	@property
	def missing(self) -> list[int]:
		return [i for i, p in enumerate(self.done) if p is None]


class PaymentsOut:
	"""Each Payment Entry's payments pushed to Xero (one per invoice it pays); a cancel deletes them there."""

	name = "payments out"
	xero_types = (PAYMENT,)
	doctypes = (PAYMENT_ENTRY,)
	writes_to_xero = True
	waits_for_invoices = True
	# A payment has no page of its own: Xero shows it as a transaction of its bank account (xero/links.py).
	link_paths = {PAYMENT: "/Bank/ViewTransaction.aspx?bankTransactionID="}

	def title(self, row: SyncRow, outcome: Outcome, reference: str | None) -> None:
		"""The journal's words for a document."""
		return None

	def push(self, ctx: Context, items: list[Item]) -> None:
		pays = [Pay(i) for i in items]
		undo = PaymentUndo(ctx)
		# Deletions first: an entry that replaces a cancelled one on the same invoice then finds the room.
		undo.undo([p for p in pays if p.row.cancel_requested])
		late: list[Pay] = []  # cancelled (or deleted) since they were queued
		PaymentPush(ctx).push([p for p in pays if not p.row.cancel_requested], late)
		undo.undo(open_pays(ctx, late))

	def undo(self, ctx: Context, items: list[Item]) -> None:
		"""Delete in Xero the payments of cancelled (or deleted) Payment Entries."""
		PaymentUndo(ctx).undo([Pay(i) for i in items])


def open_pays(ctx: Context, pays: Sequence[Pay]) -> list[Pay]:
	return [p for p in pays if ctx.is_open(p.item)]


def held_pays(ctx: Context, pays: Sequence[Pay]) -> list[Pay]:
	held = {i.row.name for i in ctx.held([p.item for p in pays])}
	return [p for p in pays if p.row.name in held]


def finish_pay(ctx: Context, pay: Pay, outcome: Outcome) -> Write:
	if outcome.request is None and pay.plan is not None and pay.plan.lines:
		outcome.request = [line.body() for line in pay.plan.lines]
	return ctx.finish(pay.item, outcome)


class PaymentPush:
	"""Pushes one claim's Payment Entry rows through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx
		self.payments: PaymentGateway = ctx.gateway.payments

	def push(self, pushes: list[Pay], cancels: list[Pay]) -> None:
		to_plan = []
		for pay in pushes:
			pay.item.doc = self.ctx.load(pay.item)
			if pay.item.doc is None:
				if pay.row.name in self.ctx.pending:
					cancels.append(pay)  # deleted in ERPNext, maybe in Xero: settled like a cancel
			elif pay.item.doc.get("docstatus") == 2:
				cancels.append(pay)
			elif not self.ctx.config.pushes_payments(pay.row.company):
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.SKIPPED,
						f"{pay.row.document} is not sent: Xero Sync Settings say Xero owns the payments of "
						f"{pay.row.company}.",
						action="Check",
					),
				)
			else:
				to_plan.append(pay)
		refs = sorted({r for p in to_plan for r in in_scope_refs(p.item.doc)})
		targets = self.ctx.erp.payment_targets(refs) if refs else {}
		ready = [p for p in to_plan if self._plan(p, targets)]
		self._adopt_earlier(ready)
		ready = self._preflight(open_pays(self.ctx, ready))
		self._send(ready)
		self._settle(open_pays(self.ctx, ready), cancels)

	def _plan(self, pay: Pay, targets: dict) -> bool:
		try:
			plan = plan_payment(pay.item.doc, config=self.ctx.config, targets=targets, org=self.ctx.org())
		except NothingToSend as why:
			finish_pay(self.ctx, pay, Outcome(Status.SKIPPED, str(why), action="Check"))
			return False
		except MappingError as exc:
			finish_pay(self.ctx, pay, Outcome(Status.FAILED, str(exc), ErrorClass.MAPPING, action="Check"))
			return False
		pay.plan = plan
		if plan.waiting_for:
			self._wait(
				pay,
				f"{WAITING_PREFIX}{', '.join(plan.waiting_for)} to be in Xero: the payment follows its invoice once "
				"that is Synced. If the invoice is Failed or was never pushed, fix it or press Push to Xero on it.",
			)
			return False
		pay.generation = pay.row.key_generation
		pay.done = [None] * len(plan.lines)
		return True

	def _wait(self, pay: Pay, message: str) -> None:
		retry = min(WAIT_MAX_SECONDS, WAIT_FIRST_SECONDS * 2 ** max(0, pay.row.attempts - 1))
		finish_pay(
			self.ctx,
			pay,
			Outcome(
				Status.QUEUED, f"{message} Looked at again in {int(retry)} s.", retry_in=retry, action="Check"
			),
		)

	def _adopt_earlier(self, pays: list[Pay]) -> None:
		"""Rows an earlier attempt may have sent: find those payments in Xero, never send them twice."""
		maybe = [p for p in pays if p.row.send_started]
		if not maybe or not (maybe := held_pays(self.ctx, maybe)):
			return
		found = self.ctx.call(
			self.payments.find_payments, self.ctx.tenant_id, [p.row.reference_name for p in maybe]
		)
		for pay in maybe:
			lines = [line.identity() for line in pay.plan.lines]
			pay.done = match_lines(lines, [f for f in found if f.reference == pay.plan.name])
			pay.adopted = len(lines) - len(pay.missing)
			if not pay.missing:
				continue
			if self.ctx.may_be_in_flight(pay.item):
				self.ctx.wait_for_in_flight(pay.item)
			else:
				pay.generation += 1  # proven absent: a fresh key, never Xero's cached answer

	def _preflight(self, pays: list[Pay]) -> list[Pay]:
		"""Read the invoices the missing payments go on (one GET) and refuse what Xero would refuse."""
		adopted_all = [p for p in pays if not p.missing]
		need = held_pays(self.ctx, [p for p in pays if p.missing])
		if not need:
			return adopted_all
		pays = need
		records = self._read_targets([p.plan.lines[i] for p in pays for i in p.missing])
		due: dict[str, Decimal] = {}
		deleting: dict[str, list[str]] | None = None
		ok = []
		for pay in pays:
			problem, waiting, takes = None, None, {}
			for i in pay.missing:
				line = pay.plan.lines[i]
				record = records.get(line.target_id)
				what = f"{line.against_doctype} {line.against_name}"
				if record is None or record.status in ("VOIDED", "DELETED"):
					state = record.status.lower() if record else "deleted or is unknown"
					problem = (
						f"{what} is {state} in Xero, so its payment of {shown(line.amount)} cannot be recorded there. "
						f"Cancel {pay.plan.name} in ERPNext if the invoice is void, or push the invoice again, then "
						"press Retry."
					)
					break
				if record.status in ("DRAFT", "SUBMITTED"):
					waiting = (
						f"{WAITING_PREFIX}{what} to be approved in Xero, where it is still {record.status}: "
						"approve it there, and the payment follows."
					)
					continue
				left = due.get(line.target_id)
				if left is None:
					left = record.remaining_credit if line.on_credit_note else record.amount_due
					left = Decimal(0) if left is None else Decimal(left)
				left -= takes.get(line.target_id, Decimal(0))
				if line.amount > left:
					deleting = self._deleting() if deleting is None else deleting
					others = [n for n in deleting.get(line.target_id, []) if n != pay.plan.name]
					if others:
						# A cancelled entry's payment still holds that room in Xero: it is deleted by its own row
						# (maybe in another worker's batch), and this one follows.
						waiting = (
							f"The payment of {shown(line.amount)} on {what} is more than Xero shows as due on it ({shown(left)}) "
							f"until the payments of the cancelled {', '.join(sorted(others))} are deleted there."
						)
						continue
					problem = (
						f"The payment of {shown(line.amount)} on {what} is more than Xero shows as due on it ({shown(left)}). A "
						"payment or credit may have been recorded in Xero by hand: remove it there, or correct the "
						"Payment Entry, then press Retry. Nothing was sent."
					)
					break
				takes[line.target_id] = takes.get(line.target_id, Decimal(0)) + line.amount
			if problem:
				finish_pay(
					self.ctx, pay, Outcome(Status.FAILED, problem, ErrorClass.VALIDATION, action="Check")
				)
			elif waiting:
				self._wait(pay, waiting)
			else:
				for target_id, amount in takes.items():
					start = due.get(target_id)
					if start is None:
						record = records[target_id]
						start = Decimal(
							(record.remaining_credit if record.kind.is_credit_note else record.amount_due)
							or 0
						)
					due[target_id] = start - amount
				ok.append(pay)
		return adopted_all + ok

	def _deleting(self) -> dict[str, list[str]]:
		"""Xero document ID -> the cancelled Payment Entries whose payments on it are still to be deleted."""
		out: dict[str, list[str]] = {}
		for r in self.ctx.journal.db.query(DELETIONS_PENDING_SQL, {"tenant_id": self.ctx.tenant_id}):
			identity = (
				json.loads(r["sent_identity"]) if isinstance(r["sent_identity"], str) else r["sent_identity"]
			)
			entry = r["reference_name"] or r["deleted_reference"] or r["name"]
			for line in (identity or {}).get("payments") or []:
				out.setdefault(line.get("target_id"), []).append(entry)
		return out

	def _read_targets(self, lines: list[PaymentLine]) -> dict:
		"""What Xero holds now for the documents `lines` pay: one GET by number per kind (fifty numbers fit a
		URL, fifty IDs do not), then by ID for any not found that way (renumbered in Xero)."""
		records = {}
		by_kind: dict[Kind, dict[str, str]] = {}
		for line in lines:
			by_kind.setdefault(line.target_kind, {})[line.target_id] = line.target_number
		for kind, ids in sorted(by_kind.items()):
			found = self.ctx.call(
				self.ctx.gateway.find_documents, self.ctx.tenant_id, kind, sorted(set(ids.values()))
			)
			records.update({r.xero_id: r for r in found if r.xero_id in ids})
			missing = sorted(set(ids) - set(records))
			if missing:
				for r in self.ctx.call(self.ctx.gateway.get_documents, self.ctx.tenant_id, kind, missing):
					records[r.xero_id] = r
		return records

	def _send(self, pays: list[Pay]) -> None:
		to_send = [p for p in pays if p.missing]
		if not to_send:
			return
		marked = self.ctx.gate({p.row.name: (p.generation, p.plan.identity()) for p in to_send})
		for pay in to_send:
			if pay.row.name not in marked:
				finish_pay(
					self.ctx,
					pay,
					Outcome(Status.QUEUED, CHANGED_WHILE_PREPARED),
				)
		to_send = [p for p in to_send if p.row.name in marked]
		for chunk in _chunks(to_send):
			self._put(chunk)

	def _put(self, chunk: list[Pay]) -> None:
		sends = [(p, i) for p in chunk for i in p.missing]
		key = keys.create_key(
			self.ctx.tenant_id,
			PAYMENT,
			[
				(p.row.reference_name, _digest([p.plan.lines[i] for i in p.missing]), p.generation)
				for p in chunk
			],
		)
		names = [p.row.name for p in chunk]
		try:
			results = self.ctx.call(
				self.payments.create_payments,
				self.ctx.tenant_id,
				[p.plan.lines[i].body() for p, i in sends],
				key,
			)
		except XeroError as exc:
			if not exc.may_have_committed:
				self.ctx.journal.unmark_sending(self.ctx.owner, names)
			elif exc.status is not None:
				self.ctx.journal.store_xero_ids(self.ctx.owner, {}, answered=names)
			raise
		for (pay, i), result in zip(sends, results, strict=True):
			if isinstance(result, XeroPayment):
				pay.done[i] = result
			else:
				line = pay.plan.lines[i]
				message = self.ctx.gateway.explain(
					list(result), document=f"{pay.plan.name} on {line.against_name}"
				)
				pay.errors.append(message)
		self.ctx.journal.store_xero_ids(self.ctx.owner, {}, answered=names)

	def _settle(self, pays: list[Pay], cancels: list[Pay]) -> None:
		"""Re-read docstatus after the create: cancelled meanwhile ⇒ delete; otherwise record the outcome."""
		pays = open_pays(self.ctx, pays)
		if not pays:
			return
		statuses = self.ctx.erp.docstatuses([p.row.ref for p in pays])
		for pay in pays:
			if statuses.get(pay.row.ref) == 2:
				cancels.append(pay)
				continue
			made = [p for p in pay.done if p is not None]
			summary = _summary(pay)
			if pay.errors or pay.missing:
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.FAILED,
						" ".join(
							[*pay.errors, summary, "Retry sends only the payments that are not in Xero."]
						),
						ErrorClass.VALIDATION,
						response={"payments": _described(pay)},
						action="Create",
					),
				)
				continue
			outcome = Outcome(
				Status.SYNCED,
				" ".join([summary, *pay.plan.notes]),
				xero_id=made[0].payment_id if made else None,
				xero_number=f"{len(made)} payment{'s' if len(made) != 1 else ''}",
				xero_status="AUTHORISED",
				action="Create",
				request=[line.body() for line in pay.plan.lines],
				response={"payments": _described(pay)},
			)
			if finish_pay(self.ctx, pay, outcome) is Write.CANCELLED:
				cancels.append(pay)  # the Synced write refused itself: a cancel committed while we pushed


class PaymentUndo:
	"""Deletes in Xero the payments of one claim's cancelled Payment Entry rows."""

	def __init__(self, ctx: Context):
		self.ctx = ctx
		self.payments: PaymentGateway = ctx.gateway.payments

	def undo(self, pays: list[Pay]) -> None:
		"""Delete in Xero the payments of cancelled (or deleted) Payment Entries."""
		pays = open_pays(self.ctx, pays)
		if not pays:
			return
		unknown = [p for p in pays if not any(p.done)]
		for pay in unknown:
			if not (pay.row.send_started or pay.row.xero_id):
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.SKIPPED,
						"Cancelled in ERPNext before it was sent; nothing reached Xero.",
						action="Void",
					),
				)
		self._find_sent([p for p in unknown if self.ctx.is_open(p.item)])
		targets = [p for p in open_pays(self.ctx, pays) if any(p.done)]
		if not targets:
			return
		deletable: list[tuple[Pay, XeroPayment]] = []
		blocked: dict[str, list[str]] = {}
		for pay in targets:
			for payment in [p for p in pay.done if p is not None and p.is_live]:
				if payment.reconciled:
					blocked.setdefault(pay.row.name, []).append(
						f"the payment of {shown(payment.amount)} ({payment.payment_id}) is reconciled in Xero"
					)
				elif not (self.ctx.config.void_on_cancel or pay.row.void_confirmed):
					blocked.setdefault(pay.row.name, []).append(
						"automatic voiding is off in Xero Sync Settings"
					)
				else:
					deletable.append((pay, payment))
		allowed = {i.row.name for i in self.ctx.renew([p.item for p in targets])}
		for pay, payment in [d for d in deletable if d[0].row.name in allowed]:
			key = keys.status_key(
				self.ctx.tenant_id, PAYMENT, [(payment.payment_id, "DELETED", pay.row.attempts)]
			)
			result = self.ctx.call(self.payments.delete_payment, self.ctx.tenant_id, payment.payment_id, key)
			if isinstance(result, XeroPayment):
				pay.done[pay.done.index(payment)] = result
			else:
				blocked.setdefault(pay.row.name, []).append(
					f"Xero refused to delete the payment of {shown(payment.amount)} ({'; '.join(result)})"
				)
		for pay in [p for p in targets if p.row.name in allowed]:
			live = [p for p in pay.done if p is not None and p.is_live]
			reasons = blocked.get(pay.row.name)
			if reasons or live:
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.ORPHAN,
						f"{pay.row.document} is cancelled in ERPNext but {len(live)} of its payments are still live in "
						f"Xero: {'; '.join(dict.fromkeys(reasons or ['Xero did not delete them']))}. {NOT_DELETED}",
						xero_id=live[0].payment_id if live else None,
						xero_status="AUTHORISED",
						response={"payments": _described(pay)},
						action="Void",
					),
				)
			else:
				gone = [p for p in pay.done if p is not None]
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.VOIDED,
						f"Cancelled in ERPNext; its {len(gone)} payment{'s' if len(gone) != 1 else ''} deleted in Xero.",
						xero_status="DELETED",
						response={"payments": _described(pay)},
						action="Void",
					),
				)

	def _find_sent(self, pays: list[Pay]) -> None:
		"""Cancelled rows whose payments may be in Xero: look them up by what was sent (the sent identity)."""
		pays = held_pays(self.ctx, pays)
		if not pays:
			return
		sent = {p.row.name: p.row.sent_identity or {} for p in pays}
		references = [sent[p.row.name].get("reference") or p.row.document for p in pays]
		found = self.ctx.call(self.payments.find_payments, self.ctx.tenant_id, references)
		for pay, reference in zip(pays, references, strict=True):
			lines = sent[pay.row.name].get("payments") or []
			mine = [f for f in found if f.reference == reference]
			if lines:
				pay.done = match_lines(lines, mine)
			else:
				# Nothing sent on this row: the row that sent them was cleared by Log Settings before the cancel
				# (queue_void_of_cleared, without a Xero ID). Every payment the entry made carries its name as Reference.
				pay.done = [f for f in mine if f.is_live]
			if any(pay.done):
				continue
			if self.ctx.may_be_in_flight(pay.item):
				self.ctx.wait_for_in_flight(pay.item)
			elif pay.row.xero_id:
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.VOIDED,
						"Cancelled in ERPNext; its payments were already deleted in Xero.",
						xero_status="DELETED",
						action="Void",
					),
				)
			else:
				finish_pay(
					self.ctx,
					pay,
					Outcome(
						Status.SKIPPED,
						"Cancelled in ERPNext; the interrupted attempt never reached Xero, so nothing to delete.",
						action="Void",
					),
				)


def _chunks(pays: list[Pay]) -> list[list[Pay]]:
	"""Rows grouped so a PUT carries at most 50 payments (an entry's payments never split)."""
	chunks, current, size = [], [], 0
	for pay in pays:
		n = len(pay.missing)
		if current and size + n > MAX_PER_CALL:
			chunks.append(current)
			current, size = [], 0
		current.append(pay)
		size += n
	if current:
		chunks.append(current)
	return chunks


def _digest(lines: list[PaymentLine]) -> str:
	canonical = json.dumps(
		[line.body() for line in lines], sort_keys=True, default=str, separators=(",", ":")
	)
	return hashlib.sha256(canonical.encode()).hexdigest()


def _described(pay: Pay) -> list[dict]:
	out = []
	for i, line in enumerate(pay.plan.lines if pay.plan else []):
		payment = pay.done[i] if i < len(pay.done) else None
		out.append(
			{
				"against": line.against_name,
				"amount": str(line.amount),
				"payment_id": payment.payment_id if payment else None,
				"status": payment.status if payment else None,
			}
		)
	if not out:
		out = [
			{"payment_id": p.payment_id, "amount": str(p.amount), "status": p.status} for p in pay.done if p
		]
	return out


def _summary(pay: Pay) -> str:
	made = [(pay.plan.lines[i], p) for i, p in enumerate(pay.done) if p is not None]
	if not made:
		return "No payment of it is in Xero yet."
	parts = [f"{shown(line.amount)} on {line.against_name}" for line, _ in made]
	adopted = (
		f" ({pay.adopted} found from an earlier, interrupted attempt; not sent again)" if pay.adopted else ""
	)
	return f"In Xero as {len(made)} payment{'s' if len(made) != 1 else ''}: {', '.join(parts)}{adopted}."


__all__ = ["PAYMENT", "PAYMENT_ENTRY", "WAITING_PREFIX", "PaymentGateway", "PaymentSource", "PaymentsOut"]

PAYMENTS_OUT = PaymentsOut()
