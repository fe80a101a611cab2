"""The drain's decisions for issue 10, against port-level fakes of the journal and the gateway.

The fakes keep only what the decisions read: who holds each row, its write-ahead marker, how long ago its
create was let out, and which calls the engine made. The same scenarios run end to end against MariaDB and
the emulator in tests/integration/test_stalls_and_lifecycle.py.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.config import SyncConfig
from nexwave_xero_connector.sync.drain import UNEXPECTED_ATTEMPTS, drain
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import (
	ElementResult,
	ErrorClass,
	Kind,
	Outcome,
	Status,
	SyncRow,
	Write,
	XeroPayload,
	XeroRecord,
)

TENANT = "tenant-u"
CONFIG = SyncConfig(in_flight_seconds=420)


class FakeJournal:
	"""The Journal port: leases by owner, a cancel flag, and the sent marker with its age."""

	worker = "fake"

	def __init__(self, *rows: SyncRow):
		self.rows = {r.name: r for r in rows}
		self.owner: dict[str, str | None] = {r.name: None for r in rows}
		self.outcomes: dict[str, list[Outcome]] = {r.name: [] for r in rows}
		self.unmarked: list[str] = []
		self.traces: list[str] = []
		self.resting: set[str] = set()  # waiting out a retry_in: not claimable until wake()

	def wake(self, seconds: float = 3600) -> None:
		"""Time passes: back-offs end and sent requests age."""
		self.resting.clear()
		for row in self.rows.values():
			row.sent_age = None if row.sent_age is None else row.sent_age + seconds

	def steal(self, name: str) -> None:
		"""Another worker took the row after this one's lease ran out."""
		self.owner[name] = "another worker"

	def _held(self, owner, names):
		return {n for n in names if self.owner.get(n) == owner and self.rows[n].status == Status.QUEUED}

	def claim(self, tenant_id, owner, limit, lease_seconds):
		free = [
			n
			for n, r in self.rows.items()
			if r.status == Status.QUEUED and self.owner[n] is None and n not in self.resting
		]
		for name in free[:limit]:
			self.owner[name] = owner
			self.rows[name].attempts += 1
		return [self.rows[n] for n in free[:limit]]

	def renew(self, owner, names, lease_seconds):
		return self._held(owner, names)

	def mark_sending(self, owner, sends, lease_seconds):
		marked = {n for n in self._held(owner, sends) if not self.rows[n].cancel_requested}
		for name in marked:
			generation, identity = sends[name]
			row = self.rows[name]
			row.send_started, row.key_generation, row.sent_identity, row.sent_age = (
				True,
				generation,
				identity,
				0.0,
			)
		return marked

	def unmark_sending(self, owner, names):
		for name in self._held(owner, names):
			self.rows[name].send_started, self.rows[name].sent_age = False, None
			self.unmarked.append(name)

	def store_xero_ids(self, owner, records, answered=()):
		for name in self._held(owner, [*records, *answered]):
			self.rows[name].sent_age = None
			if name in records:
				self.rows[name].xero_id = records[name].xero_id

	def wake_waiting(self, tenant_id, xero_types):
		return 0

	def finish(self, owner, row, outcome):
		if self.owner.get(row.name) != owner or self.rows[row.name].status != Status.QUEUED:
			return Write.LEASE_LOST
		if outcome.status == Status.SYNCED and self.rows[row.name].cancel_requested:
			return Write.CANCELLED
		self.rows[row.name].status = outcome.status
		self.owner[row.name] = None
		self.outcomes[row.name].append(outcome)
		if outcome.retry_in is not None:
			self.resting.add(row.name)
		if outcome.trace:
			self.traces.append(outcome.trace)
		return Write.DONE

	def rows_holding(self, xero_ids):
		return {r.xero_id for r in self.rows.values() if r.xero_id and r.xero_id in set(xero_ids)}

	def tenants_with_work(self):
		return [TENANT]

	def now(self):
		return datetime.now()


class FakeGateway:
	"""Records every call; `hooks[method]` may replace what a call does."""

	def __init__(self, **hooks):
		self.calls: list[str] = []
		self.hooks = hooks
		self.documents: list[XeroRecord] = []

	def _record(self, method, *args):
		self.calls.append(method)
		if method in self.hooks:
			return self.hooks[method](*args)
		return None

	def find_documents(self, tenant_id, kind, numbers, contact_ids=()):
		hooked = self._record("find_documents", kind, numbers)
		return hooked if hooked is not None else [d for d in self.documents if d.number in numbers]

	def get_documents(self, tenant_id, kind, xero_ids):
		self._record("get_documents", kind, xero_ids)
		return [d for d in self.documents if d.xero_id in xero_ids]

	def wire_sizes(self, kind, bodies):
		return [len(json.dumps(b, default=str)) for b in bodies]

	def create_documents(self, tenant_id, kind, bodies, idempotency_key, send_by=None):
		hooked = self._record("create_documents", kind, bodies)
		if hooked is not None:
			return hooked
		created = [
			XeroRecord(
				kind, f"x-{b['InvoiceNumber']}", b["InvoiceNumber"], "AUTHORISED", "contact-1", Decimal("10")
			)
			for b in bodies
		]
		self.documents += created
		return [ElementResult(r) for r in created]

	def set_statuses(self, tenant_id, kind, changes, idempotency_key):
		self._record("set_statuses", kind, changes)
		return [ElementResult(XeroRecord(kind, x, None, s)) for x, s in changes]


class FakeErp:
	def load(self, doctype, name):
		return {"doctype": doctype, "name": name, "customer": "CUST-1", "supplier": "SUP-1", "docstatus": 1}

	def docstatuses(self, refs):
		return {ref: 1 for ref in refs}

	def contact_id(self, party_type, party, tenant_id):
		return "contact-1"

	def xero_id_of(self, doctype, name):
		return None


def _mapper(doc, *, contact_id, **kwargs) -> XeroPayload:
	kind = Kind.BILL if doc["doctype"] == "Purchase Invoice" else Kind.SALES_INVOICE
	return XeroPayload(
		kind=kind,
		number=doc["name"],
		contact_id=contact_id,
		body={"InvoiceNumber": doc["name"]},
		total=Decimal("10"),
		date=date(2026, 11, 2),
		url=f"https://erp.example.test/app/{doc['name']}",
	)


def _row(name="PINV-1", doctype="Purchase Invoice", **fields) -> SyncRow:
	return SyncRow(
		name=f"row-{name}",
		reference_doctype=doctype,
		reference_name=name,
		company="C",
		tenant_id=TENANT,
		**fields,
	)


def _drain(journal, gateway, **kwargs):
	return drain(
		TENANT,
		journal=journal,
		erp=FakeErp(),
		masters=None,
		gateway=gateway,
		config=CONFIG,
		mapper=_mapper,
		**kwargs,
	)


def test_a_worker_whose_synced_write_meets_a_lost_lease_drops_the_row_and_never_voids():
	journal = FakeJournal(_row("SINV-1", "Sales Invoice"))

	def created_then_stalled(kind, bodies):
		journal.steal("row-SINV-1")  # frozen past the lease; another worker adopts the invoice meanwhile
		record = XeroRecord(kind, "x-1", "SINV-1", "AUTHORISED", "contact-1", Decimal("10"))
		return [ElementResult(record)]

	gateway = FakeGateway(create_documents=created_then_stalled)
	report = _drain(journal, gateway)
	assert gateway.calls == ["create_documents"]  # no get_documents, no set_statuses after the refusal
	assert report.voided == 0 and journal.outcomes["row-SINV-1"] == []


@pytest.mark.parametrize("sent_age", [0.5, 419.0])
def test_a_lookup_miss_while_a_request_may_be_in_flight_waits_and_never_creates(sent_age):
	row = _row(send_started=True, key_generation=0, sent_age=sent_age)
	row.sent_identity = _mapper(
		FakeErp().load("Purchase Invoice", "PINV-1"), contact_id="contact-1"
	).identity()
	journal = FakeJournal(row)
	gateway = FakeGateway()
	_drain(journal, gateway)
	assert gateway.calls == ["find_documents"]
	(outcome,) = journal.outcomes[row.name]
	assert outcome.status == Status.QUEUED
	assert outcome.retry_in == pytest.approx(CONFIG.in_flight_seconds - sent_age + 1)
	assert "may still reach Xero" in outcome.message


def test_a_lookup_miss_after_the_in_flight_window_creates_under_a_fresh_key_generation():
	row = _row(send_started=True, key_generation=0, sent_age=float(CONFIG.in_flight_seconds))
	journal = FakeJournal(row)
	gateway = FakeGateway()
	report = _drain(journal, gateway)
	assert gateway.calls == ["find_documents", "create_documents"]
	assert report.synced == 1 and journal.rows[row.name].key_generation == 1


def test_a_create_refused_before_it_left_clears_the_write_ahead_marker():
	journal = FakeJournal(_row())

	def refused(kind, bodies):
		raise XeroError("Rate limit.", error_class=ErrorClass.RATE_LIMITED, retry_after=5)

	report = _drain(journal, FakeGateway(create_documents=refused))
	assert report.stopped_by == ErrorClass.RATE_LIMITED.value
	assert journal.unmarked == ["row-PINV-1"]
	assert journal.rows["row-PINV-1"].send_started is False


def test_a_timeout_keeps_the_marker_and_its_in_flight_age():
	journal = FakeJournal(_row())

	def timed_out(kind, bodies):
		raise XeroError("Timeout.", error_class=ErrorClass.TRANSIENT, may_have_committed=True)

	_drain(journal, FakeGateway(create_documents=timed_out))
	row = journal.rows["row-PINV-1"]
	assert journal.unmarked == [] and row.send_started and row.sent_age is not None


def test_an_unexpected_exception_is_retried_then_failed_with_its_trace():
	journal = FakeJournal(_row())

	def malformed(kind, bodies):
		raise ValueError("Invalid isoformat string")

	gateway = FakeGateway(create_documents=malformed)
	for _ in range(UNEXPECTED_ATTEMPTS + 1):
		_drain(journal, gateway)
		journal.wake()
	outcomes = journal.outcomes["row-PINV-1"]
	assert [o.status for o in outcomes] == [Status.QUEUED] * (UNEXPECTED_ATTEMPTS - 1) + [Status.FAILED]
	assert {o.error_class for o in outcomes} == {ErrorClass.UNEXPECTED}
	assert len(journal.traces) == UNEXPECTED_ATTEMPTS and all("ValueError" in t for t in journal.traces)
