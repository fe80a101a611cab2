"""A stock New Zealand company: three tax templates all named "New Zealand - KTL", one per doctype.

ERPNext 15's setup creates them from one country_wise_tax.json entry (tests/fixtures/erpnext/README.md,
"Stock New Zealand templates"). The mapping must tell them apart by doctype: an invoice on the sales
template goes out as OUTPUT2, a bill on the purchase template as INPUT2.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.errors import MappingError
from nexwave_xero_connector.sync.mapping import build_payload
from nexwave_xero_connector.sync.tax import XeroTaxRate, propose_tax_type, tax_type_choices, template_rate

from .fakes_masters import FIXTURES, ITEM, KTL, PURCHASE, SALES, FakeMasters, fixture, fixture_config

D = Decimal
STOCK = "New Zealand - KTL"
STOCK_MAP = {(KTL, SALES, STOCK): "OUTPUT2", (KTL, PURCHASE, STOCK): "INPUT2"}


def stock_templates() -> dict:
	return json.loads((FIXTURES / "stock_nz_templates.json").read_text())


def on_stock_template(name: str, *, line_template: bool = False, default: bool = False) -> dict:
	"""A fixture moved onto the stock templates: the document's template (or the company default)."""
	doc = fixture(name)
	doc["taxes_and_charges"] = "" if default else STOCK
	if line_template:  # the item carries the stock Item Tax Template, as ERPNext fills it on the line
		for item in doc["items"]:
			item["item_tax_template"] = STOCK
			item["item_tax_rate"] = json.dumps({"GST - KTL": 15.0})
	return doc


def build(doc: dict, tax_map: dict, masters: FakeMasters | None = None):
	return build_payload(
		doc,
		config=fixture_config(tax_map=tax_map),
		masters=masters or FakeMasters(stock_templates()),
		contact_id="CONTACT-1",
	)


def tax_types(payload) -> list[str]:
	"""TaxType of each item line (charges and rounding lines left out)."""
	return [line["TaxType"] for line in payload.body["LineItems"][:2]]


def test_stock_setup_names_all_three_templates_alike() -> None:
	templates = stock_templates()
	assert {doctype: [t["name"] for t in templates[doctype]] for doctype in (SALES, PURCHASE, ITEM)} == {
		SALES: [STOCK],
		PURCHASE: [STOCK],
		ITEM: [STOCK],
	}
	# the fixtures' GST rows use the same stock account at the same rate
	assert {r["account_head"] for r in fixture("pi_nz_freight")["taxes"] if r["rate"]} == {"GST - KTL"}


def test_sales_invoice_on_the_stock_sales_template_is_output2() -> None:
	assert tax_types(build(on_stock_template("si_nz_exclusive_discount"), STOCK_MAP)) == ["OUTPUT2"] * 2


def test_bill_on_the_stock_purchase_template_is_input2() -> None:
	payload = build(on_stock_template("pi_nz_freight"), STOCK_MAP)
	assert tax_types(payload) == ["INPUT2"] * 2
	# and nothing else about the bill changed: same body as on the fixture's own purchase template
	assert payload.body == build(fixture("pi_nz_freight"), fixture_config().tax_map).body


def test_unmapped_stock_item_tax_template_falls_through_to_each_documents_template() -> None:
	sales = build(on_stock_template("si_nz_exclusive_discount", line_template=True), STOCK_MAP)
	bill = build(on_stock_template("pi_nz_freight", line_template=True), STOCK_MAP)
	assert (tax_types(sales), tax_types(bill)) == (["OUTPUT2"] * 2, ["INPUT2"] * 2)


def test_company_default_is_looked_up_in_the_invoices_own_doctype() -> None:
	masters = stock_templates()
	for doctype in (SALES, PURCHASE):
		masters[doctype][0]["is_default"] = 1
	bill = build(on_stock_template("pi_nz_freight", default=True), STOCK_MAP, FakeMasters(masters))
	sales = build(
		on_stock_template("si_nz_exclusive_discount", default=True), STOCK_MAP, FakeMasters(masters)
	)
	assert (tax_types(bill), tax_types(sales)) == (["INPUT2"] * 2, ["OUTPUT2"] * 2)


def test_a_sales_mapping_is_never_used_for_a_bill_on_the_same_name() -> None:
	only_sales = {(KTL, SALES, STOCK): "OUTPUT2"}
	with pytest.raises(MappingError) as err:
		build(on_stock_template("pi_nz_freight"), only_sales)
	assert f"{STOCK} (Purchase Taxes and Charges Template, not mapped)" in str(err.value)


# --- what "Load from Xero" proposes ---------------------------------------------------------------------

# Xero's New Zealand tax rates as the emulator seeds them (tests/emulator/seed.py), with the flags the
# TaxRates endpoint returns (CanApplyToRevenue, CanApplyToExpenses).
NZ_RATES = [
	XeroTaxRate("OUTPUT2", "GST on Income", D(15), True, revenue=True, expenses=False),
	XeroTaxRate("INPUT2", "GST on Expenses", D(15), True, revenue=False, expenses=True),
	XeroTaxRate("ZERORATED", "Zero Rated", D(0), True, revenue=True, expenses=False),
	XeroTaxRate("NONE", "No GST", D(0), True, revenue=True, expenses=True),
	XeroTaxRate("GSTONIMPORTS", "GST on Imports", D(15), True, revenue=False, expenses=False),
	XeroTaxRate("OUTPUT", "GST on Income (12.5%)", D("12.5"), False, revenue=True, expenses=False),
]


def test_load_from_xero_proposes_output2_for_the_sales_and_input2_for_the_purchase_template() -> None:
	assert propose_tax_type(SALES, D(15), NZ_RATES) == "OUTPUT2"
	assert propose_tax_type(PURCHASE, D(15), NZ_RATES) == "INPUT2"


def test_item_tax_templates_get_choices_but_no_proposal() -> None:
	assert tax_type_choices(ITEM, D(15), NZ_RATES) == []  # no NZ type is allowed on both sides at 15 %
	assert tax_type_choices(ITEM, D(0), NZ_RATES) == ["NONE"]
	assert propose_tax_type(ITEM, D(0), NZ_RATES) is None


def test_two_zero_rated_choices_are_left_to_the_accountant() -> None:
	assert tax_type_choices(SALES, D(0), NZ_RATES) == ["ZERORATED", "NONE"]
	assert propose_tax_type(SALES, D(0), NZ_RATES) is None
	assert propose_tax_type(PURCHASE, D(0), NZ_RATES) == "NONE"


def test_archived_types_and_other_rates_are_never_proposed() -> None:
	assert propose_tax_type(SALES, D("12.5"), NZ_RATES) is None
	assert propose_tax_type(SALES, D(10), NZ_RATES) is None


def test_template_rate_of_the_stock_templates_is_15() -> None:
	templates = stock_templates()
	assert {dt: template_rate(dt, templates[dt][0]["taxes"]) for dt in (SALES, PURCHASE, ITEM)} == {
		SALES: D(15),
		PURCHASE: D(15),
		ITEM: D(15),
	}


def test_template_rate_leaves_out_charges_deductions_and_valuation_rows() -> None:
	rows = [
		{"charge_type": "On Net Total", "rate": 15, "category": "Total", "add_deduct_tax": "Add"},
		{"charge_type": "Actual", "rate": 0, "category": "Total", "add_deduct_tax": "Add"},
		{"charge_type": "On Net Total", "rate": 5, "category": "Valuation", "add_deduct_tax": "Add"},
		{"charge_type": "On Net Total", "rate": 2, "category": "Total", "add_deduct_tax": "Deduct"},
	]
	assert template_rate(PURCHASE, rows) == D(15)
	assert template_rate(ITEM, [{"tax_rate": 19}, {"tax_rate": 0}]) == D(19)
	assert template_rate(ITEM, [{"tax_rate": 0}]) == D(0)
	assert template_rate(ITEM, [{"tax_rate": 19}, {"tax_rate": 7}]) is None
