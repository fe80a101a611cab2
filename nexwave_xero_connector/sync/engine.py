"""The drain: push one organisation's queued documents to Xero in batches, crash-safely.

For each claimed batch:
  1. rows flagged by a cancel go to the void path; rows that already hold a Xero ID are finished;
  2. every document is mapped and pre-flighted (no call is made for a document that would be wrong);
  3. only rows whose write-ahead marker says an earlier attempt may have reached Xero are looked up
     (one batched GET per kind); a hit is adopted, never created again;
     by what was really sent (the row's sent identity), and a miss proves absence only once no earlier
     request can still reach Xero: until then the row waits, it is never created a second time;
  4. the marker is committed through a gate (still ours, not cancelled) right before one batched PUT
     creates the rest under a deterministic key;
  5. each Xero ID is stored at once; then the ERP docstatus is re-read and documents cancelled meanwhile
     are voided; then outcomes are recorded (a Synced outcome refuses itself if a cancel slipped in).
A fresh document therefore costs no lookup at all: one PUT carries up to fifty of them.

A worker that loses a row's lease (it stalled, its clock or network froze) learns it at its next journal
write and drops the row: it never calls Xero for it again and discards any request it built for it. Only a
refusal that says "cancelled" leads to a void.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import keys
from .config import PURCHASE_INVOICE, SyncConfig
from .errors import MappingError, XeroError, trace_of
from .mapping import document_url
from .model import (
	ContactRecord,
	ContactRequest,
	ElementResult,
	ErrorClass,
	Kind,
	Outcome,
	SentIdentity,
	Status,
	SyncRow,
	Write,
	XeroPayload,
	XeroRecord,
)
from .payment_mapping import PAYMENT
from .payment_pull import PULLED
from .ports import ErpSource, Journal, MasterData, XeroGateway

LEASE_SECONDS = 120  # well above the gateway's read timeout, so a live request never outlives its lease
# Share of the lease, from the send gate, within which a create request must have left (else dropped).
SEND_WITHIN = 0.5
MAX_BACKOFF_SECONDS = 3600
# An unexpected failure (a bug or malformed data, not a Xero answer) is tried this often, then Failed.
UNEXPECTED_ATTEMPTS = 3
UNIQUE_NUMBER_ERRORS = ("must be unique",)
CONTACT_TAKEN_ERRORS = ("already assigned to another contact", "must be unique")
REMOVE_PAYMENTS = "Remove the payments or credit allocations in Xero, then press Void in Xero."
# Documents of one endpoint family are created before those that may be allocated against them.
KIND_ORDER = (Kind.SALES_INVOICE, Kind.BILL, Kind.SALES_CREDIT, Kind.BILL_CREDIT)

Mapper = Callable[..., XeroPayload]


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


@dataclass
class _Item:
	"""A row on its way through one batch."""

	row: SyncRow
	doc: dict | None = None
	payload: XeroPayload | None = None
	record: XeroRecord | None = None
	notes: list[str] = field(default_factory=list)


def drain(
	tenant_id: str,
	*,
	journal: Journal,
	erp: ErpSource,
	masters: MasterData,
	gateway: XeroGateway,
	config: SyncConfig,
	org=None,
	max_batches: int | None = None,
	mapper: Mapper | None = None,
) -> DrainReport:
	"""Push the tenant's claimable rows until none is left, a limit stops us, or max_batches is reached."""
	report = DrainReport()
	batch = _Batch(
		tenant_id, journal, erp, masters, gateway, config, org, mapper or _default_mapper(), report
	)
	while max_batches is None or report.batches < max_batches:
		owner = f"{getattr(journal, 'worker', 'drain')}:{uuid.uuid4().hex[:12]}"
		rows = journal.claim(tenant_id, owner, max(1, min(config.batch_size, 50)), LEASE_SECONDS)
		if not rows:
			break
		report.batches += 1
		report.claimed += len(rows)
		try:
			batch.run(owner, rows)
		except StopDrain as stop:
			report.stopped_by = str(stop)
			break
	return report


def _default_mapper() -> Mapper:
	from .mapping import build_payload

	return build_payload


class _Batch:
	"""Processes claimed rows. One instance per drain; `run` per claim."""

	def __init__(self, tenant_id, journal, erp, masters, gateway, config, org, mapper, report):
		self.tenant_id = tenant_id
		self.journal: Journal = journal
		self.erp: ErpSource = erp
		self.masters: MasterData = masters
		self.gateway: XeroGateway = gateway
		self.config: SyncConfig = config
		self.org = org
		self.mapper = mapper
		self.report: DrainReport = report
		self.owner = ""
		self.calls = 0

	# -- plumbing -------------------------------------------------------------------------------

	def run(self, owner: str, rows: list[SyncRow]) -> None:
		self.owner = owner
		self.calls = 0
		self.pending: dict[str, _Item] = {r.name: _Item(r) for r in rows}
		self.adopted: set[str] = set()  # Xero IDs this batch has taken for a row
		self.in_call: set[str] = set()  # the rows the current Xero call is made for
		# A Payment Entry's row (xero_type PAYMENT) is pushed and cancelled by sync/payments.py, after the
		# invoices of the same claim, under this batch's leases, calls and error handling.
		payments = [self.pending[r.name] for r in rows if r.xero_type == PAYMENT]
		# A payment made in Xero (xero_type XERO PAYMENT) is recorded in ERPNext by sync/payment_pull.py,
		# after one read of what Xero has due.
		pulls = [self.pending[r.name] for r in rows if r.xero_type == PULLED]
		rows = [r for r in rows if r.xero_type not in (PAYMENT, PULLED)]
		voids = [self.pending[r.name] for r in rows if r.cancel_requested]
		pushes = [self.pending[r.name] for r in rows if not r.cancel_requested]
		try:
			synced = self.report.synced
			self._push(pushes, voids)
			if self.report.synced > synced:
				self.journal.wake_waiting(self.tenant_id)
			self._void(voids)
			if payments:
				from .payments import run_payments  # imports this module: loaded only when needed

				run_payments(self, payments)
			if pulls:
				from .payment_pull import run_pulls

				run_pulls(self, pulls)
		except XeroError as exc:
			# A whole call failed: everything still open in this batch is retried or failed by policy.
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

	def _held(self, items: Sequence[_Item]) -> list[_Item]:
		"""Renew the batch's leases right before a call; rows whose lease is gone are dropped for good
		(another worker may hold them now), and the call is built only for what is still ours."""
		held = self.journal.renew(self.owner, list(self.pending), LEASE_SECONDS)
		for name in set(self.pending) - held:
			self.pending.pop(name)
		items = [i for i in items if i.row.name in self.pending]
		self.in_call = {i.row.name for i in items}
		return items

	def _call(self, fn, *args, **kwargs):
		"""Make one Xero call (the caller built it from rows `_held` just confirmed)."""
		self.calls += 1
		self.report.calls += 1
		result = fn(*args, **kwargs)
		self.in_call = set()
		return result

	def _finish(self, item: _Item, outcome: Outcome, **link) -> Write:
		"""Record an outcome for a row still in this batch; say why when it was refused. `link`: the
		journal's reference/erp_change, for a row that records a Xero payment in ERPNext."""
		if item.row.name not in self.pending:
			return Write.LEASE_LOST
		outcome.calls = outcome.calls or self.calls
		if outcome.request is None and item.payload is not None and outcome.status != Status.SYNCED:
			outcome.request = item.payload.body
		result = self.journal.finish(self.owner, item.row, outcome, **link)
		if result is Write.DONE:
			self.pending.pop(item.row.name)
			self.report.count(outcome)
		elif result is Write.LEASE_LOST:
			self.pending.pop(item.row.name)  # another worker owns it now: never touch it again
		return result

	def _requeue_open(self, exc: XeroError, everyone: bool = False) -> None:
		"""The failure is charged to the rows the failing call was made for (all open rows when it came from
		outside a call); the other rows of the batch go back to the queue untouched and uncharged."""
		charged = set(self.pending) if everyone or not self.in_call else self.in_call
		if not everyone:
			# A payment made in Xero calls Xero only to read the document it pays: a failure outside that
			# read is not its own. Its `response` holds the payment as Xero listed it, which an error must
			# never overwrite (see below).
			charged = {n for n in charged if n in self.in_call or self.pending[n].row.xero_type != PULLED}
		for item in list(self.pending.values()):
			if item.row.name not in charged:
				retry_in = max(1.0, exc.retry_after or 0) if exc.error_class == ErrorClass.RATE_LIMITED else 0
				self._finish(
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
			elif not (exc.is_retryable or exc.error_class == ErrorClass.CONNECTION):
				outcome = Outcome(Status.FAILED, exc.message, exc.error_class)
			elif (
				exc.error_class == ErrorClass.TRANSIENT
				and attempts >= self.config.max_attempts
				and not (item.row.cancel_requested or item.row.deleted_reference)
			):
				# A push gives up (nothing is in Xero, the row says so); a void never does while Xero is only
				# unreachable: its row stays Queued (shown Stuck) rather than leave a live copy behind a
				# Failed row.
				outcome = Outcome(Status.FAILED, _gave_up(exc, attempts), ErrorClass.TRANSIENT)
			else:
				outcome = Outcome(Status.QUEUED, exc.message, exc.error_class, retry_in=retry_in)
			if item.row.xero_type != PULLED:
				outcome.response = {"error": exc.detail} if exc.detail else None
			self._finish(item, outcome)

	# -- push -----------------------------------------------------------------------------------

	def _push(self, pushes: list[_Item], voids: list[_Item]) -> None:
		to_map: list[_Item] = []
		for item in pushes:
			item.doc = self._load(item)
			if item.doc is None:
				if item.row.name in self.pending:
					voids.append(item)  # deleted in ERPNext but maybe in Xero: settle it like a cancel
				continue
			if item.doc.get("docstatus") == 2 and not item.row.xero_id:
				voids.append(item)
			else:
				to_map.append(item)
		contacts = self._contacts([i for i in to_map if not i.row.xero_id])
		by_kind: dict[Kind, list[_Item]] = {}
		for item in to_map:
			if item.row.name not in self.pending:
				continue
			self._map(item, contacts)
			if item.row.name in self.pending and (item.payload or item.row.xero_id):
				by_kind.setdefault(_kind_of(item.row), []).append(item)
		ready: list[_Item] = []
		for kind in KIND_ORDER:
			if by_kind.get(kind):
				ready += self._create(kind, by_kind[kind])
		self._settle(ready, voids)

	def _org(self):
		"""The organisation facts for the pre-flight: given, or resolved once per drain by a callable
		(the Frappe layer passes one that caches /Organisation and /Currencies for hours)."""
		if callable(self.org):
			self.org = self.org()
		return self.org

	def _load(self, item: _Item) -> dict | None:
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
			self._finish(
				item,
				Outcome(
					Status.SKIPPED,
					f"{row.reference_doctype} {row.document} was deleted in ERPNext before anything was sent to "
					"Xero; nothing to do.",
					action="Void",
				),
			)
		return None

	def _map(self, item: _Item, contacts: dict[tuple[str, str], str | Exception]) -> None:
		"""Build the payload; a row already in Xero only needs it for its allocation, so it cannot fail."""
		doc, row = item.doc, item.row
		party = _party(row.reference_doctype, doc)
		contact = contacts.get(party)
		if row.xero_id:
			contact = contact or self.erp.contact_id(party[0], party[1], self.tenant_id) or ""
		if not row.xero_id and (isinstance(contact, Exception) or contact is None):
			message = str(contact) if contact else f"No Xero contact for {party[0]} {party[1]}."
			self._finish(item, Outcome(Status.FAILED, message, ErrorClass.VALIDATION, action="Contact"))
			return
		against = doc.get("return_against")
		against_id = self.erp.xero_id_of(row.reference_doctype, against) if against else None
		try:
			item.payload = self.mapper(
				doc,
				config=self.config,
				masters=self.masters,
				contact_id=contact,
				org=self._org(),
				against_xero_id=against_id,
			)
		except MappingError as exc:
			if not row.xero_id:
				self._finish(item, Outcome(Status.FAILED, str(exc), ErrorClass.MAPPING, action="Check"))

	def _create(self, kind: Kind, group: list[_Item]) -> list[_Item]:
		"""Adopt what an earlier attempt already created, create the rest; return the items now in Xero."""
		in_xero: list[_Item] = []
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
		adopted: dict[str, XeroRecord] = {}
		maybe_sent = [i for i in group if i.row.send_started]
		if maybe_sent:
			found = self._free(self._lookup(kind, maybe_sent))
			for item in maybe_sent:
				if item.row.name not in self.pending:
					continue
				record = _identity(item).find_in([r for r in found if r.xero_id not in self.adopted])
				if record:
					self.adopted.add(record.xero_id)
					item.record = record
					item.notes.append("Already in Xero from an earlier, interrupted attempt; not sent again.")
					adopted[item.row.name] = record
					in_xero.append(item)
				elif self._may_be_in_flight(item):
					self._wait_for_in_flight(item)
				else:
					generations[item.row.name] += 1  # proven absent: a fresh key, never Xero's cached answer
		self.journal.store_xero_ids(self.owner, adopted)
		to_send = [i for i in group if i not in in_xero and i.row.name in self.pending]
		if not to_send:
			return in_xero
		marked = self.journal.mark_sending(
			self.owner,
			{i.row.name: (generations[i.row.name], i.payload.identity()) for i in to_send},
			LEASE_SECONDS,
		)
		# The request must leave while the lease the gate just renewed is surely ours: a worker frozen
		# past this moment drops it unsent (the transport checks right before the socket).
		send_by = time.monotonic() + LEASE_SECONDS * SEND_WITHIN
		for item in to_send:
			if item.row.name not in marked:
				# Lost the lease (dropped by _finish) or a cancel arrived before anything left: the cancel is
				# settled by the next claim.
				self._finish(
					item, Outcome(Status.QUEUED, "Changed while being prepared; will be looked at again.")
				)
		to_send = [i for i in to_send if i.row.name in marked]
		if not to_send:
			return in_xero
		self.in_call = {i.row.name for i in to_send}
		# Keyed by the log row, not the document name: a new document that reuses a deleted one's name
		# (same content, too, when an accountant re-enters it) must not get Xero's cached answer for the
		# old, since voided, copy.
		key = keys.create_key(
			self.tenant_id,
			kind.value,
			[(i.row.name, i.payload.digest(), generations[i.row.name]) for i in to_send],
		)
		try:
			results = self._call(
				self.gateway.create_documents,
				self.tenant_id,
				kind,
				[i.payload.body for i in to_send],
				key,
				send_by=send_by,
			)
		except XeroError as exc:
			names = [i.row.name for i in to_send]
			if not exc.may_have_committed:
				# Refused before it left (rate governor, 429, connection refused): nothing can be in flight.
				self.journal.unmark_sending(self.owner, names)
			elif exc.status is not None:
				# Xero answered (a 5xx): it may have saved the documents, so the next claim looks first, but
				# nothing is still in flight, so a miss then proves absence without waiting.
				self.journal.store_xero_ids(self.owner, {}, answered=names)
			raise
		created, collided = {}, []
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
		self.journal.store_xero_ids(self.owner, created, answered=[i.row.name for i in to_send])
		return in_xero + self._resolve_clashes(kind, collided)

	def _may_be_in_flight(self, item: _Item) -> bool:
		"""Whether an earlier create request of this row could still commit in Xero."""
		age = item.row.sent_age
		return age is not None and age < self.config.in_flight_seconds

	def _wait_for_in_flight(self, item: _Item) -> None:
		"""A lookup missed while an earlier request may still land: wait, and look again, never resend."""
		wait = self.config.in_flight_seconds - (item.row.sent_age or 0)
		self._finish(
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

	def _lookup(self, kind: Kind, items: list[_Item]) -> list[XeroRecord]:
		"""One batched GET for what these rows sent (or would send)."""
		items = self._held(items)
		if not items:
			return []
		idents = [_identity(i) for i in items]
		numbers = sorted({x.number for x in idents})
		contact_ids = () if kind.number_is_unique else sorted({x.contact_id for x in idents})
		return self._call(self.gateway.find_documents, self.tenant_id, kind, numbers, contact_ids)

	def _free(self, found: list[XeroRecord]) -> list[XeroRecord]:
		"""The documents of a lookup no log row holds and this batch has not taken: only those may be
		adopted, so two rows with the same number, contact and total (a reused name, two identical
		supplier credit notes) never share one copy."""
		held = self.journal.rows_holding([r.xero_id for r in found])
		return [r for r in found if r.xero_id not in held and r.xero_id not in self.adopted]

	def _resolve_clashes(self, kind: Kind, collided: list[_Item]) -> list[_Item]:
		"""Xero says the number exists: adopt it if it is ours, else explain the conflict."""
		if not collided:
			return []
		found = self._lookup(kind, collided)
		adopted = []
		for item in [i for i in collided if i.row.name in self.pending]:
			record = _identity(item).find_in(self._free(found))
			if record:
				self.adopted.add(record.xero_id)
				item.record = record
				item.notes.append(
					"Xero already had this document (an earlier response was lost); adopted it."
				)
				adopted.append(item)
				continue
			self._finish(item, _clash(kind, item, found))
		self.journal.store_xero_ids(self.owner, {i.row.name: i.record for i in adopted})
		return adopted

	def _fail_element(self, item: _Item, result: ElementResult) -> None:
		message = self.gateway.explain(result.errors, document=item.row.document)
		self._finish(
			item,
			Outcome(
				Status.FAILED,
				f"{message} Fix it, then press Retry.",
				ErrorClass.VALIDATION,
				response={"errors": list(result.errors)},
			),
		)

	def _settle(self, ready: list[_Item], voids: list[_Item]) -> None:
		"""Re-read docstatus after the create: cancelled meanwhile ⇒ void; otherwise record Synced."""
		ready = [i for i in ready if i.row.name in self.pending]
		if not ready:
			return
		statuses = self.erp.docstatuses([i.row.ref for i in ready])
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
			if self._finish(item, outcome) is Write.CANCELLED:
				voids.append(item)  # the Synced write refused itself: a cancel committed while we pushed

	def _allocate(self, item: _Item) -> None:
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
			if not self._held([item]):
				return
			fetched = self._call(self.gateway.get_documents, self.tenant_id, record.kind, [record.xero_id])
			record = fetched[0] if fetched else record
		if (
			record.remaining_credit is not None
			and record.total is not None
			and record.remaining_credit < record.total
		):
			return  # allocated by an earlier attempt
		alloc = payload.allocation
		invoice_id = self.erp.xero_id_of(alloc.against_doctype, alloc.against_name)
		if not invoice_id:
			item.notes.append(
				f"Credit left unallocated: {alloc.against_name} is not in Xero yet. Allocate it in Xero once "
				"it is."
			)
			return
		if not self._held([item]):
			return
		try:
			result = self._call(
				self.gateway.allocate_credit,
				self.tenant_id,
				record.kind,
				record.xero_id,
				invoice_id,
				alloc.amount,
				payload.date,
				keys.allocation_key(self.tenant_id, record.xero_id, invoice_id, alloc.amount),
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

	# -- contacts -------------------------------------------------------------------------------

	def _contacts(self, items: list[_Item]) -> dict[tuple[str, str], str | Exception]:
		"""Resolve each party's Xero contact: the cache, then ContactNumber, then name, then create.

		A contact found by name is adopted only when it carries no other party's ContactNumber and the
		name is not shared by another party in ERPNext; otherwise the party gets its own contact under a
		distinct name, "Name (ID)". A whole-call refusal fails only the documents that needed contacts."""
		parties = {_party(i.row.reference_doctype, i.doc) for i in items}
		resolved: dict[tuple[str, str], str | Exception] = {}
		for party in parties:
			cached = self.erp.contact_id(party[0], party[1], self.tenant_id)
			if cached:
				resolved[party] = cached
		missing = sorted(parties - set(resolved))
		if not missing or not self._held(items):
			return resolved
		try:
			found = self._find_or_create_contacts(missing)
		except XeroError as exc:
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise
			return resolved | {p: MappingError(f"{p[0]} {p[1]}: {exc.message}") for p in missing}
		for party in missing:
			resolved[party] = self._contact_result(party, found.get(party))
		return resolved

	def _find_or_create_contacts(self, missing: list[tuple[str, str]]) -> dict:
		by_number = {
			c.contact_number: c
			for c in self._call(self.gateway.find_contacts, self.tenant_id, [p[1] for p in missing])
		}
		found: dict = {p: by_number[p[1]] for p in missing if p[1] in by_number}
		requests = {p: self.erp.contact_request(p[0], p[1]) for p in missing if p not in found}
		if not requests:
			return found
		names = sorted({n for r in requests.values() for n in (r.name, r.distinct_name)})
		by_name = {
			c.name.casefold(): c
			for c in self._call(self.gateway.find_contacts_by_name, self.tenant_id, names)
			if c.status == "ACTIVE"
		}
		to_create = {}
		for party, request in requests.items():
			plain = None if request.name_shared else by_name.get(request.name.casefold())
			if plain is not None and _adoptable(plain, request):
				found[party] = plain
				continue
			name = request.distinct_name if (request.name_shared or plain is not None) else request.name
			same = by_name.get(name.casefold())
			if same is not None and same.contact_number == request.party:
				found[party] = same
			else:
				to_create[party] = replace(request, name=name)
		if not to_create:
			return found
		results = self._call(
			self.gateway.create_contacts,
			self.tenant_id,
			list(to_create.values()),
			keys.contacts_key(self.tenant_id, [p[1] for p in to_create]),
		)
		created = dict(zip(to_create, results, strict=True))
		# Another drain created the same new party's contact a moment ago (its first documents sat in two
		# batches): Xero refuses ours by name or number; the one it has is found by ContactNumber.
		taken = [
			p for p, r in created.items() if isinstance(r, str) and any(s in r for s in CONTACT_TAKEN_ERRORS)
		]
		if taken:
			again = {
				c.contact_number: c
				for c in self._call(self.gateway.find_contacts, self.tenant_id, [p[1] for p in taken])
			}
			created.update({p: again[p[1]] for p in taken if p[1] in again})
		return found | created

	def _contact_result(self, party, found) -> str | Exception:
		if isinstance(found, str) or found is None:
			return MappingError(
				f"Could not create the Xero contact for {party[0]} {party[1]}: {found or 'no answer'}. "
				"Fix the contact in Xero or the party in ERPNext, then press Retry."
			)
		if found.status != "ACTIVE":
			return MappingError(
				f"The Xero contact '{found.name}' for {party[0]} {party[1]} is archived. Restore it in Xero "
				"(Contacts, Archived), then press Retry."
			)
		self.erp.set_contact_id(party[0], party[1], self.tenant_id, found.contact_id)
		return found.contact_id

	# -- void -----------------------------------------------------------------------------------

	def _void(self, voids: list[_Item]) -> None:
		"""Void/delete in Xero what was cancelled in ERPNext; explain what cannot be voided."""
		voids = [i for i in voids if i.row.name in self.pending]
		if not voids:
			return
		unknown = [i for i in voids if not (i.record or i.row.xero_id)]
		for item in unknown:
			if not item.row.send_started:
				self._finish(
					item,
					Outcome(
						Status.SKIPPED,
						"Cancelled in ERPNext before it was sent; nothing reached Xero.",
						action="Void",
					),
				)
		self._find_interrupted([i for i in unknown if i.row.send_started and i.row.name in self.pending])
		targets = [i for i in voids if i.row.name in self.pending and (i.record or i.row.xero_id)]
		by_kind: dict[Kind, list[_Item]] = {}
		for item in targets:
			by_kind.setdefault(_kind_of(item.row), []).append(item)
		for kind, group in by_kind.items():
			self._void_group(kind, group)

	def _find_interrupted(self, items: list[_Item]) -> None:
		"""A cancelled row whose create may have reached Xero: look for what was sent, never for a
		payload rebuilt now (the mapping may have changed, the document may be gone)."""
		by_kind: dict[Kind, list[_Item]] = {}
		for item in items:
			if item.row.sent_identity is None and not self._rebuild_identity(item):
				continue
			by_kind.setdefault(_identity(item).kind, []).append(item)
		for kind, group in by_kind.items():
			found = self._free(self._lookup(kind, group))
			for item in [i for i in group if i.row.name in self.pending]:
				item.record = _identity(item).find_in([r for r in found if r.xero_id not in self.adopted])
				if item.record is not None:
					self.adopted.add(item.record.xero_id)
					continue
				if self._may_be_in_flight(item):
					self._wait_for_in_flight(item)
				else:
					self._finish(
						item,
						Outcome(
							Status.SKIPPED,
							"Cancelled in ERPNext; the interrupted attempt never reached Xero, so nothing to void.",
							action="Void",
						),
					)

	def _rebuild_identity(self, item: _Item) -> bool:
		"""Rows marked before sent identities were recorded: rebuild the payload to look it up."""
		item.doc = item.doc or self._load(item)
		if item.doc is None:
			self._finish(
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
		party = _party(item.row.reference_doctype, item.doc)
		contact = self.erp.contact_id(party[0], party[1], self.tenant_id)
		self._map(item, {party: contact} if contact else {})
		return item.row.name in self.pending and item.payload is not None

	def _own_allocations(self, item: _Item, record: XeroRecord) -> list[str] | None:
		"""What blocks the void, if we put it there: a credit note's allocation to the document it
		reverses is ours (made at push), so a cancelled return takes it back. None: something else blocks."""
		if record.status == "PAID" and not record.kind.is_credit_note:
			return None
		if record.amount_paid or (record.amount_credited and not record.kind.is_credit_note):
			return None
		if not record.allocations:
			return None if record.amount_credited else []
		doc = item.doc or self._load(item)
		against = self.erp.xero_id_of(item.row.reference_doctype, doc.get("return_against")) if doc else None
		if not against or any(invoice_id != against for _, invoice_id, _ in record.allocations):
			return None
		item.notes.append(f"Took back its allocation to {doc.get('return_against')}.")
		return [allocation_id for allocation_id, _, _ in record.allocations]

	def _made_here(self, item: _Item, record: XeroRecord) -> bool:
		"""Only what this app made is voided on a cancel without a person's word. An invoice or bill we sent
		carries this site's Url marker for its document. A credit note has no Url: it is ours unless a
		Backfill adopted it and nothing of ours was ever sent for the row (a row Log Settings cleared keeps no
		such trace, so the credit note the document links to is taken as ours)."""
		if record.kind.is_credit_note or not self.config.site_url:
			return item.row.send_started or not item.row.backfill
		return record.url == document_url(self.config.site_url, item.row.reference_doctype, item.row.document)

	def _void_group(self, kind: Kind, group: list[_Item]) -> None:
		group = self._held(group)
		if not group:
			return
		current = {
			r.xero_id: r
			for r in self._call(
				self.gateway.get_documents, self.tenant_id, kind, [_xero_id(i) for i in group]
			)
		}
		changes: list[tuple[_Item, str, list[str]]] = []
		for item in group:
			record = current.get(_xero_id(item))
			if record is None or not record.is_live:
				self._finish(
					item,
					Outcome(
						Status.VOIDED,
						"Cancelled in ERPNext; already void or deleted in Xero.",
						xero_status=record.status if record else "DELETED",
						action="Void",
					),
				)
			elif not (item.row.void_confirmed or self._made_here(item, record)):
				self._finish(
					item,
					_orphan(
						item,
						record,
						"it was already in Xero when ERPNext was linked to it (adopted by a Backfill or matched by "
						"its number), so this app did not make it and leaves voiding it to a person",
						"Press Void in Xero to void it, or void it in Xero yourself.",
					),
				)
			elif not (self.config.void_on_cancel or item.row.void_confirmed):
				self._finish(
					item,
					_orphan(
						item,
						record,
						"automatic voiding is off in Xero Sync Settings",
						"Press Void in Xero to void it, or void it in Xero yourself.",
					),
				)
			elif (own := self._own_allocations(item, record)) is None:
				self._finish(item, _orphan(item, record, record.void_blocker(), REMOVE_PAYMENTS))
			else:
				new_status = "DELETED" if record.status in ("DRAFT", "SUBMITTED") else "VOIDED"
				changes.append((item, new_status, own))
		if not changes:
			return
		# The gate: only rows still ours, whose cancel still stands, are voided; a worker that lost a row
		# while it read Xero leaves it alone.
		# (the drain decided to void from the docstatus, or absence, it read during this claim; a cancel is
		# never withdrawn, so holding the lease is the whole gate)
		allowed = self.journal.renew(self.owner, [i.row.name for i, _, _ in changes], LEASE_SECONDS)
		for item, _, _ in changes:
			if item.row.name not in allowed:
				self.pending.pop(item.row.name, None)
		changes = [c for c in changes if c[0].row.name in allowed]
		self.in_call = {i.row.name for i, _, _ in changes}
		try:
			for item, _, own in changes:
				record = current[_xero_id(item)]
				for allocation_id in own:
					self._call(
						self.gateway.delete_allocation, self.tenant_id, kind, record.xero_id, allocation_id
					)
			if not changes:
				return
			key = keys.status_key(
				self.tenant_id, kind.value, [(_xero_id(i), s, i.row.attempts) for i, s, _ in changes]
			)
			results = self._call(
				self.gateway.set_statuses,
				self.tenant_id,
				kind,
				[(_xero_id(i), s) for i, s, _ in changes],
				key,
			)
		except XeroError as exc:
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise
			# Refused as a whole: the reason belongs to these documents only, not to the rest of the batch.
			for item, _, _ in changes:
				self._finish(item, _orphan(item, current[_xero_id(item)], exc.message, REMOVE_PAYMENTS))
			return
		for (item, new_status, _), result in zip(changes, results, strict=True):
			if result.ok:
				self._finish(
					item,
					Outcome(
						Status.VOIDED,
						" ".join([f"Cancelled in ERPNext; {new_status.lower()} in Xero.", *item.notes]),
						xero_id=_xero_id(item),
						xero_status=new_status,
						action="Void",
					),
				)
			else:
				record = current[_xero_id(item)]
				reason = "; ".join(result.errors) or "Xero refused the void"
				self._finish(item, _orphan(item, record, reason, REMOVE_PAYMENTS))


# -- helpers ------------------------------------------------------------------------------------


def _kind_of(row: SyncRow) -> Kind:
	"""The Xero kind recorded on the row at queue time (xero_type), else from the doctype."""
	if row.xero_type:
		return Kind(row.xero_type)
	return Kind.BILL if row.reference_doctype == PURCHASE_INVOICE else Kind.SALES_INVOICE


def _party(doctype: str, doc: dict) -> tuple[str, str]:
	if doctype == PURCHASE_INVOICE:
		return ("Supplier", doc.get("supplier") or "")
	return ("Customer", doc.get("customer") or "")


def _adoptable(contact: ContactRecord, request: ContactRequest) -> bool:
	"""A contact found by name may be this party's: unnumbered (made by hand) or numbered with its ID."""
	return contact.contact_number == request.party or (not contact.contact_number and not request.name_shared)


def _xero_id(item: _Item) -> str:
	return item.record.xero_id if item.record else item.row.xero_id


def _identity(item: _Item) -> SentIdentity:
	"""What this row sent (its stored sent identity), or what it would send now."""
	if item.row.sent_identity:
		return SentIdentity.of(item.row.sent_identity)
	return SentIdentity.of(item.payload.identity())


def _clash(kind: Kind, item: _Item, found: Sequence[XeroRecord]) -> Outcome:
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


def _orphan(item: _Item, record: XeroRecord, reason: str, remedy: str) -> Outcome:
	return Outcome(
		Status.ORPHAN,
		f"{item.row.document} is cancelled in ERPNext but still live in Xero "
		f"({record.number or record.xero_id}, {record.status}): {reason}. {remedy}",
		xero_id=record.xero_id,
		xero_status=record.status,
		action="Void",
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
