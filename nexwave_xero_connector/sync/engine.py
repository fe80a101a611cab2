"""The drain: push one organisation's queued documents to Xero in batches, crash-safely.

For each claimed batch:
  1. rows flagged by a cancel go to the void path; rows that already hold a Xero ID are finished;
  2. every document is mapped and pre-flighted (no call is made for a document that would be wrong);
  3. only rows whose write-ahead marker says an earlier attempt may have reached Xero are looked up
     (one batched GET per kind); a hit is adopted, never created again;
  4. the marker is committed, then one batched PUT creates the rest under a deterministic key;
  5. each Xero ID is stored at once; then the ERP docstatus is re-read and documents cancelled meanwhile
     are voided; then outcomes are recorded (a Synced outcome refuses itself if a cancel slipped in).
A fresh document therefore costs no lookup at all: one PUT carries up to fifty of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from . import keys
from .config import PURCHASE_INVOICE, SyncConfig
from .errors import MappingError, XeroError
from .model import (
	ElementResult,
	ErrorClass,
	Kind,
	Outcome,
	Status,
	SyncRow,
	XeroPayload,
	XeroRecord,
)
from .ports import ErpSource, Journal, MasterData, XeroGateway

LEASE_SECONDS = 120  # well above the gateway's read timeout, so a live request never outlives its lease
MAX_BACKOFF_SECONDS = 3600
UNIQUE_NUMBER_ERRORS = ("must be unique",)
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
		voids = [self.pending[r.name] for r in rows if r.cancel_requested]
		pushes = [self.pending[r.name] for r in rows if not r.cancel_requested]
		try:
			self._push(pushes, voids)
			self._void(voids)
		except XeroError as exc:
			# A whole call failed: everything still open in this batch is retried or failed by policy.
			self._requeue_open(exc)
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise StopDrain(exc.error_class.value) from exc

	def _call(self, fn, *args, **kwargs):
		"""Make one Xero call after renewing our lease; rows whose lease is gone are dropped first."""
		held = self.journal.renew(self.owner, list(self.pending), LEASE_SECONDS)
		for name in set(self.pending) - held:
			self.pending.pop(name)
		self.calls += 1
		self.report.calls += 1
		return fn(*args, **kwargs)

	def _finish(self, item: _Item, outcome: Outcome) -> bool:
		"""Record an outcome for a row still in this batch; False when refused (cancel or lost lease)."""
		if item.row.name not in self.pending:
			return False
		outcome.calls = outcome.calls or self.calls
		if outcome.request is None and item.payload is not None and outcome.status != Status.SYNCED:
			outcome.request = item.payload.body
		done = self.journal.finish(self.owner, item.row, outcome)
		if done:
			self.pending.pop(item.row.name)
			self.report.count(outcome)
		return done

	def _requeue_open(self, exc: XeroError) -> None:
		now = self.journal.now()
		for item in list(self.pending.values()):
			attempts = item.row.attempts
			if exc.error_class == ErrorClass.RATE_LIMITED:
				retry_at = now + timedelta(seconds=max(1.0, exc.retry_after or 60))
			elif exc.error_class == ErrorClass.CONNECTION:
				retry_at = now + timedelta(minutes=15)
			else:
				retry_at = now + timedelta(seconds=min(MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, attempts - 1)))
			if not (exc.is_retryable or exc.error_class == ErrorClass.CONNECTION):
				outcome = Outcome(Status.FAILED, exc.message, exc.error_class)
			elif exc.error_class == ErrorClass.TRANSIENT and attempts >= self.config.max_attempts:
				outcome = Outcome(Status.FAILED, _gave_up(exc, attempts), ErrorClass.TRANSIENT)
			else:
				outcome = Outcome(Status.QUEUED, exc.message, exc.error_class, retry_at=retry_at)
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
		"""The ERP document, or None. A document deleted before anything reached Xero is Skipped here; one
		that may be in Xero is left to the caller, which treats the deletion like a cancel."""
		try:
			return self.erp.load(item.row.reference_doctype, item.row.reference_name)
		except LookupError:
			if not (item.row.xero_id or item.row.send_started):
				self._finish(
					item,
					Outcome(
						Status.SKIPPED,
						f"{item.row.reference_doctype} {item.row.reference_name} no longer exists in ERPNext; "
						"nothing was sent.",
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
		maybe_sent = [i for i in group if i.row.send_started]
		if maybe_sent:
			found = self._lookup(kind, maybe_sent)
			for item in maybe_sent:
				record = _match(item.payload, found, self.config.site_url)
				if record:
					item.record = record
					item.notes.append("Already in Xero from an earlier, interrupted attempt; not sent again.")
					in_xero.append(item)
				else:
					generations[item.row.name] += 1
		to_send = [i for i in group if i not in in_xero and i.row.name in self.pending]
		marked = self.journal.mark_sending(self.owner, {i.row.name: generations[i.row.name] for i in to_send})
		for item in to_send:
			if item.row.name not in marked:
				# Lost the lease or a cancel arrived before anything left: let the next claim decide.
				self._finish(
					item, Outcome(Status.QUEUED, "Changed while being prepared; will be looked at again.")
				)
		to_send = [i for i in to_send if i.row.name in marked]
		self.journal.store_xero_ids(self.owner, {i.row.name: i.record for i in in_xero})
		if not to_send:
			return in_xero
		key = keys.create_key(
			self.tenant_id,
			kind.value,
			[(i.row.reference_name, i.payload.digest(), generations[i.row.name]) for i in to_send],
		)
		results = self._call(
			self.gateway.create_documents, self.tenant_id, kind, [i.payload.body for i in to_send], key
		)
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
		self.journal.store_xero_ids(self.owner, created)
		return in_xero + self._resolve_clashes(kind, collided)

	def _lookup(self, kind: Kind, items: list[_Item]) -> list[XeroRecord]:
		numbers = sorted({i.payload.number for i in items})
		contact_ids = () if kind.number_is_unique else sorted({i.payload.contact_id for i in items})
		return self._call(self.gateway.find_documents, self.tenant_id, kind, numbers, contact_ids)

	def _resolve_clashes(self, kind: Kind, collided: list[_Item]) -> list[_Item]:
		"""Xero says the number exists: adopt it if it is ours, else explain the conflict."""
		if not collided:
			return []
		found = self._lookup(kind, collided)
		adopted = []
		for item in collided:
			record = _match(item.payload, found, self.config.site_url)
			if record:
				item.record = record
				item.notes.append(
					"Xero already had this document (an earlier response was lost); adopted it."
				)
				adopted.append(item)
				continue
			other = next((r for r in found if r.number == item.payload.number and r.is_live), None)
			detail = (
				f" It belongs to another contact or has total {other.total}, not {item.payload.total}."
				if other
				else ""
			)
			self._finish(
				item,
				Outcome(
					Status.FAILED,
					f"Xero already has a {_kind_label(kind)} numbered {item.payload.number} that is not "
					f"{item.row.reference_name}.{detail} Rename or void the one in Xero, then press Retry. "
					"Nothing was sent.",
					ErrorClass.CONFLICT,
				),
			)
		self.journal.store_xero_ids(self.owner, {i.row.name: i.record for i in adopted})
		return adopted

	def _fail_element(self, item: _Item, result: ElementResult) -> None:
		message = self.gateway.explain(result.errors, document=item.row.reference_name)
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
			if not self._finish(item, outcome) and item.row.name in self.pending:
				# The Synced write refused itself: a cancel committed while we were pushing.
				voids.append(item)

	def _allocate(self, item: _Item) -> None:
		"""Allocate a new credit note to the document it reverses, if that one is in Xero and open."""
		payload, record = item.payload, item.record
		if payload is None or payload.allocation is None or not record.kind.is_credit_note:
			return
		if record.remaining_credit is None:
			# Known only by ID (an interrupted attempt): read it, so a done allocation is not redone.
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
		"""Resolve each party's Xero contact: the cache, then ContactNumber, then name, then create."""
		parties = {_party(i.row.reference_doctype, i.doc) for i in items}
		resolved: dict[tuple[str, str], str | Exception] = {}
		for party in parties:
			cached = self.erp.contact_id(party[0], party[1], self.tenant_id)
			if cached:
				resolved[party] = cached
		missing = sorted(parties - set(resolved))
		if not missing:
			return resolved
		by_number = {
			c.contact_number: c
			for c in self._call(self.gateway.find_contacts, self.tenant_id, [p[1] for p in missing])
		}
		requests = {p: self.erp.contact_request(p[0], p[1]) for p in missing if p[1] not in by_number}
		by_name = {}
		if requests:
			by_name = {
				c.name.casefold(): c
				for c in self._call(
					self.gateway.find_contacts_by_name,
					self.tenant_id,
					sorted({r.name for r in requests.values()}),
				)
				if c.status == "ACTIVE"
			}
		to_create = [p for p, r in requests.items() if r.name.casefold() not in by_name]
		created = {}
		if to_create:
			results = self._call(
				self.gateway.create_contacts,
				self.tenant_id,
				[requests[p] for p in to_create],
				keys.contacts_key(self.tenant_id, [p[1] for p in to_create]),
			)
			created = dict(zip(to_create, results, strict=True))
		for party in missing:
			found = by_number.get(party[1]) or created.get(party)
			if found is None:
				found = by_name.get(requests[party].name.casefold())
			resolved[party] = self._contact_result(party, found)
		return resolved

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
		"""A cancelled row whose create may have reached Xero: look for it before calling it nothing."""
		by_kind: dict[Kind, list[_Item]] = {}
		for item in items:
			item.doc = item.doc or self._load(item)
			if item.doc is None:
				self._finish(
					item,
					Outcome(
						Status.FAILED,
						f"{item.row.reference_name} was deleted in ERPNext after an interrupted push that may "
						"have reached Xero. Look for it in Xero and void it there if it is present.",
						ErrorClass.CONFLICT,
						action="Void",
					),
				)
				continue
			party = _party(item.row.reference_doctype, item.doc)
			contact = self.erp.contact_id(party[0], party[1], self.tenant_id)
			self._map(item, {party: contact} if contact else {})
			if item.row.name not in self.pending:
				continue
			by_kind.setdefault(_kind_of(item.row), []).append(item)
		for kind, group in by_kind.items():
			found = self._lookup(kind, group)
			for item in group:
				item.record = _match(item.payload, found, self.config.site_url)
				if item.record is None:
					self._finish(
						item,
						Outcome(
							Status.SKIPPED,
							"Cancelled in ERPNext; the interrupted attempt never reached Xero, so nothing to void.",
							action="Void",
						),
					)

	def _release_own_allocations(self, item: _Item, record: XeroRecord) -> bool:
		"""Clear what blocks the void if we put it there: a credit note's allocation to the document it
		reverses is ours (made at push), so a cancelled return takes it back. Anything else blocks."""
		if record.status == "PAID" and not record.kind.is_credit_note:
			return False
		if record.amount_paid or (record.amount_credited and not record.kind.is_credit_note):
			return False
		if not record.allocations:
			return not record.amount_credited
		doc = item.doc or self._load(item)
		against = self.erp.xero_id_of(item.row.reference_doctype, doc.get("return_against")) if doc else None
		if not against or any(invoice_id != against for _, invoice_id, _ in record.allocations):
			return False
		for allocation_id, _, _ in record.allocations:
			self._call(
				self.gateway.delete_allocation, self.tenant_id, record.kind, record.xero_id, allocation_id
			)
		item.notes.append(f"Took back its allocation to {doc.get('return_against')}.")
		return True

	def _void_group(self, kind: Kind, group: list[_Item]) -> None:
		current = {
			r.xero_id: r
			for r in self._call(
				self.gateway.get_documents, self.tenant_id, kind, [_xero_id(i) for i in group]
			)
		}
		changes: list[tuple[_Item, str]] = []
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
			elif not self._release_own_allocations(item, record):
				self._finish(item, _orphan(item, record, _blocker(record), REMOVE_PAYMENTS))
			else:
				changes.append((item, "DELETED" if record.status in ("DRAFT", "SUBMITTED") else "VOIDED"))
		if not changes:
			return
		key = keys.status_key(
			self.tenant_id, kind.value, [(_xero_id(i), s, i.row.attempts) for i, s in changes]
		)
		results = self._call(
			self.gateway.set_statuses, self.tenant_id, kind, [(_xero_id(i), s) for i, s in changes], key
		)
		for (item, new_status), result in zip(changes, results, strict=True):
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


def _number_of(doctype: str, doc: dict) -> str:
	"""The number the document carries in Xero (bill number for purchases, else the ERP name)."""
	if doctype == PURCHASE_INVOICE:
		return doc.get("bill_no") or doc["name"]
	return doc["name"]


def _marker(site_url: str, row: SyncRow) -> str:
	slug = row.reference_doctype.lower().replace(" ", "-")
	return f"{site_url}/app/{slug}/{row.reference_name}"


def _xero_id(item: _Item) -> str:
	return item.record.xero_id if item.record else item.row.xero_id


def _match(payload: XeroPayload, found: Sequence[XeroRecord], site_url: str) -> XeroRecord | None:
	"""The live Xero document that is this payload: same number, contact and total (and our marker for
	bills, whose numbers Xero does not keep unique)."""
	for record in found:
		if record.number != payload.number or not record.is_live or record.kind != payload.kind:
			continue
		if record.contact_id and record.contact_id != payload.contact_id:
			continue
		if record.total is not None and Decimal(record.total) != Decimal(payload.total):
			continue
		if not payload.kind.number_is_unique and payload.url and record.url != payload.url:
			continue
		return record
	return None


def _is_number_clash(result: ElementResult) -> bool:
	return any(any(s in e for s in UNIQUE_NUMBER_ERRORS) for e in result.errors)


def _kind_label(kind: Kind) -> str:
	return {
		Kind.SALES_INVOICE: "sales invoice",
		Kind.SALES_CREDIT: "credit note",
		Kind.BILL: "bill",
		Kind.BILL_CREDIT: "supplier credit note",
	}[kind]


def _blocker(record: XeroRecord) -> str:
	if record.kind.is_credit_note:
		if record.amount_paid:
			return f"{record.amount_paid} of it was refunded in Xero"
		return (
			f"{record.amount_credited} of it is allocated in Xero to invoices this connector did not allocate"
		)
	if record.amount_paid:
		return f"it has payments of {record.amount_paid} in Xero"
	if record.amount_credited:
		return f"credit notes of {record.amount_credited} are allocated to it in Xero"
	return "it is paid in Xero"


def _orphan(item: _Item, record: XeroRecord, reason: str, remedy: str) -> Outcome:
	return Outcome(
		Status.ORPHAN,
		f"{item.row.reference_name} is cancelled in ERPNext but still live in Xero "
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
