"""The manual-journal kind: a submitted Journal Entry becomes a POSTED Manual Journal; a cancel voids it.

One Xero Sync Log row per Journal Entry (xero_type MANUALJOURNAL), through the drain's context like every
kind. For each claim:
  1. rows flagged by a cancel, or whose entry is cancelled or deleted, go to the undo; a row that already
     holds a Xero ID (an attempt died after storing it) is only settled;
  2. entries ERPNext made for what the connector already sends, or that the company does not send, are
     Skipped with the reason (manual_journal_mapping.skip_reason); the rest are mapped and pre-flighted;
  3. rows whose write-ahead marker says an earlier attempt may have reached Xero are looked up (one listing
     for the batch: their dates, changed since the earliest send, matched by our Url marker, date and
     lines); a hit is adopted, a miss proves absence only once no earlier request can still land (else the
     row waits), and then the key generation moves;
  4. the gate commits the marker, then one PUT /ManualJournals creates the rest under a deterministic key;
  5. each Xero ID is stored at once, docstatus is re-read, and entries cancelled meanwhile are voided.
Undo: the journal (by its stored ID, else found by what the row sent) is VOIDED (a draft DELETED) in one
POST for the claim; one Xero refuses stays an Orphan with the reason and the Void in Xero button.

A fresh backlog costs one PUT per fifty Journal Entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .. import batching, keys
from ..errors import MappingError, XeroError
from ..journal import LOG_TABLE
from ..manual_journal_mapping import (
	JOURNAL_ENTRY,
	MANUAL_JOURNAL,
	POSTED,
	ManualJournalRecord,
	as_date,
	build_manual_journal,
	is_sent_journal,
	skip_reason,
)
from ..model import ErrorClass, Outcome, Status, SyncRow, Write
from .protocol import Context, Item

# Xero's clock and ours may disagree: a lookup reaches this much further back than the earliest send.
CLOCK_MARGIN = timedelta(hours=1)
GONE = ("VOIDED", "DELETED")
NAME_REUSE_WAIT_SECONDS = 30
# Another row of an entry with this name still on its way (its journal's ID may not be held yet).
NAME_REUSED_SQL = f"""
SELECT name FROM {LOG_TABLE}
WHERE reference_doctype = '{JOURNAL_ENTRY}' AND reference_name = %(name)s AND name != %(row)s
	AND status = 'Queued' AND cancel_requested = 0
LIMIT 1
"""


class ManualJournals:
	"""Each submitted Journal Entry as one POSTED Manual Journal in Xero; a cancel voids it there."""

	name = "manual journals"
	xero_types = (MANUAL_JOURNAL,)
	doctypes = (JOURNAL_ENTRY,)
	writes_to_xero = True
	waits_for_invoices = False
	# Xero's page of a manual journal (the path its web app uses; not in Xero's deep-link guide).
	link_paths = {MANUAL_JOURNAL: "/Journal/View.aspx?invoiceID="}

	def title(self, row: SyncRow, outcome: Outcome, reference: str | None) -> None:
		"""The journal's words for a document's row."""
		return None

	def push(self, ctx: Context, items: list[Item]) -> None:
		"""Push the claim's entries, then void those cancelled (before or while they were pushed)."""
		voids = [i for i in items if i.row.cancel_requested]
		JournalPush(ctx).push([i for i in items if not i.row.cancel_requested], voids)
		self.undo(ctx, voids)

	def undo(self, ctx: Context, items: list[Item]) -> None:
		"""Void in Xero the manual journals of cancelled (or deleted) Journal Entries."""
		JournalUndo(ctx).undo([i for i in items if ctx.is_open(i)])


class JournalPush:
	"""Pushes one claim's Journal Entry rows through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx

	def push(self, pushes: list[Item], voids: list[Item]) -> None:
		ready: list[Item] = []
		to_create: list[Item] = []
		for item in pushes:
			item.doc = self.ctx.load(item)
			if item.doc is None:
				if self.ctx.is_open(item):
					voids.append(item)  # deleted in ERPNext but maybe in Xero: settled like a cancel
				continue
			if item.doc.get("docstatus") == 2:
				voids.append(item)
			elif item.row.xero_id:
				# Created by an attempt that died after storing the ID but before recording its outcome.
				item.record = ManualJournalRecord(item.row.xero_id, item.row.xero_status or POSTED)
				item.notes.append("Found the Xero ID stored by an interrupted attempt; nothing sent again.")
				ready.append(item)
			elif self._mapped(item):
				to_create.append(item)
		ready += self._create(to_create)
		self._settle(ready, voids)

	def _mapped(self, item: Item) -> bool:
		"""Skip what must not go, map and pre-flight the rest; False when the row is finished here."""
		doc, row, config = item.doc, item.row, self.ctx.config
		reason = skip_reason(doc, config)
		if reason is None and not config.sends_journal_entries(row.company):
			reason = (
				f"{row.document} is not sent: Send Journal Entries is off for {row.company} in Xero Sync "
				"Settings."
			)
		if reason:
			self.ctx.finish(item, Outcome(Status.SKIPPED, reason, action="Check"))
			return False
		try:
			item.payload = build_manual_journal(doc, config=config, org=self.ctx.org())
		except MappingError as exc:
			self.ctx.finish(item, Outcome(Status.FAILED, str(exc), ErrorClass.MAPPING, action="Check"))
			return False
		item.notes += list(item.payload.notes)
		return True

	def _create(self, group: list[Item]) -> list[Item]:
		"""Adopt what an earlier attempt already created, create the rest; return the items now in Xero."""
		generations = {i.row.name: i.row.key_generation for i in group}
		in_xero: list[Item] = []
		maybe_sent = [i for i in group if i.row.send_started]
		if maybe_sent:
			found = lookup(self.ctx, maybe_sent)

			def sent_journal(
				item: Item, free_records: list[ManualJournalRecord]
			) -> ManualJournalRecord | None:
				identity = item.row.sent_identity or item.payload.identity()
				return next((r for r in free_records if is_sent_journal(identity, r)), None)

			in_xero += self.ctx.adopt_or_wait(maybe_sent, found, sent_journal, generations)
		to_send = [i for i in group if i not in in_xero and self.ctx.is_open(i)]
		if not to_send:
			return in_xero
		# Batches close at 50 journals or at the byte budget under Xero's 3.5 MB cap, as invoices' do.
		measured = self.ctx.gateway.manual_journals.wire_sizes([i.payload.body for i in to_send])
		return in_xero + self.ctx.send_in_batches(
			to_send,
			measured,
			generations,
			lambda batch, send_by: self._put(batch, generations, send_by),
			self._fail_too_large,
		)

	def _fail_too_large(self, item: Item, size: int | None) -> None:
		message = batching.too_large_message(
			item.row.reference_doctype, item.row.document, size, "split it into smaller Journal Entries"
		)
		self.ctx.finish(item, Outcome(Status.FAILED, message, ErrorClass.VALIDATION, action="Check"))

	def _put(self, to_send: list[Item], generations: dict[str, int], send_by: float) -> list[Item]:
		"""One PUT for the gated rows; store each Xero ID at once."""
		self.ctx.calling_for(to_send)
		# Keyed by the log row, not the entry's name: an entry reusing a deleted one's name must not get
		# Xero's cached answer for the old, since voided, journal.
		key = keys.create_key(
			self.ctx.tenant_id,
			MANUAL_JOURNAL,
			[(i.row.name, i.payload.digest(), generations[i.row.name]) for i in to_send],
		)
		names = [i.row.name for i in to_send]
		try:
			results = self.ctx.call(
				self.ctx.gateway.manual_journals.create_journals,
				self.ctx.tenant_id,
				[i.payload.body for i in to_send],
				key,
				send_by=send_by,
			)
		except XeroError as exc:
			if exc.too_large or not exc.may_have_committed:
				# refused before it left, or for its size before Xero read it: nothing is in flight
				self.ctx.journal.unmark_sending(self.ctx.owner, names)
			elif exc.status is not None:
				self.ctx.journal.store_xero_ids(self.ctx.owner, {}, answered=names)
			raise
		created, made = {}, []
		for item, result in zip(to_send, results, strict=True):
			if isinstance(result, ManualJournalRecord):
				item.record = result
				created[item.row.name] = result
				made.append(item)
			else:
				message = self.ctx.gateway.explain(list(result), document=item.row.document)
				self.ctx.finish(
					item,
					Outcome(
						Status.FAILED,
						f"{message} Fix it, then press Retry.",
						ErrorClass.VALIDATION,
						response={"errors": list(result)},
					),
				)
		self.ctx.journal.store_xero_ids(self.ctx.owner, created, answered=names)
		return made

	def _settle(self, ready: list[Item], voids: list[Item]) -> None:
		"""Re-read docstatus after the create: cancelled meanwhile ⇒ void; otherwise record Synced."""
		ready = [i for i in ready if self.ctx.is_open(i)]
		if not ready:
			return
		statuses = self.ctx.erp.docstatuses([i.row.ref for i in ready])
		for item in ready:
			if statuses.get(item.row.ref) == 2:
				voids.append(item)
				continue
			outcome = Outcome(
				Status.SYNCED,
				" ".join(item.notes) or "Sent to Xero as a posted manual journal.",
				xero_id=item.record.xero_id,
				xero_status=item.record.status,
				action="Create",
				request=item.payload.body if item.payload else None,
			)
			if self.ctx.finish(item, outcome) is Write.CANCELLED:
				voids.append(item)  # the Synced write refused itself: a cancel committed while we pushed


class JournalUndo:
	"""Voids in Xero the manual journals of one claim's cancelled Journal Entry rows."""

	def __init__(self, ctx: Context):
		self.ctx = ctx

	def undo(self, items: list[Item]) -> None:
		for item in [i for i in items if not (i.record or i.row.xero_id)]:
			if not item.row.send_started:
				self._skip(item, "Cancelled in ERPNext before it was sent; nothing reached Xero.")
		self._find_sent([i for i in items if self.ctx.is_open(i) and not (i.record or i.row.xero_id)])
		targets = [i for i in items if self.ctx.is_open(i) and (i.record or i.row.xero_id)]
		changes: dict[str, tuple[str, str, str]] = {}
		for item in targets:
			journal_id, status = _journal_of(item)
			if status in GONE:
				self._voided(
					item, status, "Cancelled in ERPNext; its manual journal was already void in Xero."
				)
			elif not (self.ctx.config.void_on_cancel or item.row.void_confirmed):
				self._orphan(item, journal_id, "automatic voiding is off in Xero Sync Settings")
			else:
				new = "DELETED" if status == "DRAFT" else "VOIDED"
				changes[item.row.name] = (journal_id, _narration(item), new)
		allowed = self.ctx.renew([i for i in targets if i.row.name in changes])
		if not allowed:
			return
		key = keys.status_key(
			self.ctx.tenant_id,
			MANUAL_JOURNAL,
			[(changes[i.row.name][0], changes[i.row.name][2], i.row.attempts) for i in allowed],
		)
		self.ctx.calling_for(allowed)
		results = self.ctx.call(
			self.ctx.gateway.manual_journals.set_statuses,
			self.ctx.tenant_id,
			[changes[i.row.name] for i in allowed],
			key,
		)
		for item, result in zip(allowed, results, strict=True):
			journal_id = changes[item.row.name][0]
			if isinstance(result, ManualJournalRecord) and result.status in GONE:
				self._voided(item, result.status, "Cancelled in ERPNext; its manual journal voided in Xero.")
			else:
				why = "; ".join(result) if isinstance(result, tuple) else f"it is still {result.status}"
				self._orphan(item, journal_id, f"Xero did not void it ({why})")

	def _find_sent(self, items: list[Item]) -> None:
		"""Cancelled rows whose journal may be in Xero without a stored ID: look it up by what was sent."""
		items = [i for i in items if i.row.sent_identity]
		for item in [i for i in items if "lines" not in i.row.sent_identity and self._name_reused(i)]:
			# Only the marker is known (its row was cleared): a new entry of the same name, still on its way
			# to Xero, may have a journal with that marker whose ID no row holds yet. Wait for it to settle.
			self.ctx.finish(
				item,
				Outcome(
					Status.QUEUED,
					f"Waiting for the new {item.row.document} to finish syncing before the cancelled one's "
					"journal is looked for.",
					retry_in=NAME_REUSE_WAIT_SECONDS,
					counted=False,
					action="Wait",
				),
			)
		items = [i for i in items if self.ctx.is_open(i)]
		found = lookup(self.ctx, items) if items else []
		for item in [i for i in items if self.ctx.is_open(i)]:
			record = next(
				(
					r
					for r in found
					if r.xero_id not in self.ctx.adopted and is_sent_journal(item.row.sent_identity, r)
				),
				None,
			)
			if record:
				self.ctx.adopted.add(record.xero_id)
				item.record = record
			elif self.ctx.may_be_in_flight(item):
				self.ctx.wait_for_in_flight(item)
			else:
				self._skip(
					item,
					"Cancelled in ERPNext; the interrupted attempt never reached Xero, so nothing to void.",
				)

	def _name_reused(self, item: Item) -> bool:
		"""Whether another row of an entry with this name is still Queued (a name reused after a delete)."""
		return bool(
			self.ctx.journal.db.query(NAME_REUSED_SQL, {"name": item.row.document, "row": item.row.name})
		)

	def _skip(self, item: Item, message: str) -> None:
		self.ctx.finish(item, Outcome(Status.SKIPPED, message, action="Void"))

	def _voided(self, item: Item, status: str, message: str) -> None:
		journal_id, _ = _journal_of(item)
		self.ctx.finish(
			item, Outcome(Status.VOIDED, message, xero_id=journal_id, xero_status=status, action="Void")
		)

	def _orphan(self, item: Item, journal_id: str, why: str) -> None:
		self.ctx.finish(
			item,
			Outcome(
				Status.ORPHAN,
				f"{item.row.document} is cancelled in ERPNext but its manual journal is still posted in Xero: "
				f"{why}. Void it there, or press Void in Xero.",
				xero_id=journal_id,
				xero_status=POSTED,
				action="Void",
			),
		)


def lookup(ctx: Context, items: list[Item]) -> list[ManualJournalRecord]:
	"""One listing for the rows that may have sent a journal: their dates, changed since the earliest of
	their sends, our Url markers; journals another log row holds are left out (never adopted twice)."""
	items = ctx.held(items)
	if not items:
		return []
	idents = [i.row.sent_identity or i.payload.identity() for i in items]
	ages = [i.row.sent_age for i in items]
	since = None
	if all(age is not None for age in ages):
		since = datetime.now(timezone.utc) - timedelta(seconds=max(ages)) - CLOCK_MARGIN
	found = ctx.call(
		ctx.gateway.manual_journals.find_journals,
		ctx.tenant_id,
		[x["url"] for x in idents],
		[as_date(x["date"]) for x in idents],
		since,
	)
	held = ctx.journal.rows_holding([r.xero_id for r in found])
	return [r for r in found if r.xero_id not in held]


def _journal_of(item: Item) -> tuple[str, str]:
	"""The journal's ID and last known status (from this claim, else the row)."""
	if item.record:
		return item.record.xero_id, item.record.status
	return item.row.xero_id, (item.row.xero_status or POSTED).upper()


def _narration(item: Item) -> str:
	"""Xero requires the narration on every element, a status change included."""
	if item.record and item.record.narration:
		return item.record.narration
	sent = item.row.sent_identity or {}
	if sent.get("narration"):
		return sent["narration"]
	return item.payload.body["Narration"] if item.payload else item.row.document


MANUAL_JOURNALS = ManualJournals()
