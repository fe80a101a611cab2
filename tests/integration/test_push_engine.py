"""The drain end to end: MariaDB journal, real xero-python SDK over HTTP, the emulator's ledger as the truth.

Each crash test kills the drain at one step (a BaseException, so nothing in the engine can catch it),
lets the lease expire, runs a fresh drain, and checks Xero holds exactly one live document.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from tests.support.world import World, clone


class Crash(BaseException):
	"""A worker killed at a precise point (SIGKILL would leave the same committed state)."""


class CrashAfter:
	"""Proxy that lets the named method run (so its effects happen) and then kills the worker."""

	def __init__(self, target, method: str, times: int = 1):
		self._target, self._method, self._left = target, method, times

	def __getattr__(self, name):
		attr = getattr(self._target, name)
		if name != self._method or not callable(attr):
			return attr

		def wrapper(*args, **kwargs):
			result = attr(*args, **kwargs)
			if self._left > 0:
				self._left -= 1
				raise Crash(f"killed after {name}")
			return result

		return wrapper


def _invoice(world: World, n: int = 1) -> str:
	name = f"SINV-T-{uuid.uuid4().hex[:6]}-{n}"
	world.submit(clone("si_nz_exclusive_discount", name))
	return name


def _recover(world: World):
	world.clock.advance(LEASE_SECONDS + 1)
	return world.drain()


def test_a_batch_of_invoices_costs_one_create_call(world, emulator):
	names = [_invoice(world, i) for i in range(20)]
	emulator.reset_counters()
	report = world.drain()
	assert report.synced == 20
	# Contacts: 1 lookup by number, 1 by name, 1 create; invoices: 1 PUT and no lookup.
	assert emulator.calls[("PUT", "Invoices")] == 1
	assert emulator.calls[("GET", "Invoices")] == 0
	for name in names:
		log = world.log(name)
		assert log["status"] == "Synced" and log["xero_id"]
		assert len(world.live(name)) == 1
		assert world.live(name)[0]["total"] == Decimal("1052.00")  # rounded_total, via the rounding line


def test_steady_state_with_known_contacts_is_one_call_per_fifty(world, emulator):
	_invoice(world, 0)
	world.drain()  # learns the contact
	for i in range(50):
		_invoice(world, i + 1)
	emulator.reset_counters()
	report = world.drain()
	assert report.synced == 50
	assert emulator.total_calls(world.tenant_id) == 1


def test_crash_after_the_ids_are_stored_leaves_one_invoice(world):
	name = _invoice(world)
	with pytest.raises(Crash):
		world.drain(journal=CrashAfter(world.journal(), "store_xero_ids"))
	report = _recover(world)
	assert report.synced == 1
	assert len(world.live(name)) == 1
	assert world.log(name)["status"] == "Synced"


def test_crash_between_the_send_gate_and_the_request_waits_out_the_in_flight_window(world, emulator):
	"""Killed after the write-ahead gate: nobody can tell whether the request left. The next claim looks,
	finds nothing, and waits until no request of that attempt could still land; then it creates once."""
	name = _invoice(world)
	with pytest.raises(Crash):
		world.drain(journal=CrashAfter(world.journal(), "mark_sending"))
	emulator.reset_counters()
	report = _recover(world)
	assert (report.synced, report.requeued) == (0, 1)
	assert emulator.calls[("PUT", "Invoices")] == 0
	assert "may still reach Xero" in world.log(name)["error_message"]
	world.clock.advance(world.config.in_flight_seconds)
	assert world.drain().synced == 1
	assert len(world.live(name)) == 1


def test_crash_after_create_before_the_id_is_stored_adopts_instead_of_creating(world, emulator):
	name = _invoice(world)
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	assert len(world.live(name)) == 1 and world.log(name)["xero_id"] is None
	emulator.reset_counters()
	report = _recover(world)
	assert report.synced == 1
	assert emulator.calls[("PUT", "Invoices")] == 0  # looked up and adopted
	assert len(world.live(name)) == 1
	log = world.log(name)
	assert log["xero_id"] == world.live(name)[0]["xero_id"]
	assert "not sent again" in log["error_message"]


def test_crash_after_the_lookup_then_recovery(world):
	name = _invoice(world)
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	with pytest.raises(Crash):
		world.clock.advance(LEASE_SECONDS + 1)
		world.drain(gateway=CrashAfter(world.gateway(), "find_documents"))
	_recover(world)
	assert len(world.live(name)) == 1
	assert world.log(name)["status"] == "Synced"


def test_crash_during_the_void_then_recovery(world):
	name = _invoice(world)
	world.drain()
	world.erp.cancel("Sales Invoice", name)
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "set_statuses"))
	report = _recover(world)
	assert report.voided == 1
	assert world.live(name) == []
	assert world.log(name)["status"] == "Voided"


def test_response_lost_after_xero_committed_gives_one_invoice(world, emulator):
	name = _invoice(world)
	emulator.inject("lost_after_commit", method="PUT", endpoint="Invoices", tenant_id=world.tenant_id)
	first = world.drain()
	assert first.requeued == 1 and world.log(name)["status"] == "Queued"
	assert len(world.live(name)) == 1
	world.clock.advance(3600)
	world.drain()
	assert len(world.live(name)) == 1
	assert world.log(name)["status"] == "Synced"


def test_connection_dropped_before_commit_retries_into_one_invoice(world, emulator):
	name = _invoice(world)
	emulator.inject("drop_before_commit", method="PUT", endpoint="Invoices", tenant_id=world.tenant_id)
	world.drain()
	assert world.live(name) == []
	world.clock.advance(3600)
	world.drain()
	assert len(world.live(name)) == 1


@pytest.mark.parametrize("fault", ["500", "503", "429"])
def test_transient_failure_then_success(world, emulator, fault):
	name = _invoice(world)
	emulator.inject(fault, method="PUT", endpoint="Invoices", tenant_id=world.tenant_id)
	report = world.drain()
	log = world.log(name)
	assert report.stopped_by and log["status"] == "Queued" and log["next_attempt_at"]
	assert log["error_class"] == ("Rate Limited" if fault == "429" else "Transient")
	world.clock.advance(3600)
	world.drain()
	assert world.log(name)["status"] == "Synced"
	assert len(world.live(name)) == 1


def test_two_drains_racing_on_the_same_documents(world, emulator, database):
	names = [_invoice(world, i) for i in range(30)]
	other = World.__new__(World)  # a second worker: its own MariaDB connection, its own gateway
	other.__dict__.update(world.__dict__)
	from tests.support.db import PyMySqlDb
	from tests.support.erp import SqlErp

	other.db = PyMySqlDb(database)
	other.erp = SqlErp(other.db, world.clock)
	emulator.set_chaos(rate=0)
	other.config = world.config.__class__(**{**world.config.__dict__, "batch_size": 7})
	world.config = other.config
	reports = []
	threads = [
		threading.Thread(target=lambda w=w, i=i: reports.append(w.drain(journal=w.journal(worker=f"w{i}"))))
		for i, w in enumerate((world, other))
	]
	for t in threads:
		t.start()
	for t in threads:
		t.join(60)
	assert sum(r.synced for r in reports) == 30
	for name in names:
		assert len(world.live(name)) == 1
	other.db.close()


def test_cancel_before_the_push_never_reaches_xero(world, emulator):
	name = _invoice(world)
	world.erp.cancel("Sales Invoice", name)
	emulator.reset_counters()
	report = world.drain()
	assert report.skipped == 1
	assert world.log(name)["status"] == "Skipped"
	assert emulator.calls[("PUT", "Invoices")] == 0
	assert world.live(name) == []


class CancelDuringCreate:
	"""Gateway proxy: the accountant cancels the invoice while its create request is in flight."""

	def __init__(self, world: World, name: str):
		self._world, self._name, self._target = world, name, world.gateway()

	def __getattr__(self, attr):
		return getattr(self._target, attr)

	def create_documents(self, *args, **kwargs):
		result = self._target.create_documents(*args, **kwargs)
		from tests.support.db import PyMySqlDb
		from tests.support.erp import SqlErp

		other = PyMySqlDb(self._world.database)
		SqlErp(other, self._world.clock).cancel("Sales Invoice", self._name)
		other.close()
		return result


def test_cancel_during_the_push_is_voided_in_xero(world):
	name = _invoice(world)
	report = world.drain(gateway=CancelDuringCreate(world, name))
	assert report.voided == 1
	assert world.live(name) == []
	ledger = [d for d in world.emulator.ledger(world.tenant_id) if d["number"] == name]
	assert [d["status"] for d in ledger] == ["VOIDED"]
	assert world.log(name)["status"] == "Voided"


def test_validation_error_fails_with_an_actionable_message(make_world):
	world = make_world(currencies=("NZD",))
	name = f"SINV-V-{uuid.uuid4().hex[:6]}"
	world.submit(clone("si_nz_usd", name))
	report = world.drain()
	log = world.log(name)
	assert report.failed == 1 and report.stopped_by == ""
	assert (log["status"], log["error_class"]) == ("Failed", "Validation")
	assert "USD" in log["error_message"] and "Settings" in log["error_message"]
	assert "Nothing was sent" in log["error_message"]
	assert world.live(name) == []


def test_retry_of_a_failed_row_that_did_reach_xero_quietly_marks_it_synced(make_world, emulator):
	from nexwave_xero_connector.sync.journal import requeue

	world = make_world()
	world.config = world.config.__class__(**{**world.config.__dict__, "max_attempts": 1})
	name = _invoice(world)
	emulator.inject("lost_after_commit", method="PUT", endpoint="Invoices", tenant_id=world.tenant_id)
	world.drain()
	log = world.log(name)
	assert (log["status"], log["error_class"]) == ("Failed", "Transient")  # gave up after one attempt
	assert "press Retry" in log["error_message"]
	assert len(world.live(name)) == 1  # but Xero had committed it
	requeue(world.db, [log["name"]], world.clock())  # the accountant presses Retry
	world.db.commit("retry")
	emulator.reset_counters()
	world.drain()
	assert world.log(name)["status"] == "Synced"
	assert emulator.calls[("PUT", "Invoices")] == 0
	assert len(world.live(name)) == 1
