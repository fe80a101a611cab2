"""ERPNext vs Xero: the comparison against the emulator, on a seeded difference set, exactly."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from nexwave_xero_connector.sync.mapping import build_payload, document_url, owed_total
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.reconciliation_report import (
	CANCELLED_LIVE,
	IN_ERP_ONLY,
	IN_XERO_ONLY,
	STATUS_DIFFERS,
	TOTAL_DIFFERS,
	compare,
	estimate_calls,
)
from tests.support.seeding import hand_key, insert_document, stand_in_erp_documents
from tests.support.world import COMPANY, SITE_URL, NoMasters, clone

START, END = datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)


def test_the_report_finds_exactly_the_seeded_differences(world, emulator):
	u = uuid.uuid4().hex[:5]
	t, gw = world.tenant_id, world.gateway()
	names = {role: f"{role}-{u}" for role in ("A", "B", "C", "D", "F", "BILL")}
	for role in ("A", "C", "D"):
		world.submit(clone("si_nz_inclusive", names[role]))
	world.submit(clone("pi_nz_freight", names["BILL"], bill_no=f"SP-{u}"))
	assert world.drain().synced == 4
	insert_document(world, clone("si_nz_inclusive", names["B"]))  # never queued
	f_doc = clone("si_nz_inclusive", names["F"])
	insert_document(world, f_doc)
	customer = emulator.add_contact(t, f"Hand Keyed {u}")
	day = datetime.date(2026, 11, 16)
	f_total = abs(owed_total(f_doc)) + Decimal("7.00")
	hand_key(gw, t, Kind.SALES_INVOICE, names["F"], customer, f_total, day)  # same number, other total
	(voided,) = gw.set_statuses(
		t, Kind.SALES_INVOICE, [(world.log(names["C"])["xero_id"], "VOIDED")], f"v-{u}"
	)
	assert voided.ok
	# cancelled while the connector was off: the row stays Synced, the copy stays live
	world.db.execute("UPDATE `tabSales Invoice` SET docstatus = 2 WHERE name = %(n)s", {"n": names["D"]})
	world.db.commit("test: a cancel the hook never saw")
	ghost = build_payload(
		clone("si_nz_inclusive", f"GHOST-{u}"), config=world.config, masters=NoMasters(), contact_id=customer
	)
	(made,) = gw.create_documents(t, Kind.SALES_INVOICE, [ghost.body], f"ghost-{u}")  # ours, deleted here
	assert made.ok and ghost.body["Url"] == document_url(SITE_URL, "Sales Invoice", f"GHOST-{u}")
	hand_key(gw, t, Kind.SALES_INVOICE, f"OTHER-{u}", customer, "10.00", day)  # not ours, listed as such

	erp = stand_in_erp_documents(world, COMPANY, START, END)
	xero = gw.documents_dated(t, START, END)
	result = compare(erp, xero, SITE_URL)

	found = sorted((d.category, (d.erp.name if d.erp else d.xero.number), d.fix) for d in result.differences)
	assert found == sorted(
		[
			(IN_ERP_ONLY, names["B"], "Push"),
			(STATUS_DIFFERS, names["C"], "Retry"),
			(CANCELLED_LIVE, names["D"], "Void in Xero"),
			(TOTAL_DIFFERS, names["F"], ""),
			(IN_XERO_ONLY, f"GHOST-{u}", ""),
			(IN_XERO_ONLY, f"OTHER-{u}", ""),
		]
	)
	# every count the figures show is itemised: ERPNext's and Xero's counts differ by the listed documents
	(other,) = [d for d in result.of(IN_XERO_ONLY) if d.xero.number == f"OTHER-{u}"]
	assert "not sent from ERPNext" in other.detail and "void" not in other.detail.lower()
	si_total = abs(owed_total(clone("si_nz_inclusive", "x")))
	sales = result.figures[Kind.SALES_INVOICE]
	# ERPNext: A, B, C, F submitted (D is cancelled); Xero live: A, D, F's, GHOST, OTHER (C is voided)
	assert (sales.erp_count, sales.erp_total) == (4, 4 * si_total)
	assert (sales.xero_count, sales.xero_total) == (5, 3 * si_total + f_total + Decimal("10.00"))
	bills = result.figures[Kind.BILL]
	bill_total = abs(owed_total(clone("pi_nz_freight", "x")))
	assert (bills.erp_count, bills.erp_total, bills.xero_count, bills.xero_total) == (
		1,
		bill_total,
		1,
		bill_total,
	)
	(total,) = result.of(TOTAL_DIFFERS)
	assert f"total {abs(owed_total(f_doc))} in ERPNext, {f_total} in Xero" in total.detail


def test_the_estimate_is_one_page_per_thousand_documents_of_each_listing():
	assert estimate_calls({Kind.SALES_INVOICE: 10}) == 2
	assert estimate_calls({Kind.SALES_INVOICE: 1500, Kind.BILL: 600, Kind.SALES_CREDIT: 1001}) == 3 + 2


def test_a_missing_document_posted_before_go_live_is_fixed_by_a_backfill():
	from nexwave_xero_connector.sync.reconciliation_report import ErpDocument

	old = ErpDocument(
		"Sales Invoice", "OLD-1", Kind.SALES_INVOICE, "OLD-1", Decimal("10"), 1, before_go_live=True
	)
	new = ErpDocument(
		"Sales Invoice", "NEW-1", Kind.SALES_INVOICE, "NEW-1", Decimal("10"), 1, row_status="Failed"
	)
	assert [(d.erp.name, d.fix) for d in compare([old, new], []).differences] == [
		("OLD-1", "Backfill"),
		("NEW-1", "Retry"),
	]
