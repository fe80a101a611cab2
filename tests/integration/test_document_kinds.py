"""Every kind through the engine against the emulator: bills, credit notes, allocation, orphans."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from nexwave_xero_connector.sync.model import Kind
from tests.integration.test_push_engine import Crash, CrashAfter
from tests.support.world import SITE_URL, World, clone


def _uid() -> str:
	return uuid.uuid4().hex[:6]


def _ledger(world: World, number: str) -> list[dict]:
	return [d for d in world.emulator.ledger(world.tenant_id) if d["number"] == number]


def test_bill_goes_as_accpay_with_the_supplier_number_and_our_marker(world):
	name, bill_no = f"PINV-{_uid()}", f"SP-{_uid()}"
	world.submit(clone("pi_nz_freight", name, bill_no=bill_no))
	assert world.drain().synced == 1
	(doc,) = world.live(bill_no)
	assert doc["kind"] == "ACCPAY" and doc["total"] == Decimal("999.00")
	assert doc["url"] == f"{SITE_URL}/app/purchase-invoice/{name}"


def test_two_suppliers_bills_with_the_same_number_are_both_kept_and_retries_stay_single(world, emulator):
	"""Xero does not keep bill numbers unique: the lookup must confirm by our marker, not the number."""
	bill_no = f"SP-{_uid()}"
	first, second = f"PINV-{_uid()}", f"PINV-{_uid()}"
	world.submit(clone("pi_nz_freight", first, bill_no=bill_no))
	world.drain()
	world.submit(clone("pi_nz_freight", second, bill_no=bill_no))
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	world.clock.advance(LEASE_SECONDS + 1)
	emulator.reset_counters()
	world.drain()
	assert emulator.calls[("PUT", "Invoices")] == 0
	live = world.live(bill_no)
	assert sorted(d["url"].rsplit("/", 1)[1] for d in live) == sorted([first, second])
	assert world.log(second)["xero_id"] != world.log(first)["xero_id"]


def test_sales_return_becomes_a_credit_note_allocated_to_the_original(world):
	original, ret = f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.drain()
	world.submit(clone("si_nz_return", ret, return_against=original, update_outstanding_for_self=0))
	assert world.drain().synced == 1
	(note,) = world.live(ret)
	assert note["kind"] == "ACCRECCREDIT" and note["total"] == Decimal("1506.00")
	assert note["remaining_credit"] == Decimal("0")
	(invoice,) = world.live(original)
	assert invoice["amount_due"] == Decimal("4383.00") - Decimal("1506.00")
	assert "Allocated" in world.log(ret)["error_message"]


def test_return_against_a_paid_invoice_stays_unallocated_and_says_so(world, emulator):
	original, ret = f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.drain()
	emulator.pay(world.tenant_id, world.log(original)["xero_id"], Decimal("4383.00"))
	world.submit(clone("si_nz_return", ret, return_against=original, update_outstanding_for_self=0))
	world.drain()
	log = world.log(ret)
	assert log["status"] == "Synced"
	assert "unallocated" in log["error_message"]
	(note,) = world.live(ret)
	assert note["remaining_credit"] == Decimal("1506.00")


def test_purchase_return_becomes_a_supplier_credit_allocated_to_the_bill(world):
	bill, ret, bill_no = f"PINV-{_uid()}", f"PRET-{_uid()}", f"SP-{_uid()}"
	world.submit(clone("pi_nz_freight", bill, bill_no=bill_no))
	world.drain()
	world.submit(
		clone("pi_nz_return", ret, bill_no=bill_no, return_against=bill, update_outstanding_for_self=0)
	)
	assert world.drain().synced == 1
	notes = [d for d in _ledger(world, bill_no) if d["kind"] == "ACCPAYCREDIT"]
	assert len(notes) == 1 and notes[0]["total"] == Decimal("135.00")
	assert notes[0]["remaining_credit"] == Decimal("0")


def test_crash_between_credit_note_and_allocation_allocates_once(world):
	original, ret = f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.drain()
	world.submit(clone("si_nz_return", ret, return_against=original, update_outstanding_for_self=0))
	with pytest.raises(Crash):
		world.drain(journal=CrashAfter(world.journal(), "store_xero_ids"))
	world.clock.advance(LEASE_SECONDS + 1)
	world.drain()
	(note,) = world.live(ret)
	assert note["remaining_credit"] == Decimal("0")
	assert len(note["allocations"]) == 1


def test_cancel_of_a_paid_invoice_becomes_an_orphan_with_the_reason(world, emulator):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	emulator.pay(world.tenant_id, world.log(name)["xero_id"], Decimal("100.00"))
	world.erp.cancel("Sales Invoice", name)
	report = world.drain()
	log = world.log(name)
	assert report.orphaned == 1 and log["status"] == "Orphan"
	assert "payments of 100" in log["error_message"] and "Void in Xero" in log["error_message"]
	assert len(world.live(name)) == 1


def test_draft_posting_is_deleted_not_voided_on_cancel(make_world):
	world = make_world()
	world.config = world.config.__class__(**{**world.config.__dict__, "posting_status": "DRAFT"})
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	assert world.live(name)[0]["status"] == "DRAFT"
	world.erp.cancel("Sales Invoice", name)
	world.drain()
	assert [d["status"] for d in _ledger(world, name)] == ["DELETED"]
	assert world.log(name)["xero_status"] == "DELETED"


def test_missing_tax_mapping_fails_before_any_call(world, emulator):
	name = f"SINV-{_uid()}"
	world.config = world.config.__class__(**{**world.config.__dict__, "tax_map": {}})
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()  # resolves the contact
	log = world.log(name)
	assert (log["status"], log["error_class"]) == ("Failed", "Mapping")
	assert "No tax mapping" in log["error_message"] and "Xero Sync Settings" in log["error_message"]
	assert emulator.calls[("PUT", "Invoices")] >= 0 and world.live(name) == []


def test_with_automatic_voiding_off_a_cancel_leaves_an_orphan_until_someone_confirms(make_world):
	from nexwave_xero_connector.sync.journal import confirm_void

	world = make_world()
	world.config = world.config.__class__(**{**world.config.__dict__, "void_on_cancel": False})
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	world.erp.cancel("Sales Invoice", name)
	world.drain()
	log = world.log(name)
	assert log["status"] == "Orphan" and "automatic voiding is off" in log["error_message"]
	assert len(world.live(name)) == 1
	assert confirm_void(world.db, [log["name"]], world.clock()) == 1  # the "Void in Xero" button
	world.db.commit("button")
	assert world.drain().voided == 1
	assert world.live(name) == [] and world.log(name)["status"] == "Voided"


def test_orphan_scan_catches_a_cancel_the_hook_never_saw(world):
	from nexwave_xero_connector.sync.journal import flag_cancelled_but_synced

	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	# Cancelled while the connector was switched off: docstatus changes, the log row does not.
	world.db.execute("UPDATE `tabSales Invoice` SET docstatus = 2 WHERE name = %(n)s", {"n": name})
	world.db.commit("cancelled behind the connector's back")
	assert flag_cancelled_but_synced(world.db, world.clock()) == [("Sales Invoice", name)]
	world.db.commit("scan")
	assert flag_cancelled_but_synced(world.db, world.clock()) == []
	assert world.drain().voided == 1
	assert world.live(name) == []


def test_cancelling_an_allocated_return_takes_back_our_allocation_and_voids_it(world):
	original, ret = f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.drain()
	world.submit(clone("si_nz_return", ret, return_against=original, update_outstanding_for_self=0))
	world.drain()
	world.erp.cancel("Sales Invoice", ret)
	report = world.drain()
	assert report.voided == 1
	log = world.log(ret)
	assert log["status"] == "Voided" and "Took back its allocation" in log["error_message"]
	assert world.live(ret) == []
	(invoice,) = world.live(original)
	assert invoice["amount_due"] == Decimal("4383.00")


def test_a_credit_note_allocated_by_someone_else_stays_an_orphan_with_the_reason(world, emulator):
	original, other, ret = f"SINV-{_uid()}", f"SINV-{_uid()}", f"SRET-{_uid()}"
	world.submit(clone("si_nz_inclusive", original))
	world.submit(clone("si_nz_inclusive", other))
	world.drain()
	world.submit(clone("si_nz_return", ret))  # no return_against: nothing allocated by us
	world.drain()
	note_id = world.log(ret)["xero_id"]
	api = world.gateway()
	# An accountant allocates part of the credit to another invoice, in Xero.
	api.allocate_credit(
		world.tenant_id,
		Kind.SALES_CREDIT,
		note_id,
		world.log(other)["xero_id"],
		Decimal("100.00"),
		world.live(ret)[0]["date"],
		"manual-alloc-1",
	)
	world.erp.cancel("Sales Invoice", ret)
	world.drain()
	log = world.log(ret)
	assert log["status"] == "Orphan"
	assert "allocated in Xero to invoices this connector did not allocate" in log["error_message"]


def test_org_preflight_refuses_a_missing_currency_and_a_locked_period_before_any_create(make_world, emulator):
	world = make_world(currencies=("NZD",))
	emulator.add_tenant(
		f"{world.tenant_id}-locked", name="Locked Ltd", country="NZ", period_lock_date="2026-11-30"
	)
	usd, locked = f"SINV-{_uid()}", f"SINV-{_uid()}"
	world.submit(clone("si_nz_usd", usd))
	gateway = world.gateway()
	emulator.reset_counters()
	world.drain(org=lambda: gateway.get_organisation(world.tenant_id))
	log = world.log(usd)
	assert (log["status"], log["error_class"]) == ("Failed", "Mapping")
	assert "USD" in log["error_message"]
	assert emulator.calls[("PUT", "Invoices")] == 0
	assert emulator.calls[("GET", "Organisation")] == 1 and emulator.calls[("GET", "Currencies")] == 1
	# Same document into an organisation whose books are locked to 30 November.
	other = make_world()
	other.tenant_id = f"{world.tenant_id}-locked"
	other.config = other.config.__class__(
		**{
			**other.config.__dict__,
			"tenants": (other.config.tenants[0].__class__("Kiwi Test Ltd", other.tenant_id),),
		}
	)
	other.erp.submit(clone("si_nz_exclusive_discount", locked), other.tenant_id)
	other.drain(org=lambda: gateway.get_organisation(other.tenant_id))
	log = other.log(locked)
	assert log["status"] == "Failed" and "lock" in log["error_message"].lower()


def _delete(world: World, name: str) -> None:
	world.db.execute("DELETE FROM `tabSales Invoice` WHERE name = %(n)s", {"n": name})
	world.db.commit("deleted in ERPNext")


def test_a_document_deleted_before_anything_was_sent_is_skipped_without_a_call(world, emulator):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.erp.cancel("Sales Invoice", name)
	_delete(world, name)
	emulator.reset_counters()
	world.drain()
	assert world.log(name)["status"] == "Skipped"
	assert emulator.total_calls(world.tenant_id) == 0


def test_a_synced_document_cancelled_then_deleted_is_still_voided_in_xero(world):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	world.drain()
	world.erp.cancel("Sales Invoice", name)
	_delete(world, name)
	assert world.drain().voided == 1
	assert world.live(name) == []


def test_a_document_deleted_after_an_interrupted_push_is_found_by_what_was_sent_and_voided(world):
	name = f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", name))
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	assert len(world.live(name)) == 1
	_delete(world, name)
	world.clock.advance(LEASE_SECONDS + 1)
	assert world.drain().voided == 1
	assert world.log(name)["status"] == "Voided"
	assert world.live(name) == []


def test_drift_scan_fails_a_synced_invoice_someone_voided_in_xero(world, emulator):
	from datetime import datetime, timedelta, timezone

	from nexwave_xero_connector.sync.journal import flag_removed_in_xero, requeue

	voided, kept = f"SINV-{_uid()}", f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", voided))
	world.submit(clone("si_nz_exclusive_discount", kept))
	world.drain()
	since = datetime.now(timezone.utc) - timedelta(minutes=5)
	gateway = world.gateway()
	xero_id = world.log(voided)["xero_id"]
	gateway.set_statuses(world.tenant_id, Kind.SALES_INVOICE, [(xero_id, "VOIDED")], "someone-in-xero")
	emulator.reset_counters()
	removed = gateway.removed_since(world.tenant_id, since)
	assert emulator.total_calls(world.tenant_id) == 2  # one GET for invoices and bills, one for credit notes
	assert flag_removed_in_xero(world.db, world.tenant_id, removed, world.clock()) == [voided]
	world.db.commit("scan")
	log = world.log(voided)
	assert (log["status"], log["error_class"], log["xero_status"]) == ("Failed", "Conflict", "VOIDED")
	assert "was voided in Xero" in log["error_message"] and "Retry" in log["error_message"]
	assert world.log(kept)["status"] == "Synced"
	assert world.erp.xero_id_of("Sales Invoice", voided) == xero_id  # the invoice keeps its link
	# Retry: Xero keeps the voided number taken, so the answer is a clear conflict, never a duplicate.
	requeue(world.db, [log["name"]], world.clock())
	world.db.commit("retry")
	world.drain()
	log = world.log(voided)
	assert (log["status"], log["error_class"]) == ("Failed", "Conflict")
	assert f"numbered {voided}" in log["error_message"]
	assert world.live(voided) == []


def test_cancelling_a_document_whose_xero_copy_was_adopted_never_voids_it_by_itself(make_world, emulator):
	"""A Backfill adopted a sales invoice a person keyed into Xero (no Url marker): this app did not make it,
	so the cancel shows it as an Orphan with the reason, and only a person's Void in Xero voids it."""
	from nexwave_xero_connector.sync.journal import confirm_void
	from tests.support.seeding import keyed_and_adopted

	world = make_world()
	name = f"SINV-{_uid()}"
	doc = clone("si_nz_inclusive", name, posting_date="2026-10-05")
	customer = emulator.add_contact(world.tenant_id, "Tui Hardware Ltd")
	xero_id = keyed_and_adopted(world, doc, Kind.SALES_INVOICE, name, customer)
	world.erp.cancel("Sales Invoice", name)
	world.drain()
	log = world.log(name)
	assert log["status"] == "Orphan" and "this app did not make it" in log["error_message"]
	assert [d["xero_id"] for d in world.live(name)] == [xero_id]
	assert confirm_void(world.db, [log["name"]], world.clock()) == 1  # the "Void in Xero" button
	world.db.commit("button")
	assert world.drain().voided == 1
	assert world.live(name) == [] and world.log(name)["status"] == "Voided"
