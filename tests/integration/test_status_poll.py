"""The status poll against the emulator and MariaDB: Xero's status and amounts back on Synced rows and
their documents, the drift scan folded into the same listing, and what it costs in calls."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.status_poll import OVERLAP, poll_tenant, refresh_documents
from tests.support.world import World, clone

D = Decimal


class MemoryWatermarks:
	def __init__(self):
		self.values: dict[str, datetime] = {}

	def get(self, tenant_id):
		return self.values.get(tenant_id)

	def put(self, tenant_id, value):
		self.values[tenant_id] = value


def _uid() -> str:
	return uuid.uuid4().hex[:6]


def poll(world: World, marks: MemoryWatermarks, gateway=None):
	report = poll_tenant(
		world.tenant_id,
		gateway=gateway or world.gateway(),
		db=world.db,
		watermarks=marks,
		started=datetime.now(timezone.utc),
		now=world.clock(),
	)
	world.db.commit("poll")
	return report


def facts(world: World, doctype: str, name: str) -> tuple:
	row = world.db.query(
		f"SELECT xero_status, xero_amount_paid, xero_amount_credited, xero_amount_due, xero_fully_paid_on "
		f"FROM `tab{doctype}` WHERE name = %(n)s",
		{"n": name},
	)[0]
	log = world.log(name)
	kept = tuple(row.values())
	assert kept == (
		log["xero_status"],
		log["xero_amount_paid"],
		log["xero_amount_credited"],
		log["xero_amount_due"],
		log["xero_fully_paid_on"],
	), "the log row and the document disagree"
	return kept


def test_payments_in_xero_come_back_as_status_and_amounts(world, emulator):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	marks = MemoryWatermarks()
	poll(world, marks)
	xero_id = world.log(name)["xero_id"]
	(doc,) = world.live(name)
	total = doc["total"]
	assert facts(world, "Sales Invoice", name) == ("AUTHORISED", D(0), D(0), total, None)

	first = emulator.pay(world.tenant_id, xero_id, D("100.00"))
	assert poll(world, marks).updated == [name]
	assert facts(world, "Sales Invoice", name) == ("AUTHORISED", D(100), D(0), total - 100, None)

	emulator.pay(world.tenant_id, xero_id, total - 100)
	poll(world, marks)
	status, paid, credited, due, paid_on = facts(world, "Sales Invoice", name)
	assert (status, paid, credited, due) == ("PAID", total, D(0), D(0))
	assert paid_on is not None

	emulator.unpay(world.tenant_id, first)
	poll(world, marks)
	assert facts(world, "Sales Invoice", name) == ("AUTHORISED", total - 100, D(0), D(100), None)
	assert world.log(name)["status"] == "Synced"


def test_a_quiet_organisation_costs_two_calls_and_nothing_is_rewritten(world, emulator):
	names = [f"SINV-{_uid()}" for _ in range(3)]
	for name in names:
		world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	marks = MemoryWatermarks()
	first = poll(world, marks)
	assert sorted(first.updated) == sorted(names)
	emulator.reset_counters()
	again = poll(world, marks)
	# the overlap re-lists what changed in the last minutes, but the summaries match what we hold
	assert (again.updated, again.fetched) == ([], 0)
	assert again.listed == 3
	assert emulator.total_calls(world.tenant_id) == 2  # one GET /Invoices, one GET /CreditNotes
	assert marks.get(world.tenant_id) <= datetime.now(timezone.utc) - OVERLAP


def test_a_changed_invoice_is_read_by_id_once_in_a_batch(world, emulator):
	names = [f"SINV-{_uid()}" for _ in range(3)]
	for name in names:
		world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	marks = MemoryWatermarks()
	poll(world, marks)
	for name in names[:2]:
		emulator.pay(world.tenant_id, world.log(name)["xero_id"], D("10.00"))
	emulator.reset_counters()
	report = poll(world, marks)
	assert sorted(report.updated) == sorted(names[:2]) and report.fetched == 2
	assert emulator.total_calls(world.tenant_id) == 3  # the two listings + one GET /Invoices?IDs=a,b
	assert facts(world, "Sales Invoice", names[2])[1] == D(0)


def test_the_poll_is_the_drift_scan_too(world, emulator):
	voided, kept = f"SINV-{_uid()}", f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", voided))
	world.submit(clone("si_nz_exclusive_discount", kept))
	world.drain()
	marks = MemoryWatermarks()
	poll(world, marks)
	gateway = world.gateway()
	xero_id = world.log(voided)["xero_id"]
	gateway.set_statuses(world.tenant_id, Kind.SALES_INVOICE, [(xero_id, "VOIDED")], f"k-{_uid()}")
	emulator.reset_counters()
	report = poll(world, marks)
	assert report.flagged == [voided]
	assert emulator.total_calls(world.tenant_id) == 2
	log = world.log(voided)
	assert (log["status"], log["error_class"], log["xero_status"]) == ("Failed", "Conflict", "VOIDED")
	assert "was voided in Xero" in log["error_message"]
	assert world.db.query(
		"SELECT xero_status, xero_amount_due FROM `tabSales Invoice` WHERE name = %(n)s", {"n": voided}
	)[0] == {"xero_status": "VOIDED", "xero_amount_due": D(0)}
	assert world.log(kept)["status"] == "Synced"


def test_credit_note_refunds_and_allocations_come_back_on_the_return(world, emulator):
	original, ret = f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.drain()
	emulator.pay(world.tenant_id, world.log(original)["xero_id"], D("4383.00"))
	world.submit(clone("si_nz_return", ret, return_against=original, update_outstanding_for_self=0))
	world.drain()  # the original is paid: the credit note stays unallocated
	emulator.refund(world.tenant_id, world.log(ret)["xero_id"], D("506.00"))
	poll(world, MemoryWatermarks())
	assert facts(world, "Sales Invoice", ret) == ("AUTHORISED", D(506), D(0), D(1000), None)
	status, paid, _credited, due, paid_on = facts(world, "Sales Invoice", original)
	assert (status, paid, due) == ("PAID", D(4383), D(0)) and paid_on is not None


def test_a_lost_watermark_or_a_replayed_hint_reaches_the_same_state(world, emulator):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	xero_id = world.log(name)["xero_id"]
	emulator.pay(world.tenant_id, xero_id, D("100.00"))
	poll(world, MemoryWatermarks())
	settled = facts(world, "Sales Invoice", name)

	again = poll(world, MemoryWatermarks())  # watermark lost: lists everything, writes nothing new
	assert again.updated == [] and facts(world, "Sales Invoice", name) == settled
	for _ in range(2):  # a webhook hint, delivered twice
		hinted = refresh_documents(
			world.tenant_id,
			{Kind.SALES_INVOICE: [xero_id]},
			gateway=world.gateway(),
			db=world.db,
			now=world.clock(),
		)
		world.db.commit("hint")
		assert hinted.updated == [] and facts(world, "Sales Invoice", name) == settled


def test_a_hint_brings_a_payment_in_before_the_poll(world, emulator):
	name = f"PINV-{_uid()}"
	world.submit(clone("pi_nz_freight", name, bill_no=f"SP-{_uid()}"))
	world.drain()
	xero_id = world.log(name)["xero_id"]
	emulator.pay(world.tenant_id, xero_id, D("999.00"))
	emulator.reset_counters()
	untracked = str(uuid.uuid4())  # a hint about a document we do not track costs no call
	hinted = refresh_documents(
		world.tenant_id,
		{Kind.BILL: [xero_id, untracked], Kind.BILL_CREDIT: [untracked]},
		gateway=world.gateway(),
		db=world.db,
		now=world.clock(),
	)
	world.db.commit("hint")
	assert hinted.updated == [name] and emulator.total_calls(world.tenant_id) == 1
	assert facts(world, "Purchase Invoice", name)[:4] == ("PAID", D(999), D(0), D(0))


def test_rows_not_synced_are_left_to_the_drain(world, emulator):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	emulator.pay(world.tenant_id, world.log(name)["xero_id"], D("10.00"))
	world.db.execute(
		"UPDATE `tabXero Sync Log` SET status = 'Queued' WHERE reference_name = %(n)s", {"n": name}
	)
	world.db.commit("requeued")
	report = poll(world, MemoryWatermarks())
	assert report.updated == [] and world.log(name)["xero_amount_paid"] is None
