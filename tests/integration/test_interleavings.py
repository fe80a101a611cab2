"""Interleavings explored, not sampled: a hypothesis state machine over the real journal SQL (MariaDB), the
engine and the emulator, through random orders of submit, cancel, delete and name reuse, drains that crash,
stall past their lease (a second worker takes over meanwhile), meet a cancel or a create Xero commits after
the client's timeout, Retry, Void in Xero, time passing, log clearing and the orphan scan.

After every step (and at the point inside a drain where something was done to it) the ERP stand-in, the
log and the emulator's ledger are compared:
  1. at most one live Xero document per ERP document (per number+contact; per Url marker for bills);
  2. no live Xero document for a cancelled or deleted document unless its row is Queued or Orphan;
  3. a Synced row's Xero ID is live and is its own document's, and no two documents share a Xero ID;
  4. every status change is one sync/states.TRANSITIONS allows the actors of that step;
  5. after quiescing (time past every lease, in-flight window and back-off, drains until nothing is
     claimable) every submitted document is Synced or Failed with a message, every cancelled or deleted
     one Voided, Skipped or Orphan, and nothing live in Xero is left unaccounted for.

CI runs a fixed, derandomised exploration; NXC_INTERLEAVINGS_EXAMPLES=500 explores randomly for longer.
Counterexamples hypothesis shrank are kept below as plain regression tests.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
	RuleBasedStateMachine,
	invariant,
	precondition,
	rule,
	run_state_machine_as_test,
)

from nexwave_xero_connector.sync import journal as J
from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE
from nexwave_xero_connector.sync.drain import LEASE_SECONDS, drain
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.sync.mapping import document_url
from nexwave_xero_connector.sync.model import ErrorClass, Kind, Status
from nexwave_xero_connector.sync.states import TRANSITIONS, Actor
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb
from tests.support.erp import SqlErp
from tests.support.schema import TABLES
from tests.support.world import SITE_URL, NoMasters, World, clone, nz_config

MAX_DOCS = 6
BILL_NUMBERS = ("SP-1", "SP-2")  # supplier numbers repeat in Xero: bills and supplier credits share them
KINDS = {
	"SI": (SALES_INVOICE, Kind.SALES_INVOICE, "si_nz_inclusive"),
	"SRET": (SALES_INVOICE, Kind.SALES_CREDIT, "si_nz_return"),
	"BILL": (PURCHASE_INVOICE, Kind.BILL, "pi_nz_freight"),
	"PRET": (PURCHASE_INVOICE, Kind.BILL_CREDIT, "pi_nz_return"),
}
CUSTOMER, SUPPLIER = "Tui Hardware Ltd", "Southern Packaging Ltd"
# Where a drain can be interrupted: after the n-th call of one of these (journal or gateway).
JOURNAL_POINTS = (
	"claim",
	"renew",
	"store_xero_ids",
	"mark_sending",
	"unmark_sending",
	"finish",
)
GATEWAY_POINTS = ("create_documents", "find_documents", "get_documents", "set_statuses", "allocate_credit")
INTERRUPTIONS = ("nothing", "crash", "stall", "cancel", "retry", "clear", "scan")
FAULTS = (None, None, "lost_after_commit", "drop_before_commit", "500")
TERMINAL_CANCELLED = {Status.VOIDED.value, Status.SKIPPED.value, Status.ORPHAN.value}


class Crash(BaseException):
	"""A worker killed at a precise point (nothing in the engine may catch it)."""


@dataclass
class Doc:
	"""One incarnation of an ERP document (a reused name is a new incarnation)."""

	doctype: str
	name: str
	kind: Kind
	number: str
	contact: str
	url: str | None
	state: str = "submitted"  # cancelled, deleted
	rows: set[str] = field(default_factory=set)

	@property
	def key(self) -> tuple:
		return _key(self.kind, self.number, self.contact, self.url)


def _key(kind: Kind, number: str, contact: str, url: str | None) -> tuple:
	"""What tells documents apart in Xero: number+contact; bills also carry our Url marker."""
	return (kind.value, number, contact, url if kind == Kind.BILL else None)


@dataclass
class SlowCommit:
	"""A create that timed out on the client but that Xero commits later (or never)."""

	kind: Kind
	bodies: list
	key: str
	sent: float  # the model clock's offset when it left
	lands: str  # "after_lookup": right after the next lookup missed it; "late": at the window's end; "never"


class Tripwire:
	"""Counts the calls a drain makes to its journal and gateway (the listed methods) and runs `action`
	after the k-th of them, once its effects have happened: "crash at each step" is k = 1, 2, ..."""

	def __init__(self, k: int, action):
		self.left, self.action, self.calls = k, action, []

	def wrap(self, target, methods: tuple[str, ...]):
		return _Counted(self, target, methods)


class _Counted:
	def __init__(self, wire: Tripwire, target, methods):
		self._wire, self._target, self._methods = wire, target, methods

	def __getattr__(self, name):
		attr = getattr(self._target, name)
		if name not in self._methods or not callable(attr):
			return attr

		def wrapper(*args, **kwargs):
			result = attr(*args, **kwargs)
			wire = self._wire
			wire.calls.append(name)
			wire.left -= 1
			if wire.left == 0:
				wire.action(name)
			return result

		return wrapper


class ModelGateway:
	"""The real SDK gateway, plus the model's slow commits: a create may time out on the client while Xero
	commits it later; such a commit lands right after the next lookup (the worst moment), at the end of
	its in-flight window, or never."""

	def __init__(self, model: Interleavings, slow: str | None = None):
		self._model, self._real, self._slow = model, model.world.gateway(), slow

	def __getattr__(self, name):
		return getattr(self._real, name)

	def create_documents(self, tenant_id, kind, bodies, key, send_by=None):
		if self._slow:
			lands, self._slow = self._slow, None
			self._model.slow.append(
				SlowCommit(kind, list(bodies), key, self._model.world.clock.seconds(), lands)
			)
			raise XeroError(
				"Xero did not answer in time.", error_class=ErrorClass.TRANSIENT, may_have_committed=True
			)
		return self._real.create_documents(tenant_id, kind, bodies, key, send_by=send_by)

	def find_documents(self, *args, **kwargs):
		found = self._real.find_documents(*args, **kwargs)
		self._model.land(lambda c: c.lands == "after_lookup")
		return found


class Interleavings(RuleBasedStateMachine):
	emulator: XeroEmulator
	database: str
	examples = 0
	steps = 0
	open_dbs: list = []
	events: Counter = Counter()  # what the exploration reached, to show it is not vacuous

	def __init__(self):
		super().__init__()
		Interleavings.examples += 1
		self.broken = False
		_wipe(self.database)
		tenant_id = f"t-{uuid.uuid4().hex[:8]}"
		# Two attempts before a transient failure gives up: Failed rows (and Retry) come up in short runs.
		self.world = World(
			self.emulator, self.database, tenant_id, config=nz_config(tenant_id, max_attempts=2)
		)
		clock = self.world.clock
		self.other_db = PyMySqlDb(self.database, offset=clock.seconds)  # a second worker / a second user
		self.other_erp = SqlErp(self.other_db, clock)
		self.observer = PyMySqlDb(self.database, offset=clock.seconds)
		Interleavings.open_dbs += [self.world.db, self.other_db, self.observer]
		for db in (self.world.db, self.other_db, self.observer):
			# One thread plays every worker: a statement waiting for a lock another connection of this thread
			# holds would wait forever, so a lock wait fails fast and shows where.
			db.execute("SET SESSION innodb_lock_wait_timeout = 2", {})
		self.prefix = uuid.uuid4().hex[:4]
		self.contacts = {}
		for party_type, party in (("Customer", CUSTOMER), ("Supplier", SUPPLIER)):
			contact = self.emulator.add_contact(self.world.tenant_id, party, contact_number=party)
			self.world.erp.set_contact_id(party_type, party, self.world.tenant_id, contact)
			self.contacts[party] = contact
		self.world.db.commit("test: contacts known")
		self.docs: list[Doc] = []
		self.row_doc: dict[str, Doc] = {}
		self.seen: dict[str, str] = {}
		self.actors: set[Actor] = set()
		self.slow: list[SlowCommit] = []
		self.counter = 0

	# -- helpers -----------------------------------------------------------------------------------

	def _journal(self, db, worker):
		return SqlJournal(db, self.world.clock, worker=worker)

	def _drain(self, *, journal=None, gateway=None, erp=None):
		return drain(
			self.world.tenant_id,
			journal=journal or self._journal(self.world.db, "w1"),
			erp=erp or self.world.erp,
			masters=NoMasters(),
			gateway=gateway or ModelGateway(self),
			config=self.world.config,
		)

	def advance(self, seconds: float) -> None:
		"""Time passes for everyone (site clock, database sessions, Xero). A slow commit lands before its
		in-flight window closes, or never."""
		clock = self.world.clock
		due = lambda c: clock.seconds() + seconds - c.sent >= self.world.config.in_flight_seconds  # noqa: E731
		self.slow = [c for c in self.slow if not (due(c) and c.lands == "never")]
		self.land(due)
		clock.advance(seconds)
		self.emulator.advance(seconds)

	def land(self, which) -> None:
		landing = [c for c in self.slow if which(c)]
		self.slow = [c for c in self.slow if c not in landing]
		for c in landing:
			Interleavings.events[f"slow commit landed {c.lands}"] += 1
			self.world.gateway().create_documents(self.world.tenant_id, c.kind, c.bodies, c.key)

	def _cancel(self, erp: SqlErp, doc: Doc) -> None:
		"""What on_cancel does, in the cancel's transaction: flag the row; a document whose row was
		cleared but that carries a live Xero ID gets a row that voids it."""
		db, now = erp.db, self.world.clock()
		table = J.XERO_FIELDS_TABLES[doc.doctype]
		db.execute(
			f"UPDATE {table} SET docstatus = 2, modified = %(now)s WHERE name = %(n)s",
			{"n": doc.name, "now": now},
		)
		if not J.request_cancel(db, doc.doctype, doc.name, now):
			self._queue_cleared(db, doc, deleted=False)
		db.commit("test: cancel")
		doc.state = "cancelled"

	def _queue_cleared(self, db, doc: Doc, *, deleted: bool) -> None:
		table = J.XERO_FIELDS_TABLES[doc.doctype]
		(erp_doc,) = db.query(
			f"SELECT xero_id, xero_status, company FROM {table} WHERE name = %(n)s", {"n": doc.name}
		)
		if erp_doc["xero_id"] and erp_doc["xero_status"] not in ("VOIDED", "DELETED"):
			row = J.queue_void_of_cleared(
				db,
				doctype=doc.doctype,
				name=doc.name,
				company=erp_doc["company"],
				tenant_id=self.world.tenant_id,
				xero_type=doc.kind.value,
				xero_id=erp_doc["xero_id"],
				xero_status=erp_doc["xero_status"],
				now=self.world.clock(),
				deleted=deleted,
			)
			self._own(row, doc)

	def _own(self, row: str, doc: Doc) -> None:
		self.row_doc[row] = doc
		doc.rows.add(row)

	def _retry(self, db) -> None:
		failed = [
			r["name"] for r in db.query("SELECT name FROM `tabXero Sync Log` WHERE status = 'Failed'", {})
		]
		J.requeue(db, failed, self.world.clock())
		db.commit("test: Retry")

	def _clear(self, db) -> None:
		J.clear_old_rows(db, self.world.clock() + _DAY)
		db.commit("test: Log Settings")

	def _scan(self, db) -> None:
		now = self.world.clock()
		J.flag_cancelled_but_synced(db, now)
		J.flag_cancelled_without_row(
			db, now, self.world.config.tenant_for, lambda doctype, is_return: _xero_type(doctype, is_return)
		)
		db.commit("test: orphan scan")

	def _submittable(self) -> list[Doc]:
		return [d for d in self.docs if d.state == "submitted"]

	# -- rules -------------------------------------------------------------------------------------

	@precondition(lambda self: len(self.docs) < MAX_DOCS)
	@rule(kind=st.sampled_from(sorted(KINDS)), bill_no=st.sampled_from(BILL_NUMBERS))
	def submit(self, kind, bill_no):
		self.counter += 1
		self._submit(f"{kind}-{self.prefix}-{self.counter}", kind, bill_no)

	@precondition(
		lambda self: (
			len(self.docs) < MAX_DOCS + 2
			and any(d.state == "deleted" and not self._in_use(d.name) for d in self.docs)
		)
	)
	@rule(pick=st.integers(0, 5), bill_no=st.sampled_from(BILL_NUMBERS))
	def reuse_deleted_name(self, pick, bill_no):
		"""ERPNext gives the next document the name of the last deleted one of its series."""
		free = [d for d in self.docs if d.state == "deleted" and not self._in_use(d.name)]
		old = free[pick % len(free)]
		self._submit(old.name, old.name.split("-")[0], bill_no)

	def _in_use(self, name: str) -> bool:
		return any(d.name == name and d.state != "deleted" for d in self.docs)

	def _submit(self, name, kind, bill_no):
		self.actors = {Actor.SUBMIT}
		doctype, xero_kind, template = KINDS[kind]
		changes = {}
		if doctype == PURCHASE_INVOICE:
			changes["bill_no"] = bill_no
		if kind in ("SRET", "PRET"):
			originals = [
				d for d in self.docs if d.kind == (Kind.SALES_INVOICE if kind == "SRET" else Kind.BILL)
			]
			changes["return_against"] = originals[-1].name if originals else f"MISSING-{self.prefix}"
			changes["update_outstanding_for_self"] = 0
		party = SUPPLIER if doctype == PURCHASE_INVOICE else CUSTOMER
		doc = Doc(
			doctype,
			name,
			xero_kind,
			bill_no if doctype == PURCHASE_INVOICE else name,
			self.contacts[party],
			document_url(SITE_URL, doctype, name),
		)
		row = self.world.submit(clone(template, name, **changes))
		self.docs.append(doc)
		self._own(row, doc)

	@precondition(lambda self: any(d.state == "submitted" for d in self.docs))
	@rule(pick=st.integers(0, 5))
	def cancel(self, pick):
		self.actors = {Actor.CANCEL}
		docs = self._submittable()
		self._cancel(self.world.erp, docs[pick % len(docs)])

	@precondition(lambda self: any(d.state == "cancelled" for d in self.docs))
	@rule(pick=st.integers(0, 5))
	def delete(self, pick):
		"""What on_trash does in the delete's transaction: the row lets go of the name and is settled like
		a cancel; a document whose row was cleared but that carries a live Xero ID gets a detached row."""
		self.actors = {Actor.DELETE}
		docs = [d for d in self.docs if d.state == "cancelled"]
		doc = docs[pick % len(docs)]
		db, now = self.world.db, self.world.clock()
		if not J.detach_deleted(db, doc.doctype, doc.name, now):
			self._queue_cleared(db, doc, deleted=True)
		db.execute(f"DELETE FROM `tab{doc.doctype}` WHERE name = %(n)s", {"n": doc.name})
		db.commit("test: delete")
		doc.state = "deleted"

	@rule(
		k=st.integers(1, 12),
		what=st.sampled_from(INTERRUPTIONS),
		pick=st.integers(0, 5),
		slow=st.sampled_from((None, None, "after_lookup", "late", "never")),
		fault=st.sampled_from(FAULTS),
	)
	def drain_interrupted(self, k, what, pick, slow, fault):
		"""A drain; after its k-th journal or gateway call something happens to it: it is killed, it stalls past its
		lease while a second worker drains, or a person cancels, retries, clears the log or scans."""
		self.actors = {Actor.DRAIN}
		if fault:
			for endpoint in ("Invoices", "CreditNotes"):
				self.emulator.inject(fault, method="PUT", endpoint=endpoint, tenant_id=self.world.tenant_id)

		def interrupt(point):
			Interleavings.events[f"{what} after {point}"] += 1
			self.observe(f"drain stopped after call {k} ({point})")
			if what == "nothing":
				return
			if what == "crash":
				raise Crash(point)
			if what == "stall":
				self.advance(LEASE_SECONDS + 1)
				self._drain(journal=self._journal(self.other_db, "w2"), erp=self.other_erp)
			elif what == "cancel":
				self.actors.add(Actor.CANCEL)
				docs = self._submittable()
				if docs:
					self._cancel(self.other_erp, docs[pick % len(docs)])
			elif what == "retry":
				self.actors.add(Actor.RETRY)
				self._retry(self.other_db)
			elif what == "clear":
				self.actors.add(Actor.CLEAR)
				self._clear(self.other_db)
			elif what == "scan":
				self.actors.add(Actor.ORPHAN_SCAN)
				self._scan(self.other_db)
			self.observe(f"after the {what} inside the drain")

		wire = Tripwire(k, interrupt)
		journal = wire.wrap(self._journal(self.world.db, "w1"), JOURNAL_POINTS)
		gateway = wire.wrap(ModelGateway(self, slow), GATEWAY_POINTS)
		try:
			self._drain(journal=journal, gateway=gateway)
		except Crash:
			self.world.db.rollback()
		finally:
			self.emulator.faults.clear()  # an unused fault must not leak into later steps

	@rule()
	def sweep(self):
		"""The minute job wakes a drain for every tenant with claimable rows; it changes no status."""
		self.actors = {Actor.SWEEP, Actor.DRAIN}
		if self.world.tenant_id in self._journal(self.world.db, "sweep").tenants_with_work():
			self._drain()

	@rule(seconds=st.sampled_from((LEASE_SECONDS + 1, 421, 3601)))
	def time_passes(self, seconds):
		self.actors = set()
		self.advance(seconds)

	@precondition(lambda self: bool(self.slow))
	@rule()
	def slow_commits_land(self):
		self.actors = set()
		self.land(lambda c: c.lands != "never")

	@rule()
	def retry(self):
		self.actors = {Actor.RETRY}
		self._retry(self.world.db)

	@rule()
	def void_in_xero(self):
		"""A person presses Void in Xero on every Orphan."""
		self.actors = {Actor.VOID}
		db = self.world.db
		orphans = [
			r["name"] for r in db.query("SELECT name FROM `tabXero Sync Log` WHERE status = 'Orphan'", {})
		]
		J.confirm_void(db, orphans, self.world.clock())
		db.commit("test: Void in Xero")

	@rule()
	def clear_log(self):
		self.actors = {Actor.CLEAR}
		self._clear(self.world.db)

	@rule()
	def orphan_scan(self):
		self.actors = {Actor.ORPHAN_SCAN}
		self._scan(self.world.db)

	# -- invariants --------------------------------------------------------------------------------

	@invariant()
	def consistent(self):
		Interleavings.steps += 1
		self.observe("after the step")
		self.actors = set()

	def observe(self, where: str) -> None:
		"""Check invariants 1-4 on what is committed now."""
		try:
			self._observe(where)
		except BaseException:
			self.broken = True
			raise

	def _rows(self) -> list[dict]:
		self.observer.rollback()  # a fresh snapshot
		return self.observer.query(
			"SELECT name, status, reference_doctype, reference_name, deleted_reference, xero_id, error_message "
			"FROM `tabXero Sync Log`",
			{},
		)

	def _observe(self, where: str) -> None:
		rows = {r["name"]: r for r in self._rows()}
		for name, r in rows.items():
			if name not in self.row_doc:
				self._own(name, self._doc_of_new_row(r))
		# 4. transitions
		for name in set(self.seen) | set(rows):
			before = self.seen.get(name)
			after = rows[name]["status"] if name in rows else None
			assert _reachable(before, after, self.actors), (
				f"{where}: row {name} of {self.row_doc[name].name} went {before} -> {after}, which "
				f"{sorted(a.value for a in self.actors) or 'nobody'} may not do"
			)
		for name, r in rows.items():
			if self.seen.get(name) != r["status"]:
				Interleavings.events[f"{self.seen.get(name)}->{r['status']}"] += 1
		self.seen = {name: r["status"] for name, r in rows.items()}
		live = self.emulator.live_documents(self.world.tenant_id)
		by_id = {d["xero_id"]: d for d in live}
		keys = {}
		for doc in self.docs:
			keys.setdefault(doc.key, []).append(doc)
		# 1 + 2. live copies per key, against the documents that may be live
		for d in live:
			key = _key(Kind(d["kind"]), d["number"], d["contact_id"], d["url"])
			docs = keys.get(key, [])
			may = [x for x in docs if x.state == "submitted" or self._pending_or_orphan(x, rows)]
			count = sum(
				1 for e in live if _key(Kind(e["kind"]), e["number"], e["contact_id"], e["url"]) == key
			)
			Interleavings.events["live copies shared by incarnations" if len(docs) > 1 else "live"] += 1
			assert count <= len(may), (
				f"{where}: {count} live Xero {key[0]} {key[1]} for {[(x.name, x.state, self._statuses(x, rows)) for x in docs]}"
			)
		# 3. Synced rows point at their own live document; no Xero document is claimed twice
		holders = {}
		for name, r in rows.items():
			doc = self.row_doc[name]
			if r["xero_id"] and (r["status"] in ("Synced", "Orphan") or (r["status"] == "Queued")):
				holders.setdefault(r["xero_id"], set()).add(id(doc))
			if r["status"] != "Synced":
				continue
			assert doc.state == "submitted", (
				f"{where}: {doc.name} is {doc.state} but its row {name} is Synced"
			)
			x = by_id.get(r["xero_id"])
			assert x is not None, (
				f"{where}: {doc.name}'s row {name} is Synced to {r['xero_id']}, not live in Xero"
			)
			assert _key(Kind(x["kind"]), x["number"], x["contact_id"], x["url"]) == doc.key, (
				f"{where}: {doc.name}'s row {name} is Synced to another document's Xero copy {x}"
			)
		for xero_id, docs in holders.items():
			if xero_id in by_id:
				assert len(docs) == 1, (
					f"{where}: live Xero document {xero_id} is claimed by {len(docs)} documents"
				)

	def _pending_or_orphan(self, doc: Doc, rows) -> bool:
		return any(rows[r]["status"] in ("Queued", "Orphan") for r in doc.rows if r in rows)

	def _statuses(self, doc: Doc, rows) -> list[str]:
		return [rows[r]["status"] for r in sorted(doc.rows) if r in rows]

	def _doc_of_new_row(self, r: dict) -> Doc:
		doctype = r["reference_doctype"]
		if r["reference_name"]:
			matches = [
				d
				for d in self.docs
				if d.doctype == doctype and d.name == r["reference_name"] and d.state != "deleted"
			]
		else:
			matches = [
				d
				for d in self.docs
				if d.doctype == doctype and d.name == r["deleted_reference"] and d.state == "deleted"
			]
		assert matches, f"row {r['name']} belongs to no document: {r}"
		return matches[-1]

	def teardown(self):
		try:
			if not self.broken:
				self.quiesce()
		finally:
			_close(self.world.db, self.other_db, self.observer)

	def quiesce(self):
		"""5. Let every lease, in-flight window and back-off run out, drain until nothing is claimable."""
		self.actors = {Actor.DRAIN}
		self.land(lambda c: c.lands != "never")
		self.slow = []
		for _ in range(6):
			self.advance(3601)
			self._drain()
			self.observe("while quiescing")
			if not self.world.journal().tenants_with_work():
				break
		rows = {r["name"]: r for r in self._rows()}
		for doc in self.docs:
			current = [rows[r] for r in sorted(doc.rows) if r in rows]
			statuses = [r["status"] for r in current]
			if doc.state == "submitted":
				assert all(r["status"] in ("Synced", "Failed") for r in current), (
					f"{doc.name} is submitted but its rows are {statuses} after quiescing"
				)
				assert all(r["error_message"] for r in current if r["status"] == "Failed"), doc.name
				if not current:  # the row was cleared: the document's own Xero ID must still be live
					table = J.XERO_FIELDS_TABLES[doc.doctype]
					(erp,) = self.observer.query(
						f"SELECT xero_id FROM {table} WHERE name = %(n)s", {"n": doc.name}
					)
					live = {d["xero_id"] for d in self.emulator.live_documents(self.world.tenant_id)}
					assert erp["xero_id"] in live, (
						f"{doc.name}: its row was cleared and Xero has no live copy"
					)
			else:
				assert set(statuses) <= TERMINAL_CANCELLED, (
					f"{doc.name} is {doc.state} but its rows are {statuses} after quiescing: "
					f"{[r['error_message'] for r in current]}"
				)


_DAY = __import__("datetime").timedelta(days=1)


def _xero_type(doctype: str, is_return: bool) -> str:
	if doctype == PURCHASE_INVOICE:
		return (Kind.BILL_CREDIT if is_return else Kind.BILL).value
	return (Kind.SALES_CREDIT if is_return else Kind.SALES_INVOICE).value


def _reachable(before, after, actors: set[Actor]) -> bool:
	"""Whether some sequence of moves by `actors` turns `before` into `after` (None = no row)."""
	if before == after:
		return True
	to = lambda s: Status(s) if s else None  # noqa: E731
	start, goal = to(before), to(after)
	seen, frontier = {start}, [start]
	while frontier:
		state = frontier.pop()
		for actor in actors:
			for a, b in TRANSITIONS[actor]:
				if a == state and b not in seen:
					seen.add(b)
					frontier.append(b)
	return goal in seen


def _close(*dbs) -> None:
	for db in dbs:
		if db.conn.open:
			db.rollback()
			db.close()


def _wipe(database: str) -> None:
	db = PyMySqlDb(database)
	try:
		for table in TABLES:
			db.execute(f"DELETE FROM `{table}`", {})
		db.commit("test: a fresh example")
	finally:
		db.close()


@pytest.fixture
def emulator_for_interleavings():
	"""An emulator of its own: the machine moves its clock forward."""
	emu = XeroEmulator()
	emu.start(port=0)
	yield emu
	emu.stop()


@pytest.fixture
def machine(emulator_for_interleavings, database):
	"""The state machine's class bound to this test's emulator and database; every connection it opened
	is closed afterwards (an aborted example leaves them open, which would block DROP DATABASE)."""
	Interleavings.emulator = emulator_for_interleavings
	Interleavings.database = database
	yield Interleavings
	_close(*Interleavings.open_dbs)
	Interleavings.open_dbs = []


@pytest.mark.timeout(0 if os.environ.get("NXC_INTERLEAVINGS_EXAMPLES") else 600)
def test_interleavings_keep_every_invariant(machine):
	Interleavings.examples = Interleavings.steps = 0
	Interleavings.events.clear()
	explore = int(os.environ.get("NXC_INTERLEAVINGS_EXAMPLES", "0"))
	started = time.monotonic()
	run_state_machine_as_test(
		Interleavings,
		settings=settings(
			max_examples=explore or 100,
			stateful_step_count=25,
			deadline=None,
			derandomize=not explore,
			database=None,
			print_blob=True,
			suppress_health_check=list(HealthCheck),
		),
	)
	print(
		f"interleavings: {Interleavings.examples} examples, {Interleavings.steps} steps checked in "
		f"{time.monotonic() - started:.1f} s; reached: {dict(sorted(Interleavings.events.items()))}"
	)


# -- counterexamples hypothesis found, kept as plain sequences ---------------------------------------


def _run(machine, *steps) -> None:
	"""Play the steps on a fresh machine, checking the invariants after each one, then quiesce."""
	state = machine()
	try:
		state.consistent()
		for step in steps:
			step(state)
			state.consistent()
	finally:
		state.teardown()


def test_a_reused_name_does_not_adopt_the_copy_its_deleted_predecessor_voids(machine):
	"""SRET-x is sent, the create times out (Xero commits it later), it is cancelled and deleted, and a new
	SRET-x is submitted. One drain then handles both rows: the new row's create is refused ("must be
	unique"), its clash lookup finds the copy and adopts it (same number, contact, total); the detached
	row's recovery lookup finds the same copy and voids it. The new, submitted document ends Synced to a
	VOIDED credit note: ERPNext submitted, Xero voided, log Synced."""
	_run(
		machine,
		lambda s: s.submit(kind="SRET", bill_no="SP-1"),
		lambda s: s.drain_interrupted(k=12, what="nothing", pick=0, slow="late", fault=None),
		lambda s: s.cancel(pick=0),
		lambda s: s.delete(pick=0),
		lambda s: s.reuse_deleted_name(pick=0, bill_no="SP-1"),
		lambda s: s.slow_commits_land(),
		lambda s: s.time_passes(seconds=3601),
		lambda s: s.sweep(),
	)


def test_a_create_timing_out_does_not_give_up_on_a_void_that_was_never_sent(machine):
	"""SRET-a is Synced (attempt 1) and cancelled; SRET-b is submitted. The next drain claims both (attempt
	2 for a): b's create times out, and _requeue_open charges the whole batch, a's void included, though
	no void was sent; with max_attempts = 2 the void "gave up" and a is Failed while its credit note is
	live in Xero. (With the default max_attempts = 8 the same happens on a's eighth claim.)"""
	_run(
		machine,
		lambda s: s.submit(kind="SRET", bill_no="SP-1"),
		lambda s: s.sweep(),
		lambda s: s.submit(kind="SRET", bill_no="SP-1"),
		lambda s: s.cancel(pick=0),
		lambda s: s.drain_interrupted(k=12, what="nothing", pick=0, slow=None, fault="drop_before_commit"),
	)


def test_a_reused_name_gets_its_own_idempotency_key(machine):
	"""Found by the machine (interleavings #3): BILL-x is Synced, cancelled and deleted; a new BILL-x with
	the same content (the accountant enters it again) is submitted within Xero's 6-minute key window. Its
	create carried the same Idempotency-Key as the first one (tenant, kind, name, payload digest,
	generation 0), so Xero replayed the first create's answer: the new row was "created" as the old
	bill, which the detached row then voided. The new document ended Synced to a VOIDED bill."""
	_run(
		machine,
		lambda s: s.submit(kind="BILL", bill_no="SP-1"),
		lambda s: s.sweep(),
		lambda s: s.cancel(pick=0),
		lambda s: s.delete(pick=0),
		lambda s: s.reuse_deleted_name(pick=0, bill_no="SP-1"),
		lambda s: s.sweep(),
	)
