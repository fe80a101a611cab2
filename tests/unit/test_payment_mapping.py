"""Payment Entry -> Xero payment bodies (sync/payment_mapping.py), on hand-built Payment Entries with
ERPNext 15's field names (tests/support/payment_entries.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.config import SyncConfig
from nexwave_xero_connector.sync.errors import MappingError
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.payment_mapping import (
	NothingToSend,
	Target,
	XeroPayment,
	match_lines,
	plan_payment,
)
from nexwave_xero_connector.sync.preflight import OrgInfo
from tests.support.payment_entries import BANK, BANK_USD, COMPANY, payment_entry

D = Decimal
SI, PI = "Sales Invoice", "Purchase Invoice"
ACCOUNT_ID = "5040915e-8ce7-4177-8d08-fde416232f18"
CONFIG = SyncConfig(bank_account_map={(COMPANY, BANK): "090", (COMPANY, BANK_USD): ACCOUNT_ID})
ORG = OrgInfo("NZD", frozenset({"USD"}), period_lock_date=date(2026, 10, 31))


def target(doctype=SI, name="SINV-1", xero_id="inv-1", is_return=False, currency="NZD", **kw) -> Target:
	return Target(doctype, name, xero_id, is_return, currency, **kw)


def plan(doc, *targets, org=ORG, config=CONFIG):
	return plan_payment(doc, config=config, targets={(t.doctype, t.name): t for t in targets}, org=org)


def test_a_receipt_against_two_invoices_is_two_payment_bodies():
	doc = payment_entry("PE-1", refs=[(SI, "SINV-1", "1052.00"), (SI, "SINV-2", "500.50")])
	result = plan(doc, target(), target(name="SINV-2", xero_id="inv-2"))
	assert [line.body() for line in result.lines] == [
		{
			"Invoice": {"InvoiceID": "inv-1"},
			"Account": {"Code": "090"},
			"Amount": D("1052.00"),
			"Date": date(2026, 11, 26),
			"Reference": "PE-1",
		},
		{
			"Invoice": {"InvoiceID": "inv-2"},
			"Account": {"Code": "090"},
			"Amount": D("500.50"),
			"Date": date(2026, 11, 26),
			"Reference": "PE-1",
		},
	]
	assert result.notes == () and result.waiting_for == ()
	assert result.identity()["payments"][1] == {
		"target_id": "inv-2",
		"amount": "500.50",
		"date": "2026-11-26",
		"reference": "PE-1",
	}


def test_a_usd_receipt_into_a_usd_account_carries_the_payment_date_rate_and_an_account_id():
	doc = payment_entry(
		"PE-2", refs=[(SI, "SINV-U", "3217.50")], currency="USD", bank=BANK_USD, party_rate="1.70"
	)
	[line] = plan(doc, target(name="SINV-U", currency="USD")).lines
	body = line.body()
	assert body["Account"] == {"AccountID": ACCOUNT_ID}
	assert body["CurrencyRate"] == D("0.588235")  # Xero's direction: USD per NZD = 1 / 1.70
	assert body["Amount"] == D("3217.50")


def test_a_supplier_payment_takes_the_bank_from_paid_from():
	doc = payment_entry(
		"PE-3",
		payment_type="Pay",
		party_type="Supplier",
		party="Southern Packaging Ltd",
		refs=[(PI, "PINV-1", "999")],
	)
	assert doc["paid_from"] == BANK and doc["paid_to"] == "Creditors - KTL"
	[line] = plan(doc, target(PI, "PINV-1", "bill-1", number="SP-20931")).lines
	assert line.body()["Invoice"] == {"InvoiceID": "bill-1"} and line.body()["Account"] == {"Code": "090"}
	assert (line.target_kind, line.target_number) == (Kind.BILL, "SP-20931")


def test_a_refund_against_a_sales_return_pays_the_credit_note_a_positive_amount():
	doc = payment_entry("PE-4", payment_type="Pay", refs=[(SI, "SINV-R", "-1506.00")])
	[line] = plan(doc, target(name="SINV-R", xero_id="cn-1", is_return=True)).lines
	assert line.body()["CreditNote"] == {"CreditNoteID": "cn-1"} and "Invoice" not in line.body()
	assert line.amount == D("1506.00") and line.target_kind == Kind.SALES_CREDIT


def test_a_supplier_refund_against_a_purchase_return_pays_the_supplier_credit_note():
	doc = payment_entry(
		"PE-5", party_type="Supplier", party="Southern Packaging Ltd", refs=[(PI, "PINV-R", "-135.00")]
	)
	[line] = plan(doc, target(PI, "PINV-R", "cn-2", is_return=True)).lines
	assert line.body()["CreditNote"] == {"CreditNoteID": "cn-2"} and line.target_kind == Kind.BILL_CREDIT


def test_netting_a_return_inside_a_receipt_is_refused_with_what_to_do():
	doc = payment_entry("PE-6", refs=[(SI, "SINV-1", "150.00"), (SI, "SINV-R", "-50.00")])
	with pytest.raises(MappingError, match="credit note allocation"):
		plan(doc, target(), target(name="SINV-R", xero_id="cn-1", is_return=True))


def test_journal_entries_and_advances_are_named_never_dropped():
	with pytest.raises(NothingToSend, match="allocates nothing"):
		plan(payment_entry("PE-7", unallocated="300"))
	with pytest.raises(NothingToSend, match="Journal Entry JV-1"):
		plan(payment_entry("PE-8", other_refs=[("Journal Entry", "JV-1", "10")]))
	with pytest.raises(NothingToSend, match="Internal Transfer"):
		plan({**payment_entry("PE-9"), "payment_type": "Internal Transfer"})
	mixed = plan(
		payment_entry(
			"PE-10", refs=[(SI, "SINV-1", "10")], unallocated="5", other_refs=[("Sales Order", "SO-1", "1")]
		),
		target(),
	)
	assert len(mixed.lines) == 1
	assert any("Sales Order SO-1" in n for n in mixed.notes) and any(
		"5.00 is unallocated" in n for n in mixed.notes
	)


def test_an_unmapped_bank_account_names_the_account_and_the_setting():
	doc = payment_entry("PE-11", refs=[(SI, "SINV-1", "10")], bank="Petty Cash - KTL")
	with pytest.raises(MappingError, match=r"Petty Cash - KTL.*Bank Account Mapping"):
		plan(doc, target())


def test_an_invoice_not_in_xero_yet_makes_the_entry_wait():
	doc = payment_entry("PE-12", refs=[(SI, "SINV-1", "10"), (SI, "SINV-2", "10")])
	result = plan(doc, target(), target(name="SINV-2", xero_id=None))
	assert result.waiting_for == ("SINV-2",)


def test_a_payment_dated_on_the_lock_date_is_refused():
	doc = payment_entry("PE-13", refs=[(SI, "SINV-1", "10")], posting_date="2026-10-31")
	with pytest.raises(MappingError, match="period lock date"):
		plan(doc, target())


def test_a_cancelled_or_unknown_invoice_is_refused():
	doc = payment_entry("PE-14", refs=[(SI, "SINV-1", "10")])
	with pytest.raises(MappingError, match="not a submitted document"):
		plan(doc, target(docstatus=2))
	with pytest.raises(MappingError, match="not a submitted document"):
		plan(doc)


def test_found_payments_match_each_line_once_and_only_live_ones():
	lines = [
		{"target_id": "inv-1", "amount": "10.00", "date": "2026-11-26", "reference": "PE-1"},
		{"target_id": "inv-1", "amount": "10.00", "date": "2026-11-26", "reference": "PE-1"},
	]
	live = XeroPayment("p1", "inv-1", D("10.00"), date(2026, 11, 26), "PE-1", "AUTHORISED")
	deleted = XeroPayment("p0", "inv-1", D("10.00"), date(2026, 11, 26), "PE-1", "DELETED")
	other = XeroPayment("p2", "inv-1", D("10.01"), date(2026, 11, 26), "PE-1", "AUTHORISED")
	assert match_lines(lines, [deleted, live, other]) == [live, None]


def test_an_allocation_in_another_currency_than_the_invoices_is_refused():
	# ERPNext allows a USD invoice on an NZD receivable (Accounts Settings); its allocation is then in NZD.
	doc = payment_entry("PE-15", refs=[(SI, "SINV-U", "5548.58")])
	assert doc["paid_from_account_currency"] == "NZD"
	with pytest.raises(MappingError, match=r"allocated in NZD .* to an invoice in USD"):
		plan(doc, target(name="SINV-U", currency="USD"))
