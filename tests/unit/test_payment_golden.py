"""Golden payloads: real ERPNext 15.92.1 Payment Entries (tests/fixtures/erpnext/pe_*.json, see its README)
-> the exact Xero Payment bodies."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.config import SyncConfig
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.payment_mapping import Target, plan_payment
from nexwave_xero_connector.sync.preflight import OrgInfo
from tests.support.world import FIXTURES

D = Decimal
COMPANY = "_OAuth Company A"
CONFIG = SyncConfig(
	bank_account_map={(COMPANY, "ASB Cheque - _OCA"): "090", (COMPANY, "ASB USD - _OCA"): "091"},
)
ORG = OrgInfo("NZD", frozenset({"USD"}))
FACTS = json.loads((FIXTURES / "pe_targets.json").read_text())


def entry(name: str) -> dict:
	return json.loads((FIXTURES / f"{name}.json").read_text())


def targets() -> dict:
	"""Every referenced invoice as synced to Xero, with a made-up Xero ID derived from its name."""
	return {
		(f["doctype"], name): Target(
			f["doctype"],
			name,
			f"xero-{name}",
			bool(f["is_return"]),
			f["currency"],
			number=f["bill_no"] or name,
		)
		for name, f in FACTS.items()
	}


def bodies(name: str) -> list[dict]:
	return [
		line.body() for line in plan_payment(entry(name), config=CONFIG, targets=targets(), org=ORG).lines
	]


def test_a_receipt_against_two_invoices():
	assert bodies("pe_receipt_two_invoices") == [
		{
			"Invoice": {"InvoiceID": "xero-ACC-SINV-2026-00001"},
			"Account": {"Code": "090"},
			"Amount": D("1052.00"),
			"Date": date(2026, 11, 26),
			"Reference": "ACC-PAY-2026-00001",
		},
		{
			"Invoice": {"InvoiceID": "xero-ACC-SINV-2026-00002"},
			"Account": {"Code": "090"},
			"Amount": D("200.00"),
			"Date": date(2026, 11, 26),
			"Reference": "ACC-PAY-2026-00001",
		},
	]


def test_a_usd_receipt_at_another_rate_than_the_invoices():
	# 1.70 NZD per USD on the payment date (the invoice was at 1.7245): Xero's CurrencyRate is USD per NZD
	assert bodies("pe_receipt_usd") == [
		{
			"Invoice": {"InvoiceID": "xero-ACC-SINV-2026-00003"},
			"Account": {"Code": "091"},
			"Amount": D("3217.50"),
			"Date": date(2026, 11, 27),
			"Reference": "ACC-PAY-2026-00002",
			"CurrencyRate": D("0.588235"),
		}
	]


def test_a_supplier_payment():
	plan = plan_payment(entry("pe_supplier_payment"), config=CONFIG, targets=targets(), org=ORG)
	assert [line.body() for line in plan.lines] == [
		{
			"Invoice": {"InvoiceID": "xero-ACC-PINV-2026-00001"},
			"Account": {"Code": "090"},
			"Amount": D("999.00"),
			"Date": date(2026, 11, 27),
			"Reference": "ACC-PAY-2026-00003",
		}
	]
	assert (plan.lines[0].target_kind, plan.lines[0].target_number) == (Kind.BILL, "SP-30001")


def test_a_refund_against_a_sales_return():
	assert bodies("pe_refund_sales_return") == [
		{
			"CreditNote": {"CreditNoteID": "xero-ACC-SINV-2026-00005"},
			"Account": {"Code": "090"},
			"Amount": D("1506.00"),
			"Date": date(2026, 11, 28),
			"Reference": "ACC-PAY-2026-00004",
		}
	]


@pytest.mark.parametrize(
	"name", ["pe_receipt_two_invoices", "pe_receipt_usd", "pe_supplier_payment", "pe_refund_sales_return"]
)
def test_every_fixture_is_a_submitted_entry_with_nothing_left_aside(name):
	doc = entry(name)
	plan = plan_payment(doc, config=CONFIG, targets=targets(), org=ORG)
	assert doc["docstatus"] == 1 and plan.notes == () and plan.waiting_for == ()
	total = sum((line.amount for line in plan.lines), D(0))
	assert total == D(str(doc["total_allocated_amount"]))


def test_a_write_off_says_what_xeros_bank_reconciliation_needs():
	"""A receipt of 1,047.00 settling 1,052.00 with a 5.00 bank-charge deduction (the Payment Entry's own
	fields), and ERPNext's exchange gain/loss row, which moves no money: only the charge is explained."""
	doc = entry("pe_receipt_two_invoices")
	allocated = sum(D(str(r["allocated_amount"])) for r in doc["references"])
	doc = {
		**doc,
		"paid_amount": float(allocated - 5),
		"received_amount": float(allocated - 5),
		"deductions": [
			{"account": "Bank Charges - _OCA", "cost_center": "Main - _OCA", "amount": 5.0},
			{"account": "Exchange Gain/Loss - _OCA", "amount": 0.37, "is_exchange_gain_loss": 1},
		],
	}
	plan = plan_payment(doc, config=CONFIG, targets=targets(), org=ORG)
	assert sum(line.amount for line in plan.lines) == allocated  # the invoices are settled in full
	(note,) = [n for n in plan.notes if n.startswith("Deductions")]
	assert f"Deductions of 5.00 (Bank Charges - _OCA) are not sent: Xero gets payments of {allocated}" in note
	assert f"the bank line shows {allocated - 5}" in note and "Spend Money of 5.00" in note
	assert "Exchange Gain" not in note
