"""Regression tests for issue 10: stalled workers, slow commits, clock skew and ERPNext's lifecycle.

One test (or two) per scenario of the issue, each at the smallest level that shows it: the journal's SQL on
MariaDB where SQL decides, the engine against the emulator (the real SDK over HTTP) where the drain decides.
A stall is simulated by a gateway wrapper that, at the exact point where the worker would freeze, lets the
lease run out and runs another worker to completion before the first one resumes.

Every test here fails on 3092256 (the commit before the fixes); APIs the fixes added are imported inside
the tests that need them, so each test fails there on its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from tests.integration.test_push_engine import Crash, CrashAfter
from tests.support.world import World, clone

# Longer than any in-flight window, back-off or lease these tests meet.
LATER = 3600


def _uid() -> str:
	return uuid.uuid4().hex[:6]


def _invoice(world: World, customer: str | None = None) -> str:
	name = f"SINV-R-{_uid()}"
	changes = {"customer": customer} if customer else {}
	world.submit(clone("si_nz_exclusive_discount", name, **changes))
	return name


def _bill(world: World) -> tuple[str, str]:
	name, bill_no = f"PINV-R-{_uid()}", f"SP-{_uid()}"
	world.submit(clone("pi_nz_freight", name, bill_no=bill_no))
	return name, bill_no


def _ledger(world: World, number: str) -> list[dict]:
	return [d for d in world.emulator.ledger(world.tenant_id) if d["number"] == number]


def _expire_lease(world: World, reference_name: str) -> None:
	"""The worker holding the row stalls past its lease (as seen by the database)."""
	world.db.execute(
		"UPDATE `tabXero Sync Log` SET lease_expires_at = '2000-01-01' WHERE reference_name = %(n)s",
		{"n": reference_name},
	)
	world.db.commit("test: the lease ran out while its worker was frozen")


class Wrap:
	"""A gateway whose named methods run `before`/`after` hooks around the real call."""

	def __init__(self, target, **hooks):
		self._target, self._hooks = target, hooks

	def __getattr__(self, name):
		attr = getattr(self._target, name)
		hook = self._hooks.get(name)
		return attr if hook is None else (lambda *a, **k: hook(attr, *a, **k))


# -- 1. a worker that lost its lease never voids --------------------------------------------------------


def test_1_a_worker_that_lost_its_lease_after_create_never_voids_the_live_invoice(world, emulator):
	name = _invoice(world)
	resumed = {}

	def stall_after_create(real, *args, **kwargs):
		results = real(*args, **kwargs)  # Xero committed the create; then worker A freezes
		_expire_lease(world, name)
		b = world.drain(journal=world.journal(worker="B"))  # B adopts A's invoice by lookup
		assert b.synced == 1 and world.log(name)["status"] == "Synced"
		emulator.reset_counters()
		resumed["calls"] = True
		return results  # A resumes with Xero's answer

	a = world.drain(
		journal=world.journal(worker="A"), gateway=Wrap(world.gateway(), create_documents=stall_after_create)
	)
	assert resumed
	assert [d["status"] for d in _ledger(world, name)] == ["AUTHORISED"]
	assert a.voided == 0
	assert emulator.total_calls(world.tenant_id) == 0  # A made no Xero call for the row it lost
	(live,) = world.live(name)
	assert live["status"] == "AUTHORISED"
	log = world.log(name)
	assert (log["status"], log["xero_id"]) == ("Synced", live["xero_id"])


# -- 2. a lookup miss proves nothing while an earlier request may be in flight -----------------------------


def test_2a_a_create_committed_after_the_retrys_lookup_leaves_one_bill(world):
	"""Xero commits the first create after the client's read timeout, and after the retry looked it up."""
	name, bill_no = _bill(world)
	first = {}

	def time_out(real, *args, **kwargs):
		if not first:
			first["args"] = args  # the request is on its way, but Xero has not committed it yet
			raise XeroError(
				"Xero did not answer in time.", error_class=ErrorClass.TRANSIENT, may_have_committed=True
			)
		return real(*args, **kwargs)

	def commit_after_lookup(real, *args, **kwargs):
		found = real(*args, **kwargs)
		if first and "landed" not in first:
			first["landed"] = world.gateway().create_documents(*first["args"])  # Xero commits it now
		return found

	gateway = Wrap(world.gateway(), create_documents=time_out, find_documents=commit_after_lookup)
	world.drain(gateway=gateway)
	assert world.live(bill_no) == []
	world.clock.advance(31)  # the retry's back-off
	world.drain(gateway=gateway)
	assert first.get("landed") and first["landed"][0].ok
	world.clock.advance(LATER)
	world.drain(gateway=gateway)
	live = world.live(bill_no)
	assert len(live) == 1, [d["xero_id"] for d in live]
	log = world.log(name)
	assert (log["status"], log["xero_id"]) == ("Synced", live[0]["xero_id"])


def test_2b_a_request_that_leaves_after_its_worker_lost_the_lease_leaves_one_bill(world):
	"""A passes the send gate, freezes before its request leaves; B takes the row, finds nothing."""
	name, bill_no = _bill(world)
	stalled = {}

	def stall_before_sending(real, *args, **kwargs):
		if not stalled:
			stalled["yes"] = True
			_expire_lease(world, name)
			world.drain(journal=world.journal(worker="B"))
			assert world.live(bill_no) == []  # B must wait, not create
		return real(*args, **kwargs)  # A's request, built before the stall, lands

	world.drain(
		journal=world.journal(worker="A"),
		gateway=Wrap(world.gateway(), create_documents=stall_before_sending),
	)
	assert stalled
	world.clock.advance(LATER)
	world.drain()
	live = world.live(bill_no)
	assert len(live) == 1, [d["xero_id"] for d in live]
	log = world.log(name)
	assert (log["status"], log["xero_id"]) == ("Synced", live[0]["xero_id"])


# -- 3. log clearing ------------------------------------------------------------------------------------


def _synced_then_cleared(world: World) -> str:
	from nexwave_xero_connector.sync.journal import clear_old_rows

	name = _invoice(world)
	assert world.drain().synced == 1
	world.clock.advance(1)
	assert clear_old_rows(world.db, world.clock()) == 1  # what Log Settings does after 90 days
	world.db.commit("test: log settings cleared the log")
	return name


def test_3_cancel_after_the_log_was_cleared_voids_the_invoice(world):
	from nexwave_xero_connector.sync.journal import queue_void_of_cleared

	name = _synced_then_cleared(world)
	world.erp.cancel("Sales Invoice", name)  # finds no row to flag
	doc = world.db.query(
		"SELECT xero_id, xero_status FROM `tabSales Invoice` WHERE name = %(n)s", {"n": name}
	)[0]
	queue_void_of_cleared(  # what on_cancel does when the document has a Xero ID but no row
		world.db,
		doctype="Sales Invoice",
		name=name,
		company="Kiwi Test Ltd",
		tenant_id=world.tenant_id,
		xero_type=Kind.SALES_INVOICE.value,
		xero_id=doc["xero_id"],
		xero_status=doc["xero_status"],
		now=world.clock(),
	)
	world.db.commit("test: cancel hook")
	assert world.drain().voided == 1
	assert world.live(name) == []
	assert [d["status"] for d in _ledger(world, name)] == ["VOIDED"]
	assert world.log(name)["status"] == "Voided"


def test_3_the_orphan_scan_finds_a_cancelled_invoice_whose_log_was_cleared(world):
	from nexwave_xero_connector.sync.journal import flag_cancelled_without_row

	name = _synced_then_cleared(world)
	# Cancelled without the hook (connector off): only the document's own Xero ID links it to Xero.
	world.db.execute("UPDATE `tabSales Invoice` SET docstatus = 2 WHERE name = %(n)s", {"n": name})
	found = flag_cancelled_without_row(
		world.db, world.clock(), lambda company: world.tenant_id, lambda doctype, is_return: "ACCREC"
	)
	world.db.commit("test: orphan scan")
	assert found == [("Sales Invoice", name)]
	assert world.drain().voided == 1
	assert world.live(name) == []
	assert world.log(name)["status"] == "Voided"


# -- 4. deleting a cancelled invoice, and a reused name -----------------------------------------------


def _delete_and_reuse(world: World, name: str) -> None:
	world.erp.delete("Sales Invoice", name)
	(old,) = world.db.query(
		"SELECT reference_name, deleted_reference FROM `tabXero Sync Log` WHERE deleted_reference = %(n)s",
		{"n": name},
	)
	assert old["reference_name"] is None  # detached: the name is free, the history kept
	world.submit(clone("si_nz_exclusive_discount", name))  # ERPNext reverted the series: same name


def test_4_a_deleted_unsent_invoices_name_is_reused_by_a_new_invoice_that_is_pushed(world):
	name = _invoice(world)
	world.erp.cancel("Sales Invoice", name)
	assert world.drain().skipped == 1  # cancelled before it was sent
	_delete_and_reuse(world, name)
	assert world.drain().synced == 1
	log = world.log(name)
	assert (log["status"], log["cancel_requested"]) == ("Synced", 0)
	assert "cancelled before it was sent" not in (log["error_message"] or "").lower()
	assert len(world.live(name)) == 1


def test_4_a_reused_name_that_xero_keeps_on_a_voided_invoice_fails_with_what_to_do(world):
	name = _invoice(world)
	world.drain()
	world.erp.cancel("Sales Invoice", name)
	assert world.drain().voided == 1
	_delete_and_reuse(world, name)
	assert world.drain().failed == 1
	log = world.log(name)
	assert (log["status"], log["error_class"]) == ("Failed", "Conflict")
	assert "voided" in log["error_message"] and "new name" in log["error_message"]
	assert "cancelled before it was sent" not in log["error_message"].lower()
	assert world.live(name) == []  # no duplicate
	assert [d["status"] for d in _ledger(world, name)] == ["VOIDED"]


def test_4_resubmitting_a_skipped_row_drops_the_old_cancel(world):
	from nexwave_xero_connector.sync.journal import requeue_on_submit

	name = _invoice(world)
	world.erp.cancel("Sales Invoice", name)
	world.drain()
	log = world.log(name)
	assert (log["status"], log["cancel_requested"]) == ("Skipped", 1)
	# A new, submitted document of that name meets the old row (no delete hook ran).
	world.db.execute("UPDATE `tabSales Invoice` SET docstatus = 1 WHERE name = %(n)s", {"n": name})
	assert requeue_on_submit(
		world.db,
		log["name"],
		tenant_id=world.tenant_id,
		company="Kiwi Test Ltd",
		user="test",
		now=world.clock(),
	)
	world.db.commit("test: submit hook")
	assert world.drain().synced == 1
	assert world.log(name)["status"] == "Synced"
	assert len(world.live(name)) == 1


# -- 5. and 6. contacts ----------------------------------------------------------------------------------


def test_5_two_customers_with_the_same_name_each_get_their_own_contact(world, emulator):
	first, second = f"CUST-{_uid()}", f"CUST-{_uid()}"
	for party in (first, second):
		world.erp.add_party("Customer", party)
	world.db.execute(
		"UPDATE `tabCustomer` SET customer_name = 'Kauri Builders' WHERE name IN %(n)s",
		{"n": (first, second)},
	)
	world.db.commit("test: two customers, one display name")
	invoice_1 = _invoice(world, first)
	assert world.drain().synced == 1
	invoice_2 = _invoice(world, second)
	assert world.drain().synced == 1
	contact_1 = world.erp.contact_id("Customer", first, world.tenant_id)
	contact_2 = world.erp.contact_id("Customer", second, world.tenant_id)
	assert contact_1 and contact_2 and contact_1 != contact_2
	assert world.live(invoice_1)[0]["contact_id"] == contact_1
	assert world.live(invoice_2)[0]["contact_id"] == contact_2


def test_5_a_customer_named_by_its_name_gets_its_own_contact_beside_another_numbered_one(world, emulator):
	# ERPNext's default Customer naming makes the ID the name. Xero already has a contact of that name
	# numbered by someone else (CUST-1): it is not adopted, and "Name (ID)" would be the same name again,
	# which Xero refuses. The party gets its own contact under a name Xero does not have yet.
	party = f"Tui Hardware {_uid()}"
	world.erp.add_party("Customer", party)
	theirs = emulator.add_contact(world.tenant_id, party, contact_number="CUST-1")
	name = _invoice(world, party)
	report = world.drain()
	log = world.log(name)
	assert (report.synced, log["status"]) == (1, "Synced"), log["error_message"]
	ours = world.erp.contact_id("Customer", party, world.tenant_id)
	assert ours and ours != theirs
	assert world.live(name)[0]["contact_id"] == ours
	by_id = {c["contact_id"]: c for c in emulator.contacts(world.tenant_id)}
	assert by_id[ours]["number"] == party and by_id[ours]["name"] != party
	assert (by_id[theirs]["name"], by_id[theirs]["number"]) == (party, "CUST-1")


def test_6_a_contact_another_drain_just_created_is_adopted(world, emulator):
	party = f"CUST-{_uid()}"
	world.erp.add_party("Customer", party)
	made = {}

	def other_drain_first(real, tenant_id, requests, *args, **kwargs):
		# Between our find and our create, another drain creates the same new party's contact.
		made["id"] = emulator.add_contact(tenant_id, requests[0].name, contact_number=requests[0].party)
		return real(tenant_id, requests, *args, **kwargs)

	name = _invoice(world, party)
	report = world.drain(gateway=Wrap(world.gateway(), create_contacts=other_drain_first))
	assert made
	log = world.log(name)
	assert (report.synced, log["status"]) == (1, "Synced"), log["error_message"]
	assert world.erp.contact_id("Customer", party, world.tenant_id) == made["id"]
	assert world.live(name)[0]["contact_id"] == made["id"]


# -- 7. cancel after an interrupted push, mapping changed meanwhile ------------------------------------


def test_7_cancel_after_an_interrupted_push_voids_the_live_copy_despite_a_changed_mapping(world):
	name = _invoice(world)
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	assert len(world.live(name)) == 1 and world.log(name)["xero_id"] is None
	world.config = world.config.__class__(**{**world.config.__dict__, "tax_map": {}})  # mapping removed
	world.erp.cancel("Sales Invoice", name)
	world.clock.advance(LEASE_SECONDS + 1)
	report = world.drain()
	log = world.log(name)
	assert (report.voided, log["status"]) == (1, "Voided"), log["error_message"]
	assert world.live(name) == []


# -- 8. leases run on the database's clock ------------------------------------------------------------


@pytest.mark.parametrize("skew_hours", [1, -1])
def test_8_a_skewed_worker_neither_steals_nor_shortens_a_lease(world, skew_hours):
	name = _invoice(world)
	skewed = SqlJournal(world.db, lambda: world.clock() + timedelta(hours=skew_hours), worker="skewed")
	honest = world.journal(worker="honest")
	if skew_hours > 0:  # a worker an hour ahead (or past a DST jump) meets a fresh lease
		assert [r.reference_name for r in honest.claim(world.tenant_id, "h", 50, LEASE_SECONDS)] == [name]
		assert skewed.claim(world.tenant_id, "s", 50, LEASE_SECONDS) == []
	else:  # a worker an hour behind takes a lease that must still last LEASE_SECONDS
		assert [r.reference_name for r in skewed.claim(world.tenant_id, "s", 50, LEASE_SECONDS)] == [name]
		assert honest.claim(world.tenant_id, "h", 50, LEASE_SECONDS) == []
	world.clock.advance(LEASE_SECONDS + 1)
	assert [r.reference_name for r in honest.claim(world.tenant_id, "h2", 50, LEASE_SECONDS)] == [name]


# -- 9. a permanent error on one void call ------------------------------------------------------------


def test_9_a_refused_void_call_only_affects_its_own_rows(world):
	"""Two voids of different kinds go in two calls; Xero refuses the first call as a whole (a permanent
	error). Only that call's row is shown with the reason; the other void and the new push go through."""
	invoice = _invoice(world)
	bill, bill_no = _bill(world)
	assert world.drain().synced == 2
	world.erp.cancel("Sales Invoice", invoice)
	world.erp.cancel("Purchase Invoice", bill)
	fresh = _invoice(world)
	refused = []

	def refuse_the_first_call(real, tenant_id, kind, *args, **kwargs):
		if not refused:
			refused.append(kind)
			raise XeroError("Invoice not of valid status for modification", error_class=ErrorClass.VALIDATION)
		return real(tenant_id, kind, *args, **kwargs)

	report = world.drain(gateway=Wrap(world.gateway(), set_statuses=refuse_the_first_call))
	assert report.claimed == 3 and report.batches == 1  # one batch: the refusal could reach every row
	(refused_kind,) = refused
	hit, spared = (invoice, bill) if refused_kind == Kind.SALES_INVOICE else (bill, invoice)
	assert world.log(fresh)["status"] == "Synced"
	spared_log = world.log(spared)
	assert spared_log["status"] == "Voided", spared_log["error_message"]
	log = world.log(hit)
	assert log["status"] == "Orphan"
	assert "not of valid status" in log["error_message"]
	live = {d["number"] for d in world.live()}
	assert (invoice in live, bill_no in live) == (hit == invoice, hit == bill)


# -- 13. smaller recovery faults ------------------------------------------------------------------------


def _refused_by_governor(real, *args, **kwargs):
	raise XeroError("Xero's minute limit is used up.", error_class=ErrorClass.RATE_LIMITED, retry_after=5)


@pytest.mark.parametrize("refusal", ["429", "governor"])
def test_13a_a_refused_create_leaves_no_marker_so_the_retry_pays_no_lookup(world, emulator, refusal):
	_invoice(world)
	world.drain()  # the contact is known; the create goes next
	name = _invoice(world)
	if refusal == "429":
		emulator.inject("429", method="PUT", endpoint="Invoices", tenant_id=world.tenant_id)
		world.drain()
	else:
		world.drain(gateway=Wrap(world.gateway(), create_documents=_refused_by_governor))
	log = world.log(name)
	assert (log["status"], log["send_started"]) == ("Queued", 0)
	world.clock.advance(LATER)
	emulator.reset_counters()
	assert world.drain().synced == 1
	assert emulator.calls[("GET", "Invoices")] == 0
	assert len(world.live(name)) == 1


def _malformed(real, *args, **kwargs):
	raise ValueError("Invalid isoformat string: '2026-13-45'")


def _drain_until_settled(world: World, journal) -> int:
	"""Drain (with the malformed-date gateway) until the row leaves the queue; return the drains."""
	gateway = Wrap(world.gateway(), create_documents=_malformed)
	for drains in range(1, 11):
		world.drain(journal=journal, gateway=gateway)
		if world.db.query("SELECT status FROM `tabXero Sync Log` WHERE status = 'Queued'", {}) == []:
			return drains
		world.clock.advance(LATER)
	return drains


def test_13b_an_unexpected_exception_fails_after_the_cap_instead_of_retrying_forever(world):
	name = _invoice(world)
	drains = _drain_until_settled(world, world.journal())
	log = world.log(name)
	assert (log["status"], log["error_class"]) == ("Failed", "Unexpected")
	from nexwave_xero_connector.sync.drain import UNEXPECTED_ATTEMPTS

	assert drains == log["attempts"] == UNEXPECTED_ATTEMPTS
	assert "ValueError" in log["error_message"] and "Retry" in log["error_message"]
	assert world.live(name) == []


def test_13b_an_unexpected_exception_hands_its_trace_to_the_error_log(world):
	calls = []

	def sink(title, trace, row_name):
		calls.append((title, trace, row_name))
		return f"err-{len(calls)}"

	name = _invoice(world)
	journal = SqlJournal(world.db, world.clock, worker="t", trace_sink=sink)
	_drain_until_settled(world, journal)
	log = world.log(name)
	assert log["status"] == "Failed" and calls
	assert {c[2] for c in calls} == {log["name"]}
	assert all("ValueError" in trace and "Traceback" in trace for _, trace, _ in calls)
	assert log["error_log"] == f"err-{len(calls)}"


def test_4_a_drain_holding_a_deleted_documents_row_never_writes_onto_the_document_that_reused_its_name(
	world,
):
	"""Found by the 10,000-document chaos run: a drain claims the cancelled invoice's row, the invoice is
	deleted and a new one reuses its name, then the drain records the void. The old copy's Xero ID and
	status must stay on the detached row, never land on the new invoice."""
	from nexwave_xero_connector.sync.model import Outcome, Status

	name = _invoice(world)
	world.drain()
	old_id = world.log(name)["xero_id"]
	world.erp.cancel("Sales Invoice", name)
	journal = world.journal("stalled")
	(row,) = journal.claim(world.tenant_id, "stalled-owner", 50, LEASE_SECONDS)
	world.erp.delete("Sales Invoice", name)
	world.submit(clone("si_nz_exclusive_discount", name))
	assert journal.finish(
		"stalled-owner", row, Outcome(Status.VOIDED, "voided", xero_id=old_id, xero_status="VOIDED")
	)
	assert world.erp.xero_id_of("Sales Invoice", name) is None  # the new invoice is not in Xero yet
	status = world.db.query("SELECT xero_status FROM `tabSales Invoice` WHERE name = %(n)s", {"n": name})
	assert status == [{"xero_status": None}]
