"""Payments made in Xero recorded in ERPNext as Payment Entries, end to end: the emulator's Payments as the
truth, listed through the real SDK over HTTP, the MariaDB journal, the stand-in ERP's Payment Entries (with a
unique xero_payment_id, as the custom field on a site). Invoices are the ERPNext 15.92 fixtures."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync import payments_from_xero as pull
from nexwave_xero_connector.sync.config import PAYMENTS_IN_ERPNEXT, PAYMENTS_IN_XERO, TenantLink
from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from nexwave_xero_connector.sync.journal import requeue
from nexwave_xero_connector.sync.model import Kind
from tests.support.db import PyMySqlDb
from tests.support.payment_entries import BANK, COMPANY
from tests.support.world import World, clone

from .test_push_engine import Crash
from .test_status_poll import MemoryWatermarks

D = Decimal
SI, PI = "Sales Invoice", "Purchase Invoice"
LOG = "`tabXero Sync Log`"


@pytest.fixture
def xworld(make_world) -> World:
	return _pulling(make_world())


def _pulling(world: World, **link) -> World:
	tenant = TenantLink(
		COMPANY,
		world.tenant_id,
		COMPANY,
		"!kTl1",
		payments_owned_by=PAYMENTS_IN_XERO,
		pull_payments=True,
		**link,
	)
	world.config = dataclasses.replace(
		world.config,
		tenants=(tenant,),
		bank_account_map={(COMPANY, BANK): "090"},
		mode_of_payment_map={(COMPANY, BANK): "Wire Transfer"},
	)
	world.watermarks = MemoryWatermarks()
	return world


def _synced(world: World, template: str = "si_nz_exclusive_discount", **changes) -> tuple[str, str]:
	"""A document pushed and Synced; returns (name, Xero ID)."""
	doctype = PI if template.startswith("pi_") else SI
	name = f"{'PINV' if doctype == PI else 'SINV'}-{uuid.uuid4().hex[:6]}"
	if doctype == PI:
		changes.setdefault("bill_no", f"B-{name}")
	world.submit(clone(template, name, **changes))
	world.drain()
	row = world.log(name)
	assert row["status"] == "Synced", row["error_message"]
	return name, row["xero_id"]


def _poll(world: World, gateway=None) -> pull.Discovery:
	found = pull.poll_payments(
		world.tenant_id,
		reader=(gateway or world.gateway()).payments,
		db=world.db,
		watermarks=world.watermarks,
		started=datetime.now(timezone.utc),
		now=world.clock(),
		config=world.config,
	)
	world.db.commit("test: poll")
	return found


def _row(world: World, payment_id: str) -> dict:
	return world.db.query(f"SELECT * FROM {LOG} WHERE name = %(n)s", {"n": pull.row_name(payment_id)})[0]


def _entries(world: World, payment_id: str) -> list[dict]:
	return world.db.query(
		"SELECT * FROM `tabPayment Entry` WHERE xero_payment_id = %(p)s ORDER BY creation", {"p": payment_id}
	)


def _reference(world: World, entry: str) -> dict:
	return world.db.query("SELECT * FROM `tabPayment Entry Reference` WHERE parent = %(p)s", {"p": entry})[0]


def test_a_payment_made_in_xero_becomes_one_submitted_payment_entry(xworld):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "400.00", date(2026, 11, 20))

	found = _poll(xworld)
	assert found.queued == [payment_id]
	report = xworld.drain()

	row = _row(xworld, payment_id)
	assert row["status"] == "Synced", row["error_message"]
	(entry,) = _entries(xworld, payment_id)
	assert entry["docstatus"] == 1
	assert row["reference_doctype"] == "Payment Entry" and row["reference_name"] == entry["name"]
	assert (entry["payment_type"], entry["party"], entry["paid_to"]) == ("Receive", "Tui Hardware Ltd", BANK)
	assert entry["posting_date"] == date(2026, 11, 20)
	assert entry["mode_of_payment"] == "Wire Transfer"
	ref = _reference(xworld, entry["name"])
	assert (ref["reference_name"], ref["allocated_amount"]) == (name, D("400"))
	assert xworld.erp.outstanding(SI, name) == D("652")
	assert report.calls == 1  # one read of what Xero has due on the invoice; nothing written to Xero
	assert row["title"] == f"Xero payment {payment_id} recorded as {entry['name']}"

	# The same listing again (a lost watermark, an overlapping window), and another drain: nothing new.
	xworld.watermarks.values.clear()
	assert _poll(xworld).queued == []
	xworld.drain()
	assert len(_entries(xworld, payment_id)) == 1
	assert xworld.erp.outstanding(SI, name) == D("652")


def test_with_a_shared_organisation_the_row_belongs_to_the_documents_company(xworld):
	other = "Kiwi Two Ltd"
	xworld.erp.add_company(other, "NZD")
	first = xworld.config.tenants[0]
	xworld.config = dataclasses.replace(
		xworld.config,
		tenants=(first, dataclasses.replace(first, company=other)),
		bank_account_map={**xworld.config.bank_account_map, (other, "Two Bank - KT2"): "090"},
	)
	name, xero_id = _synced(xworld)
	# an invoice of the second company (pushed the same way; only its company differs)
	xworld.db.execute(f"UPDATE `tab{SI}` SET company = %(c)s WHERE name = %(n)s", {"c": other, "n": name})
	xworld.db.commit("test: the other company's invoice")
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "10.00")
	_poll(xworld)
	assert _row(xworld, payment_id)["company"] == other
	xworld.drain()
	(entry,) = _entries(xworld, payment_id)
	assert (entry["company"], entry["paid_to"]) == (other, "Two Bank - KT2")
	assert xworld.erp.outstanding(SI, name) == D("1042")


def test_a_usd_payment_is_recorded_at_its_own_rate_not_the_invoices(xworld):
	name, xero_id = _synced(xworld, "si_nz_usd")
	# The invoice went out at 1.7245 NZD per USD; the customer paid when 1 NZD bought 0.6 USD.
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "1000.00", rate="0.600000")
	_poll(xworld)
	xworld.drain()

	(entry,) = _entries(xworld, payment_id)
	plan = json.loads(_row(xworld, payment_id)["request"])
	assert D(plan["allocated"]) == D("1000.00")
	assert D(plan["exchange_rate"]) == D("1.666666667")  # 1 / 0.6, to ERPNext's 9 places
	assert D(plan["base_amount"]) == D("1666.67")
	assert xworld.erp.outstanding(SI, name) == D("2217.5")
	assert entry["docstatus"] == 1


def test_a_payment_deleted_in_xero_cancels_its_payment_entry(xworld):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "1052.00")
	_poll(xworld)
	xworld.drain()
	assert [e["docstatus"] for e in _entries(xworld, payment_id)] == [1]
	assert xworld.erp.outstanding(SI, name) == D("0")

	xworld.emulator.unpay(xworld.tenant_id, payment_id)
	assert _poll(xworld).undone == [payment_id]
	assert _row(xworld, payment_id)["status"] == "Queued"
	xworld.drain()

	row = _row(xworld, payment_id)
	assert row["status"] == "Voided", row["error_message"]
	assert "cancelled" in row["error_message"]
	assert _entries(xworld, payment_id)[0]["docstatus"] == 2
	assert xworld.erp.outstanding(SI, name) == D("1052")
	# Listed again: nothing more happens.
	xworld.watermarks.values.clear()
	_poll(xworld)
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Voided"


def test_a_deleted_payment_whose_row_was_cleared_still_cancels_its_entry(xworld):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "52.00")
	_poll(xworld)
	xworld.drain()
	xworld.db.execute(f"DELETE FROM {LOG} WHERE name = %(n)s", {"n": pull.row_name(payment_id)})
	xworld.db.commit("test: the log was cleared")

	xworld.emulator.unpay(xworld.tenant_id, payment_id)
	_poll(xworld)
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Voided"
	assert _entries(xworld, payment_id)[0]["docstatus"] == 2
	assert xworld.erp.outstanding(SI, name) == D("1052")


def test_a_worker_killed_after_creating_the_entry_leaves_exactly_one(xworld):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	_poll(xworld)

	def killed():
		raise Crash("killed between creating the Payment Entry and recording it")

	with pytest.raises(Crash):
		pull_drain(xworld, erp=AfterCreate(xworld.erp, killed))
	xworld.db.rollback()  # the dead worker's connection: its open transaction is gone
	assert _entries(xworld, payment_id) == []
	xworld.clock.advance(LEASE_SECONDS + 1)
	xworld.drain()
	assert len(_entries(xworld, payment_id)) == 1
	assert _row(xworld, payment_id)["status"] == "Synced"
	assert xworld.erp.outstanding(SI, name) == D("952")


def test_an_entry_committed_without_its_row_is_adopted_not_made_again(xworld):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	_poll(xworld)
	# As if an earlier worker's entry reached the database but its row was never finished.
	plan = pull.plan_entry(
		pull.PaidInXero.of(json.loads(_row(xworld, payment_id)["response"])),
		pull.payables(xworld.db, [xero_id])[xero_id],
		xworld.config,
	)
	made = xworld.erp.create_entry(plan)
	xworld.db.commit("test: an entry committed by a worker that died before its outcome")

	xworld.drain()
	row = _row(xworld, payment_id)
	assert (row["status"], row["reference_name"]) == ("Synced", made)
	assert len(_entries(xworld, payment_id)) == 1
	assert xworld.erp.outstanding(SI, name) == D("952")


def test_a_deletion_that_commits_while_the_entry_is_made_rolls_the_entry_back(xworld, database):
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	_poll(xworld)
	other = PyMySqlDb(database)

	def deleted():
		xworld.emulator.unpay(xworld.tenant_id, payment_id)
		# The poll, on another connection, sees the deletion and commits its flag first.
		_poll_with(xworld, other)

	try:
		pull_drain(xworld, erp=AfterCreate(xworld.erp, deleted))
	finally:
		other.close()
	assert _entries(xworld, payment_id) == []
	assert xworld.erp.outstanding(SI, name) == D("1052")
	xworld.drain()
	row = _row(xworld, payment_id)
	assert row["status"] == "Voided", row["error_message"]
	assert _entries(xworld, payment_id) == []


def test_a_row_taken_by_another_worker_meanwhile_rolls_the_entry_back(xworld, database):
	_, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	_poll(xworld)
	other = PyMySqlDb(database)

	def taken():
		other.execute(
			f"UPDATE {LOG} SET lease_owner = 'another-worker' WHERE name = %(n)s",
			{"n": pull.row_name(payment_id)},
		)
		other.commit("test: the lease ran out and another worker claimed the row")

	try:
		pull_drain(xworld, erp=AfterCreate(xworld.erp, taken))
	finally:
		other.close()
	assert _entries(xworld, payment_id) == []


def test_what_cannot_be_recorded_faithfully_is_reported_not_guessed(xworld):
	name, xero_id = _synced(xworld)
	# Paid in ERPNext already (say by the accountant by hand), then recorded in Xero too: more than is open.
	xworld.db.execute(f"UPDATE `tab{SI}` SET outstanding_amount = 50 WHERE name = %(n)s", {"n": name})
	xworld.db.commit("test: paid here too")
	over = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	# A payment on an invoice raised directly in Xero (never sent from ERPNext).
	_, foreign_id = _synced(xworld)
	xworld.db.execute(f"UPDATE `tab{SI}` SET xero_id = NULL WHERE xero_id = %(x)s", {"x": foreign_id})
	xworld.db.commit("test: an invoice ERPNext does not hold")
	untracked = xworld.emulator.pay(xworld.tenant_id, foreign_id, "10.00")
	_poll(xworld)
	# An overpayment, as GET /Payments lists one (no invoice).
	overpayment = pull.PaidInXero(
		"op-" + uuid.uuid4().hex[:8],
		"AUTHORISED",
		"AROVERPAYMENTPAYMENT",
		D("5"),
		date(2026, 11, 1),
		None,
		"",
		"090",
		"",
		None,
		None,
	)
	pull.discover(xworld.db, xworld.tenant_id, [overpayment], config=xworld.config, now=xworld.clock())
	xworld.db.commit("test: poll")
	xworld.drain()

	over_row = _row(xworld, over)
	assert (over_row["status"], over_row["error_class"]) == ("Failed", "Conflict")
	assert "only 50.00 outstanding" in over_row["error_message"]
	assert _row(xworld, untracked)["status"] == "Skipped"
	assert "not sent from ERPNext" in _row(xworld, untracked)["error_message"]
	assert _row(xworld, overpayment.payment_id)["status"] == "Skipped"
	assert "overpayment" in _row(xworld, overpayment.payment_id)["error_message"]
	assert _entries(xworld, over) == [] and _entries(xworld, untracked) == []


def test_a_partial_hand_entry_and_the_same_payment_in_xero_are_never_counted_twice(xworld):
	"""The review's reproduction (issue 18, item 2): 1,052.00 invoiced; 400 entered in ERPNext by hand and
	the same 400 reconciled in Xero. The pull used to add a second Payment Entry and say Synced (ERPNext
	252 outstanding, Xero 652 due). Now the row is a Conflict that names the side and the amount."""
	name, xero_id = _synced(xworld)
	hand = "UPDATE `tabSales Invoice` SET outstanding_amount = %(o)s WHERE name = %(n)s"
	xworld.db.execute(hand, {"o": D("652"), "n": name})  # the hand-made entry of 400
	xworld.db.commit("test: a Payment Entry made by hand")
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "400.00")
	_poll(xworld)
	xworld.drain()
	row = _row(xworld, payment_id)
	assert (row["status"], row["error_class"]) == ("Failed", "Conflict"), row["error_message"]
	assert "ERPNext already shows 400.00 NZD more paid on " + name in row["error_message"]
	assert "Xero has 652.00 due" in row["error_message"] and "counted twice" in row["error_message"]
	assert _entries(xworld, payment_id) == [] and xworld.erp.outstanding(SI, name) == D("652")

	# The accountant cancels the hand-made entry and presses Retry: the Xero payment is recorded once, and
	# both ledgers agree.
	xworld.db.execute(hand, {"o": D("1052"), "n": name})
	requeue(xworld.db, [row["name"]], xworld.clock())
	xworld.db.commit("test: hand entry cancelled, Retry")
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Synced"
	assert len(_entries(xworld, payment_id)) == 1
	(invoice,) = xworld.gateway().get_documents(xworld.tenant_id, Kind.SALES_INVOICE, [xero_id])
	assert xworld.erp.outstanding(SI, name) == D("652") == invoice.amount_due


def test_a_failing_read_of_xeros_due_backs_off_and_keeps_the_payment(xworld):
	"""The pull's one read is its own call: a 500 on it is charged to the payment's row (a back-off, no
	retry storm), and the payment kept in the row's response survives for the next attempt."""
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	_poll(xworld)
	xworld.emulator.inject("500", method="GET", endpoint="Invoices", times=1)
	xworld.drain()
	row = _row(xworld, payment_id)
	assert (row["status"], row["attempts"]) == ("Queued", 1) and row["next_attempt_at"] is not None
	assert pull.PaidInXero.of(json.loads(row["response"])).payment_id == payment_id
	assert _entries(xworld, payment_id) == []
	xworld.clock.advance(3600)
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Synced" and xworld.erp.outstanding(SI, name) == D("952")


def test_two_xero_payments_in_one_claim_agree_with_xero_and_a_later_one_is_no_conflict(xworld):
	"""Xero payments not yet copied count as Xero's, never as a double count."""
	name, xero_id = _synced(xworld)
	first = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	second = xworld.emulator.pay(xworld.tenant_id, xero_id, "200.00")
	_poll(xworld)
	xworld.emulator.pay(xworld.tenant_id, xero_id, "50.00")  # made after the poll: Xero's due is lower
	xworld.drain()
	assert [_row(xworld, p)["status"] for p in (first, second)] == ["Synced", "Synced"]
	assert xworld.erp.outstanding(SI, name) == D("752")


def test_a_payment_skipped_as_untracked_is_recorded_once_a_backfill_adopts_its_document(xworld, emulator):
	from nexwave_xero_connector.sync.backfill import ADOPT_ONLY, backfill
	from nexwave_xero_connector.sync.mapping import owed_total
	from nexwave_xero_connector.sync.model import Kind
	from tests.support.seeding import StandInBackfillSource, hand_key, insert_document

	# Keyed into Xero by hand before go-live, and in ERPNext without a row: not ours yet.
	doc = clone("si_nz_inclusive", f"SI-OLD-{uuid.uuid4().hex[:6]}")
	insert_document(xworld, doc)
	customer = emulator.add_contact(xworld.tenant_id, "Tui Hardware Ltd")
	on = date(2026, 11, 16)
	xero_id = hand_key(
		xworld.gateway(),
		xworld.tenant_id,
		Kind.SALES_INVOICE,
		doc["name"],
		customer,
		abs(owed_total(doc)),
		on,
	)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "383.00")
	_poll(xworld)
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Skipped"

	report = backfill(
		xworld.tenant_id,
		COMPANY,
		(Kind.SALES_INVOICE,),
		date(2026, 1, 1),
		date(2026, 12, 31),
		ADOPT_ONLY,
		source=StandInBackfillSource(xworld),
		gateway=xworld.gateway(),
		db=xworld.db,
		clock=xworld.clock,
	)
	assert report.adopted == 1
	assert _row(xworld, payment_id)["status"] == "Queued"
	xworld.drain()
	row = _row(xworld, payment_id)
	assert row["status"] == "Synced", row["error_message"]
	assert len(_entries(xworld, payment_id)) == 1
	assert xworld.erp.outstanding(SI, doc["name"]) == D("4000")


def test_an_unmapped_bank_account_fails_with_the_fix_and_retry_records_it(xworld):
	name, xero_id = _synced(xworld)
	config = xworld.config
	xworld.config = dataclasses.replace(config, bank_account_map={})
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "10.00")
	_poll(xworld)
	xworld.drain()
	row = _row(xworld, payment_id)
	assert (row["status"], row["error_class"]) == ("Failed", "Mapping")
	assert "Xero bank account 090 is not mapped" in row["error_message"]

	xworld.config = config
	requeue(xworld.db, [row["name"]], xworld.clock())
	xworld.db.commit("test: Retry")
	xworld.drain()
	assert _row(xworld, payment_id)["status"] == "Synced"
	assert xworld.erp.outstanding(SI, name) == D("1042")


def test_refunds_and_bill_payments_take_the_right_direction(xworld):
	ret, ret_id = _synced(xworld, "si_nz_return", return_against=None)
	bill, bill_id = _synced(xworld, "pi_nz_freight")
	refund = xworld.emulator.refund(xworld.tenant_id, ret_id, "500.00")
	paid = xworld.emulator.pay(xworld.tenant_id, bill_id, "999.00")
	_poll(xworld)
	xworld.drain()

	(refund_entry,) = _entries(xworld, refund)
	(bill_entry,) = _entries(xworld, paid)
	assert (refund_entry["payment_type"], refund_entry["paid_from"]) == ("Pay", BANK)
	assert _reference(xworld, refund_entry["name"])["allocated_amount"] == D("-500")
	assert xworld.erp.outstanding(SI, ret) == D("-1006")
	assert (bill_entry["payment_type"], bill_entry["party"]) == ("Pay", "Southern Packaging Ltd")
	assert xworld.erp.outstanding(PI, bill) == D("0")


def test_payments_erpnext_pushed_are_never_pulled_back_and_owners_never_overlap(xworld):
	_, xero_id = _synced(xworld)
	# A payment that came from a pushed Payment Entry carries the entry's name as its Reference.
	xworld.db.execute(
		f"INSERT INTO {LOG} (name, status, reference_doctype, reference_name, tenant_id, xero_type) "
		"VALUES ('pushed-row', 'Synced', 'Payment Entry', 'ACC-PAY-PUSHED', %(t)s, 'PAYMENT')",
		{"t": xworld.tenant_id},
	)
	xworld.db.commit("test: a pushed entry's row")
	gateway = xworld.gateway()
	(pushed,) = gateway.payments.create_payments(
		xworld.tenant_id,
		[
			{
				"Invoice": {"InvoiceID": xero_id},
				"Account": {"Code": "090"},
				"Amount": D("5"),
				"Reference": "ACC-PAY-PUSHED",
			}
		],
		"key-" + uuid.uuid4().hex,
	)
	assert _poll(xworld).queued == []

	# A company whose payments ERPNext owns takes nothing back, whatever the pull switch says.
	config = xworld.config
	xworld.config = dataclasses.replace(
		config,
		tenants=(dataclasses.replace(config.tenants[0], payments_owned_by=PAYMENTS_IN_ERPNEXT),),
	)
	assert not xworld.config.pulls_payments(COMPANY)
	assert not dataclasses.replace(config, enabled=False).pulls_payments(COMPANY)
	assert not dataclasses.replace(
		config, tenants=(dataclasses.replace(config.tenants[0], pull_payments=False),)
	).pulls_payments(COMPANY)
	assert pushed.payment_id not in {r["xero_id"] for r in xworld.db.query(f"SELECT xero_id FROM {LOG}", {})}


def test_a_quiet_payments_poll_costs_one_call(xworld):
	_, xero_id = _synced(xworld)
	xworld.emulator.pay(xworld.tenant_id, xero_id, "10.00")
	_poll(xworld)
	xworld.drain()
	before = xworld.emulator.total_calls(xworld.tenant_id)
	assert _poll(xworld).queued == []
	assert xworld.emulator.total_calls(xworld.tenant_id) - before == 1


# -- helpers -----------------------------------------------------------------------------------------


class AfterCreate:
	"""The stand-in ERP, with `then` happening right after a Payment Entry is made, before the drain
	records it (a crash, a deletion committed elsewhere, a lease taken)."""

	def __init__(self, erp, then):
		self.erp, self.then = erp, then

	def __getattr__(self, attr):
		return getattr(self.erp, attr)

	def create_entry(self, plan):
		made = self.erp.create_entry(plan)
		self.then()
		return made


def pull_drain(world: World, *, erp):
	from nexwave_xero_connector.sync.drain import drain
	from tests.support.world import NoMasters

	return drain(
		world.tenant_id,
		journal=world.journal(),
		erp=erp,
		masters=NoMasters(),
		gateway=world.gateway(),
		config=world.config,
	)


def _poll_with(world: World, db: PyMySqlDb) -> None:
	pull.poll_payments(
		world.tenant_id,
		reader=world.gateway().payments,
		db=db,
		watermarks=world.watermarks,
		started=datetime.now(timezone.utc),
		now=world.clock(),
		config=world.config,
	)
	db.commit("test: poll on another connection")


def test_a_xero_call_failing_in_the_same_claim_keeps_the_payment_to_record(xworld):
	"""Found by the chaos run (--pull-payments): a whole call of the claim failed (here the new customer's
	contact create, made after other calls under one lease renewal, so charged to every open row); the
	payment's row was charged too and the error overwrote the payment kept in its response, so every later
	attempt failed on it (KeyError) and the payment was never recorded."""
	name, xero_id = _synced(xworld)
	payment_id = xworld.emulator.pay(xworld.tenant_id, xero_id, "100.00")
	assert _poll(xworld).queued == [payment_id]
	xworld.erp.add_party("Customer", "Kea Outfitters Ltd")
	xworld.submit(
		clone(
			"si_nz_exclusive_discount",
			"SINV-kea-1",
			customer="Kea Outfitters Ltd",
			customer_name="Kea Outfitters Ltd",
		)
	)
	xworld.emulator.inject("503", method="PUT", endpoint="Contacts", times=1)
	xworld.drain()
	row = _row(xworld, payment_id)
	assert (row["status"], row["attempts"]) == ("Queued", 0), row["error_message"]
	assert pull.PaidInXero.of(json.loads(row["response"])).payment_id == payment_id

	xworld.clock.advance(3600)
	xworld.drain()
	row = _row(xworld, payment_id)
	assert row["status"] == "Synced", row["error_message"]
	assert len(_entries(xworld, payment_id)) == 1 and xworld.erp.outstanding(SI, name) == D("952")


def test_a_payment_replacing_one_deleted_in_xero_waits_for_its_entry_to_be_cancelled(xworld):
	"""Found by the chaos run (--pull-payments): a payment deleted in Xero and the invoice paid again; when
	the new payment's row came before the deletion's (here: that row is in another worker's hands), ERPNext
	still showed the old entry's payment, and the new one was refused for good as more than outstanding."""
	name, xero_id = _synced(xworld)
	first = xworld.emulator.pay(xworld.tenant_id, xero_id, "1052.00")
	_poll(xworld)
	xworld.drain()
	xworld.emulator.unpay(xworld.tenant_id, first)
	second = xworld.emulator.pay(xworld.tenant_id, xero_id, "1052.00")
	found = _poll(xworld)
	assert (found.queued, found.undone) == ([second], [first])
	xworld.db.execute(
		f"UPDATE {LOG} SET lease_owner = 'other-worker', lease_expires_at = %(until)s WHERE name = %(n)s",
		{"n": pull.row_name(first), "until": xworld.clock() + timedelta(seconds=LEASE_SECONDS)},
	)
	xworld.db.commit("test: the deletion's row is claimed by another worker")
	xworld.drain()
	row = _row(xworld, second)
	assert row["status"] == "Queued", row["error_message"]
	assert "to be cancelled before" in row["error_message"] and _entries(xworld, second) == []

	xworld.clock.advance(LEASE_SECONDS + pull.UNDO_WAIT_SECONDS + 1)  # that worker died; the wait is over
	xworld.drain()
	assert (_row(xworld, first)["status"], _row(xworld, second)["status"]) == ("Voided", "Synced")
	assert [e["docstatus"] for e in _entries(xworld, first)] == [2]
	assert [e["docstatus"] for e in _entries(xworld, second)] == [1]
	assert xworld.erp.outstanding(SI, name) == D("0")


def test_a_deletion_and_its_replacement_in_one_claim_cancel_before_they_record(xworld):
	name, xero_id = _synced(xworld)
	first = xworld.emulator.pay(xworld.tenant_id, xero_id, "1052.00")
	_poll(xworld)
	xworld.drain()
	xworld.emulator.unpay(xworld.tenant_id, first)
	second = xworld.emulator.pay(xworld.tenant_id, xero_id, "1052.00")
	_poll(xworld)
	# the replacement's row first in the claim
	xworld.db.execute(
		f"UPDATE {LOG} SET creation = %(early)s WHERE name = %(n)s",
		{"n": pull.row_name(second), "early": datetime(2000, 1, 1)},
	)
	xworld.db.commit("test: order")
	xworld.drain()
	assert (_row(xworld, first)["status"], _row(xworld, second)["status"]) == ("Voided", "Synced")
	assert xworld.erp.outstanding(SI, name) == D("0")
