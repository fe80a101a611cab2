"""The drain's generic machinery for one claim: leases, calls, outcomes and the failure policy.

A row kind (sync/kinds/) gets a `DrainContext` and uses only its public face: `held` right before a call,
`call` to make it, `finish` to record an outcome (it says why a write was refused), `load` and `org` to read
ERPNext and the organisation, `gate` for the write-ahead marker before a create, `renew` before a change
that needs no marker, and `may_be_in_flight`/`wait_for_in_flight` when a lookup misses. When a whole call
fails, `run` puts the rest of the claim back by one policy (retried, waited or Failed), whatever the kind.

A worker that loses a row's lease (it stalled, its clock or network froze) learns it at its next journal
write and drops the row: it never calls Xero for it again and discards any request it built for it. Only a
refusal that says "cancelled" leads to an undo.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import batching
from ..config import SyncConfig
from ..errors import XeroError, trace_of
from ..kinds.protocol import CHANGED_WHILE_PREPARED, Item, KindRegistry
from ..model import ErrorClass, Outcome, Status, SyncRow, Write
from ..ports import ErpSource, Journal, MasterData, XeroGateway

LEASE_SECONDS = 120  # well above the gateway's read timeout, so a live request never outlives its lease
# Share of the lease, from the send gate, within which a create request must have left (else dropped).
SEND_WITHIN = 0.5
MAX_BACKOFF_SECONDS = 3600
# An unexpected failure (a bug or malformed data, not a Xero answer) is tried this often, then Failed.
UNEXPECTED_ATTEMPTS = 3


@dataclass
class DrainReport:
	"""What a drain did, for logs and benchmarks."""

	batches: int = 0
	claimed: int = 0
	synced: int = 0
	adopted: int = 0
	failed: int = 0
	voided: int = 0
	skipped: int = 0
	orphaned: int = 0
	requeued: int = 0
	calls: int = 0
	stopped_by: str = ""
	more: bool = False  # max_batches was used up with rows still claimable
	held: bool = False  # the hold's pause gave up waiting for a batch to fill

	def count(self, outcome: Outcome) -> None:
		attr = {
			Status.SYNCED: "synced",
			Status.FAILED: "failed",
			Status.VOIDED: "voided",
			Status.SKIPPED: "skipped",
			Status.ORPHAN: "orphaned",
			Status.QUEUED: "requeued",
		}[outcome.status]
		setattr(self, attr, getattr(self, attr) + 1)


class StopDrain(Exception):
	"""The organisation cannot take more calls now (rate limit, outage, broken connection)."""


class DrainContext:
	"""One organisation's drain: the ports, the report, and the claim in hand (`run` per claim). Kinds see
	it as kinds.protocol.Context."""

	def __init__(
		self,
		tenant_id: str,
		*,
		journal: Journal,
		erp: ErpSource,
		masters: MasterData,
		gateway: XeroGateway,
		config: SyncConfig,
		org,
		mapper: Callable,
		report: DrainReport,
		kinds: KindRegistry,
	):
		self.tenant_id = tenant_id
		self.journal = journal
		self.erp = erp
		self.masters = masters
		self.gateway = gateway
		self.config = config
		self.mapper = mapper
		self.report = report
		self.kinds = kinds
		self._org = org
		self.owner = ""
		self.calls = 0
		self.pending: dict[str, Item] = {}
		self.adopted: set[str] = set()  # Xero IDs this claim has taken for a row
		self._in_call: set[str] = set()  # the rows the current Xero call is made for

	# -- the claim ------------------------------------------------------------------------------

	def run(self, owner: str, rows: list[SyncRow]) -> None:
		"""Hand each registered kind its rows of the claim, in the registry's order."""
		self.owner = owner
		self.calls = 0
		self.pending = {r.name: Item(r) for r in rows}
		self.adopted = set()
		self._in_call = set()
		groups = self.kinds.group([self.pending[r.name] for r in rows], key=lambda i: i.row)
		try:
			for kind, items in groups:
				kind.push(self, items)
		except XeroError as exc:
			# A whole call failed: everything still open in this claim is retried or failed by policy.
			self._requeue_open(exc)
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise StopDrain(exc.error_class.value) from exc
		except Exception as exc:
			# A bug or malformed data, not an answer from Xero: recorded with its trace, retried a little,
			# then Failed; never left to expire the lease again and again.
			self._requeue_open(
				XeroError(
					f"Unexpected problem while pushing ({type(exc).__name__}: {str(exc)[:200]}).",
					error_class=ErrorClass.UNEXPECTED,
					may_have_committed=True,
					trace=trace_of(exc),
				),
				everyone=True,
			)

	def is_open(self, item: Item) -> bool:
		"""Whether the row is still this claim's to settle (not finished, lease not lost)."""
		return item.row.name in self.pending

	def open(self, items: Sequence[Item]) -> list[Item]:
		return [i for i in items if i.row.name in self.pending]

	def drop(self, item: Item) -> None:
		"""Let go of a row for good (another worker may own it now)."""
		self.pending.pop(item.row.name, None)

	# -- leases and calls -----------------------------------------------------------------------

	def held(self, items: Sequence[Item]) -> list[Item]:
		"""Renew the claim's leases right before a call; rows whose lease is gone are dropped for good
		(another worker may hold them now), and the call is built only for what is still ours."""
		held = self.journal.renew(self.owner, list(self.pending), LEASE_SECONDS)
		for name in set(self.pending) - held:
			self.pending.pop(name)
		items = [i for i in items if i.row.name in self.pending]
		self._in_call = {i.row.name for i in items}
		return items

	def renew(self, items: Sequence[Item]) -> list[Item]:
		"""Renew only these rows' leases before a change that needs no marker (an undo: a cancel is never
		withdrawn, so holding the lease is the whole gate); the rows not held are dropped for good."""
		allowed = self.journal.renew(self.owner, [i.row.name for i in items], LEASE_SECONDS)
		for item in items:
			if item.row.name not in allowed:
				self.pending.pop(item.row.name, None)
		return [i for i in items if i.row.name in allowed]

	def calling_for(self, items: Sequence[Item]) -> None:
		"""Charge a failure of the next call to these rows (the rest of the claim is put back untouched)."""
		self._in_call = {i.row.name for i in items}

	def call(self, fn, *args, **kwargs):
		"""Make one Xero call (the caller built it from rows `held` just confirmed). A call the rate governor
		held back before it left is not counted: Xero got nothing."""
		self.calls += 1
		self.report.calls += 1
		try:
			result = fn(*args, **kwargs)
		except XeroError as exc:
			if exc.held_back:
				self.calls -= 1
				self.report.calls -= 1
			raise
		self._in_call = set()
		return result

	def gate(self, sends: dict[str, tuple[int, dict]]) -> set[str]:
		"""The gate before a create: commit the write-ahead marker for the rows still ours and not cancelled
		(Journal.mark_sending); return the names that may be sent now."""
		return self.journal.mark_sending(self.owner, sends, LEASE_SECONDS)

	def gate_items(self, items: Sequence[Item], generations: dict[str, int]) -> list[Item]:
		"""The gate for items whose payload goes as it is: the rows still ours and not cancelled are marked
		and returned; the others go back to the queue (lost the lease, or a cancel arrived before anything
		left: the next claim settles it)."""
		marked = self.gate({i.row.name: (generations[i.row.name], i.payload.identity()) for i in items})
		for item in items:
			if item.row.name not in marked:
				self.finish(item, Outcome(Status.QUEUED, CHANGED_WHILE_PREPARED))
		return [i for i in items if i.row.name in marked]

	def send_in_batches(
		self,
		items: Sequence[Item],
		sizes: Sequence[int],
		generations: dict[str, int],
		put: Callable[[list[Item], float], list[Item]],
		fail_too_large: Callable[[Item, int | None], None],
	) -> list[Item]:
		"""Create `items` in batches under Xero's request cap (their wire `sizes`); return the items now in
		Xero. An item too large for any request fails before any call. Each batch is gated and handed to
		`put` with its send deadline; `put` makes the call and, when it fails, clears what the failure
		leaves (a 413 leaves nothing in flight) and raises. A batch Xero refuses as too large (HTTP 413,
		nothing saved) goes again as two halves, down to one item, which then fails as too large: never
		retried whole."""
		size_of = {i.row.name: size for i, size in zip(items, sizes, strict=True)}
		too_large, batches = batching.split_by_size(items, sizes)
		for item, size in too_large:
			fail_too_large(item, size)
		sent: list[Item] = []
		for batch in batches:
			sent += self._send_batch(batch, generations, put, fail_too_large, size_of)
		return sent

	def _send_batch(self, batch, generations, put, fail_too_large, size_of) -> list[Item]:
		batch = self.open(batch)
		if not batch:
			return []
		to_send = self.gate_items(batch, generations)
		# The request must leave while the lease the gate just renewed is surely ours: a worker frozen
		# past this moment drops it unsent (the transport checks right before the socket).
		send_by = self.send_deadline()
		if not to_send:
			return []
		try:
			return put(to_send, send_by)
		except XeroError as exc:
			if not exc.too_large:
				raise
			if len(to_send) == 1:
				fail_too_large(to_send[0], size_of.get(to_send[0].row.name))
				return []
			first, second = batching.halves(to_send)
			return self._send_batch(first, generations, put, fail_too_large, size_of) + self._send_batch(
				second, generations, put, fail_too_large, size_of
			)

	def send_deadline(self) -> float:
		"""When (time.monotonic()) a request gated just now must have left: while the lease the gate renewed
		is surely ours, so a worker frozen past it drops the request unsent (the transport checks right
		before the socket)."""
		return time.monotonic() + LEASE_SECONDS * SEND_WITHIN

	# -- outcomes -------------------------------------------------------------------------------

	def finish(
		self, item: Item, outcome: Outcome, *, reference: str | None = None, with_erp_change: bool = False
	) -> Write:
		"""Record an outcome for a row still in this claim; say why when it was refused. `reference`: the
		ERP document the row now stands for (a Payment Entry made for a Xero payment). `with_erp_change`:
		the caller changed ERPNext in the open transaction for this outcome, so both are one unit of work
		(ports.UnitOfWork): committed together, or rolled back together when the write is refused."""
		if item.row.name not in self.pending:
			return Write.LEASE_LOST
		outcome.calls = outcome.calls or self.calls
		if outcome.request is None and item.payload is not None and outcome.status != Status.SYNCED:
			outcome.request = item.payload.body
		outcome.title = outcome.title or self.kinds.kind_of(item.row).title(item.row, outcome, reference)
		if with_erp_change:
			result = self.journal.unit_of_work().commit(self.owner, item.row, outcome, reference=reference)
		else:
			link = {} if reference is None else {"reference": reference}
			result = self.journal.finish(self.owner, item.row, outcome, **link)
		if result is Write.DONE:
			self.pending.pop(item.row.name)
			self.report.count(outcome)
		elif result is Write.LEASE_LOST:
			self.pending.pop(item.row.name)  # another worker owns it now: never touch it again
		return result

	# -- reading ERPNext and the organisation ---------------------------------------------------

	def org(self):
		"""The organisation facts for the pre-flight: given, or resolved once per drain by a callable
		(the Frappe layer passes one that caches /Organisation and /Currencies for hours)."""
		if callable(self._org):
			self._org = self._org()
		return self._org

	def load(self, item: Item) -> dict | None:
		"""The ERP document, or None when it was deleted. A deleted document that never reached Xero is
		Skipped here; one that may be in Xero is left to the caller, which settles it like a cancel. A
		detached row (its document deleted) never loads by name: the name may belong to a new document."""
		row = item.row
		if row.reference_name:
			try:
				return self.erp.load(row.reference_doctype, row.reference_name)
			except LookupError:
				pass
		if not (row.xero_id or row.send_started):
			self.finish(
				item,
				Outcome(
					Status.SKIPPED,
					f"{row.reference_doctype} {row.document} was deleted in ERPNext before anything was sent to "
					"Xero; nothing to do.",
					action="Void",
				),
			)
		return None

	# -- in flight is not absent ----------------------------------------------------------------

	def adopt_or_wait(
		self,
		items: Sequence[Item],
		found: Sequence[Any],
		match: Callable[[Item, list[Any]], Any],
		generations: dict[str, int],
	) -> list[Item]:
		"""Rows whose earlier create may have reached Xero, after one lookup (`found`): each adopts the
		record `match` picks among those no row of this claim took (its ID stored at once), waits while an
		earlier request may still land, or is proven absent and gets a fresh key (never Xero's cached
		answer). Returns the items adopted."""
		adopted: dict[str, Any] = {}
		in_xero: list[Item] = []
		for item in [i for i in items if self.is_open(i)]:
			record = match(item, [r for r in found if r.xero_id not in self.adopted])
			if record:
				self.adopted.add(record.xero_id)
				item.record = record
				item.notes.append("Already in Xero from an earlier, interrupted attempt; not sent again.")
				adopted[item.row.name] = record
				in_xero.append(item)
			elif self.may_be_in_flight(item):
				self.wait_for_in_flight(item)
			else:
				generations[item.row.name] += 1
		self.journal.store_xero_ids(self.owner, adopted)
		return in_xero

	def may_be_in_flight(self, item: Item) -> bool:
		"""Whether an earlier create request of this row could still commit in Xero."""
		age = item.row.sent_age
		return age is not None and age < self.config.in_flight_seconds

	def wait_for_in_flight(self, item: Item) -> None:
		"""A lookup missed while an earlier request may still land: wait, and look again, never resend."""
		wait = self.config.in_flight_seconds - (item.row.sent_age or 0)
		self.finish(
			item,
			Outcome(
				Status.QUEUED,
				f"An earlier request for {item.row.document} may still reach Xero (sent "
				f"{int(item.row.sent_age or 0)} s ago) and Xero does not show it yet. Nothing is sent again: "
				f"Xero is looked at again in {int(wait) + 1} s.",
				ErrorClass.TRANSIENT,
				retry_in=wait + 1,
				action="Check",
				counted=False,
			),
		)

	# -- failure policy -------------------------------------------------------------------------

	def _requeue_open(self, exc: XeroError, everyone: bool = False) -> None:
		"""The failure is charged to the rows the failing call was made for (all open rows when it came from
		outside a call); the other rows of the claim go back to the queue untouched and uncharged."""
		charged = set(self.pending) if everyone or not self._in_call else self._in_call
		if not everyone:
			# A kind that records in ERPNext what Xero holds calls Xero only to read: a failure outside its own
			# read is not its own. Its `response` holds what Xero listed, which an error must never overwrite
			# (see below).
			charged = {
				n
				for n in charged
				if n in self._in_call or self.kinds.kind_of(self.pending[n].row).writes_to_xero
			}
		for item in list(self.pending.values()):
			if item.row.name not in charged:
				retry_in = max(1.0, exc.retry_after or 0) if exc.error_class == ErrorClass.RATE_LIMITED else 0
				self.finish(
					item,
					Outcome(
						Status.QUEUED,
						"Put back untouched: a call for other documents of its batch failed.",
						retry_in=retry_in,
						counted=False,
						action="Check",
					),
				)
				continue
			outcome = self._failure_outcome(item, exc)
			if self.kinds.kind_of(item.row).writes_to_xero:
				outcome.response = {"error": exc.detail} if exc.detail else None
			self.finish(item, outcome)

	def _failure_outcome(self, item: Item, exc: XeroError) -> Outcome:
		attempts = item.row.attempts
		if exc.error_class == ErrorClass.RATE_LIMITED:
			retry_in = max(1.0, exc.retry_after or 60)
		elif exc.error_class == ErrorClass.CONNECTION:
			retry_in = 15 * 60
		else:
			retry_in = min(MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, attempts - 1))
		if exc.error_class == ErrorClass.UNEXPECTED:
			if attempts >= UNEXPECTED_ATTEMPTS:
				outcome = Outcome(Status.FAILED, _unexpected_gave_up(exc, attempts), exc.error_class)
			else:
				outcome = Outcome(
					Status.QUEUED,
					f"{exc.message} It will be tried again; the technical trace is in the linked Error Log.",
					exc.error_class,
					retry_in=retry_in,
				)
			outcome.trace = exc.trace
			return outcome
		if not (exc.is_retryable or exc.error_class == ErrorClass.CONNECTION):
			return Outcome(Status.FAILED, exc.message, exc.error_class)
		if (
			exc.error_class == ErrorClass.TRANSIENT
			and attempts >= self.config.max_attempts
			and not (item.row.cancel_requested or item.row.deleted_reference)
		):
			# A push gives up (nothing is in Xero, the row says so); an undo never does while Xero is only
			# unreachable: its row stays Queued (shown Stuck) rather than leave a live copy behind a
			# Failed row.
			return Outcome(Status.FAILED, _gave_up(exc, attempts), ErrorClass.TRANSIENT)
		# Held back by the rate governor before anything left: a wait, not an attempt that made a call.
		return Outcome(
			Status.QUEUED, exc.message, exc.error_class, retry_in=retry_in, counted=not exc.held_back
		)


def _gave_up(exc: XeroError, attempts: int) -> str:
	return (
		f"Xero did not accept the request after {attempts} attempts ({exc.message}). Nothing is lost: "
		"press Retry when Xero is reachable again."
	)


def _unexpected_gave_up(exc: XeroError, attempts: int) -> str:
	return (
		f"{exc.message} It failed the same way {attempts} times, so it is not tried again on its own: the "
		"technical trace is in the linked Error Log. Nothing is lost: fix the cause (often a malformed field on "
		"the document), then press Retry."
	)
