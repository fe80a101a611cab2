"""Golden tests: every ERPNext fixture mapped to its Xero body, line by line, and the refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.errors import MappingError
from nexwave_xero_connector.sync.mapping import build_payload, plain_text
from nexwave_xero_connector.sync.model import AllocationIntent, Kind
from nexwave_xero_connector.sync.preflight import OrgInfo, xero_totals

from .fakes_masters import ATP, ITEM, KTL, FakeMasters, fixture, fixture_config

D = Decimal
URL = "https://erp.example.com/app/"
AKL = [{"Name": "Region", "Option": "Auckland"}]
WLG = [{"Name": "Region", "Option": "Wellington"}]
CONSULT = "Professional consulting services, billed per hour"
WOOL = "Merino wool bale (export grade)"

# (description, quantity, unit amount, account, tax type, tax amount, tracking)
GOLDEN = {
	"si_nz_inclusive": {
		"kind": Kind.SALES_INVOICE,
		"number": "ACC-SINV-2026-00002",
		"header": {
			"Type": "ACCREC",
			"Date": date(2026, 11, 16),
			"DueDate": date(2026, 12, 20),
			"LineAmountTypes": "Inclusive",
			"InvoiceNumber": "ACC-SINV-2026-00002",
			"Reference": "TUI-PO-4471",
			"Url": URL + "sales-invoice/ACC-SINV-2026-00002",
			"CurrencyCode": "NZD",
			"Status": "AUTHORISED",
		},
		"lines": [
			(CONSULT, "2.75", "185.00", "220", "OUTPUT2", "66.36", AKL),
			("On-site training (full day)", "1", "1350.00", "220", "OUTPUT2", "176.08", WLG),
			(WOOL, "2", "1249.50", "200", "ZERORATED", "0.00", AKL),
			("Freight - Auckland to Wellington", "1", "25.00", "260", "NONE", "0.00", AKL),
			("Rounding", "1", "0.25", "860", "NONE", "0.00", None),
		],
		# ERPNext: grand_total 4382.75, tax row 242.44, rounded_total 4383.00
		"totals": ("4140.56", "242.44", "4383.00"),
		"allocation": None,
	},
	"si_nz_exclusive_discount": {
		"kind": Kind.SALES_INVOICE,
		"number": "ACC-SINV-2026-00003",
		"header": {
			"Type": "ACCREC",
			"Date": date(2026, 11, 17),
			"DueDate": date(2026, 12, 20),
			"LineAmountTypes": "Exclusive",
			"InvoiceNumber": "ACC-SINV-2026-00003",
			"Url": URL + "sales-invoice/ACC-SINV-2026-00003",
			"CurrencyCode": "NZD",
			"Status": "AUTHORISED",
		},
		"lines": [
			# net_amount 874.15 after the 12.5 % line discount and the distributed 10 % document discount
			(CONSULT, "6", "145.6917", "220", "OUTPUT2", "131.12", AKL),
			("Freight and delivery", "1", "40.50", "260", "OUTPUT2", "6.08", AKL),
			("Rounding", "1", "0.15", "860", "NONE", "0.00", None),
		],
		# ERPNext: net_total 914.65, tax 137.20, grand_total 1051.85, rounded_total 1052.00
		"totals": ("914.80", "137.20", "1052.00"),
		"allocation": None,
	},
	"si_nz_usd": {
		"kind": Kind.SALES_INVOICE,
		"number": "ACC-SINV-2026-00004",
		"header": {
			"Type": "ACCREC",
			"Date": date(2026, 11, 18),
			"DueDate": date(2026, 12, 18),
			"LineAmountTypes": "Exclusive",
			"InvoiceNumber": "ACC-SINV-2026-00004",
			"Reference": "PRT-88120",
			"Url": URL + "sales-invoice/ACC-SINV-2026-00004",
			"CurrencyCode": "USD",
			"CurrencyRate": D("0.579878"),  # 1 / 1.7245
			"Status": "AUTHORISED",
		},
		"lines": [
			(WOOL, "4", "715.00", "200", "ZERORATED", "0.00", AKL),
			(CONSULT, "3.25", "110.00", "220", "ZERORATED", "0.00", AKL),
		],
		"totals": ("3217.50", "0.00", "3217.50"),
		"allocation": None,
	},
	"si_nz_return": {
		"kind": Kind.SALES_CREDIT,
		"number": "ACC-SINV-2026-00005",
		"header": {
			"Type": "ACCRECCREDIT",
			"Date": date(2026, 11, 24),
			"LineAmountTypes": "Inclusive",
			"CreditNoteNumber": "ACC-SINV-2026-00005",
			"Reference": "ACC-SINV-2026-00002",
			"CurrencyCode": "NZD",
			"Status": "AUTHORISED",
		},
		"lines": [
			(CONSULT, "1.25", "185.00", "220", "OUTPUT2", "30.16", AKL),
			(WOOL, "1", "1249.50", "200", "ZERORATED", "0.00", AKL),
			("Freight - Auckland to Wellington", "1", "25.00", "260", "NONE", "0.00", AKL),
			("Rounding", "1", "0.25", "860", "NONE", "0.00", None),
		],
		# ERPNext: grand_total -1505.75, GST -30.16, rounded_total -1506.00
		"totals": ("1475.84", "30.16", "1506.00"),
		# ERPNext kept the return's outstanding on itself (update_outstanding_for_self = 1)
		"allocation": None,
	},
	"pi_nz_freight": {
		"kind": Kind.BILL,
		"number": "SP-20931",
		"header": {
			"Type": "ACCPAY",
			"Date": date(2026, 11, 19),
			"DueDate": date(2026, 12, 20),
			"LineAmountTypes": "Exclusive",
			"InvoiceNumber": "SP-20931",
			"Url": URL + "purchase-invoice/ACC-PINV-2026-00001",
			"CurrencyCode": "NZD",
			"Status": "AUTHORISED",
		},
		"lines": [
			# ERPNext's 125.38 (125.385 rounded once, half to even): 88.12 + 37.26, not Xero's 88.13 + 37.26
			("Shipping carton 600x400x400", "250", "2.35", "300", "INPUT2", "88.12", AKL),
			("Packing tape 48mm x 100m", "36", "6.90", "300", "INPUT2", "37.26", AKL),
			("Freight - Christchurch to Auckland", "1", "38.00", "425", "NONE", "0.00", AKL),
			("Rounding", "1", "-0.28", "860", "NONE", "0.00", None),
		],
		# ERPNext: grand_total 999.28, rounded_total 999.00
		"totals": ("873.62", "125.38", "999.00"),
		"allocation": None,
	},
	"pi_nz_return": {
		"kind": Kind.BILL_CREDIT,
		"number": "SP-20931",
		"header": {
			"Type": "ACCPAYCREDIT",
			"Date": date(2026, 11, 25),
			"LineAmountTypes": "Exclusive",
			"CreditNoteNumber": "SP-20931",
			"CurrencyCode": "NZD",
			"Status": "AUTHORISED",
		},
		"lines": [
			("Shipping carton 600x400x400", "50", "2.35", "300", "INPUT2", "17.62", AKL),
			("Rounding", "1", "-0.12", "860", "NONE", "0.00", None),
		],
		# ERPNext: grand_total -135.12, rounded_total -135.00
		"totals": ("117.38", "17.62", "135.00"),
		# ERPNext kept the return's outstanding on itself (update_outstanding_for_self = 1)
		"allocation": None,
	},
	"si_au_mixed": {
		"kind": Kind.SALES_INVOICE,
		"number": "ACC-SINV-2026-00006",
		"header": {
			"Type": "ACCREC",
			"Date": date(2026, 11, 20),
			"DueDate": date(2026, 12, 4),
			"LineAmountTypes": "Exclusive",
			"InvoiceNumber": "ACC-SINV-2026-00006",
			"Url": URL + "sales-invoice/ACC-SINV-2026-00006",
			"CurrencyCode": "AUD",
			"Status": "AUTHORISED",
		},
		"lines": [
			(CONSULT, "4", "165.00", "220", "OUTPUT", "66.00", None),
			("Fresh fruit box (seasonal)", "6", "42.50", "200", "EXEMPTOUTPUT", "0.00", None),
			("Freight and delivery", "1", "19.95", "260", "OUTPUT", "2.00", None),
			("Rounding", "1", "0.05", "860", "BASEXCLUDED", "0.00", None),
		],
		# ERPNext: GST 68.00, grand_total 1002.95, rounded_total 1003.00
		"totals": ("935.00", "68.00", "1003.00"),
		"allocation": None,
	},
}


def build(doc: dict, config=None, **kwargs):
	"""build_payload with the fixtures' config and masters."""
	return build_payload(
		doc,
		config=config or fixture_config(),
		masters=kwargs.pop("masters", FakeMasters()),
		contact_id="CONTACT-1",
		**kwargs,
	)


def as_rows(body: dict) -> list[tuple]:
	"""The body's lines as (description, qty, unit, account, tax type, tax amount, tracking)."""
	return [
		(
			line["Description"],
			line["Quantity"],
			line["UnitAmount"],
			line["AccountCode"],
			line.get("TaxType"),
			line.get("TaxAmount"),
			line.get("Tracking"),
		)
		for line in body["LineItems"]
	]


def expected_rows(golden: dict) -> list[tuple]:
	return [(desc, D(q), D(u), acc, tt, D(tax), tr) for desc, q, u, acc, tt, tax, tr in golden["lines"]]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_fixture_maps_line_by_line(name: str) -> None:
	golden = GOLDEN[name]
	payload = build(fixture(name))
	header = {k: v for k, v in payload.body.items() if k != "LineItems"}
	assert header == {**golden["header"], "Contact": {"ContactID": "CONTACT-1"}}
	assert as_rows(payload.body) == expected_rows(golden)
	assert xero_totals(payload.body, {}) == tuple(D(x) for x in golden["totals"])
	assert payload.kind is golden["kind"]
	assert payload.number == golden["number"]
	assert payload.total == D(golden["totals"][2])
	assert payload.url == golden["header"].get("Url")  # credit notes have no Url in Xero
	assert payload.date == golden["header"]["Date"]
	assert payload.contact_id == "CONTACT-1"
	assert payload.allocation == golden["allocation"]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_total_equals_erpnext_rounded_total(name: str) -> None:
	doc = fixture(name)
	payload = build(doc)
	sign = -1 if doc["is_return"] else 1
	assert payload.total == D(str(doc["rounded_total"])) * sign
	# Xero's TotalTax is exactly ERPNext's tax rows, not the per-line recomputation
	gst = sum(D(str(t["tax_amount"])) for t in doc["taxes"] if t["charge_type"] == "On Net Total")
	assert xero_totals(payload.body, {})[1] == gst * sign


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_same_body_when_rates_are_derived_from_erpnext(name: str) -> None:
	"""Without Xero's rates in the settings the mapper uses the rates ERPNext applied; same result."""
	assert build(fixture(name), fixture_config(tax_rates={})).body == build(fixture(name)).body


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_live_form_with_date_objects_gives_the_same_body(name: str) -> None:
	doc = fixture(name)
	live = fixture(name)
	for key in ("posting_date", "due_date", "bill_date"):
		if live.get(key):
			live[key] = date.fromisoformat(live[key])
	live["items"][0]["item_tax_rate"] = json.loads(live["items"][0]["item_tax_rate"])
	assert build(live).body == build(doc).body


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_digest_is_stable(name: str) -> None:
	assert build(fixture(name)).digest() == build(fixture(name)).digest()


# --- credit-note allocation follows ERPNext's update_outstanding_for_self ----------------------------------

RETURNS = {
	"si_nz_return": ("Sales Invoice", "ACC-SINV-2026-00002", D("1506.00")),
	"pi_nz_return": ("Purchase Invoice", "ACC-PINV-2026-00001", D("135.00")),
}


@pytest.mark.parametrize("name", sorted(RETURNS))
def test_return_applied_to_the_original_in_erpnext_is_allocated_to_it(name: str) -> None:
	doc = fixture(name)
	doc["update_outstanding_for_self"] = 0  # ERPNext posted the return against return_against
	payload = build(doc)
	assert payload.allocation == AllocationIntent(*RETURNS[name])
	assert payload.unallocated_reason is None


@pytest.mark.parametrize("name", sorted(RETURNS))
def test_return_keeping_its_own_outstanding_is_left_unallocated(name: str) -> None:
	doc = fixture(name)
	assert doc["update_outstanding_for_self"] == 1  # as ERPNext 15 made it: the field defaults to 1
	payload = build(doc)
	original = RETURNS[name][1]
	assert payload.allocation is None
	assert payload.unallocated_reason == (
		"Credit left unallocated: ERPNext keeps this return's balance on itself (Update Outstanding for "
		f"Self), so it was not applied to {original} in Xero either."
	)
	# the flag changes only the allocation, never what is sent
	unset = fixture(name)
	unset["update_outstanding_for_self"] = 0
	assert payload.body == build(unset).body


def test_return_without_the_field_is_allocated_as_older_erpnext_applied_it() -> None:
	doc = fixture("si_nz_return")
	del doc["update_outstanding_for_self"]
	assert build(doc).allocation == AllocationIntent(*RETURNS["si_nz_return"])


def test_return_against_nothing_has_neither_allocation_nor_reason() -> None:
	for flag in (0, 1):
		doc = fixture("pi_nz_return")
		doc.update(return_against=None, update_outstanding_for_self=flag)
		payload = build(doc)
		assert (payload.allocation, payload.unallocated_reason) == (None, None)


def test_invoice_never_has_an_unallocated_reason() -> None:
	assert build(fixture("si_nz_inclusive")).unallocated_reason is None


def test_payload_with_org_in_base_currency_omits_the_rate() -> None:
	org = OrgInfo(base_currency="NZD", currencies=frozenset({"NZD", "USD"}))
	assert "CurrencyRate" not in build(fixture("si_nz_inclusive"), org=org).body
	assert build(fixture("si_nz_usd"), org=org).body["CurrencyRate"] == D("0.579878")


# --- tax resolution -------------------------------------------------------------------------------------


def test_item_without_template_falls_to_the_company_default() -> None:
	doc = fixture("si_au_mixed")
	doc["taxes_and_charges"] = ""  # rows kept, template link cleared
	masters = FakeMasters()
	payload = build(doc, masters=masters)
	assert [line["TaxType"] for line in payload.body["LineItems"]] == [
		"OUTPUT",
		"EXEMPTOUTPUT",
		"OUTPUT",
		"BASEXCLUDED",
	]
	assert ("default_taxes_template", "Sales Taxes and Charges Template", ATP) in masters.calls
	# asked once for the whole document, not once per line
	assert masters.calls.count(("default_taxes_template", "Sales Taxes and Charges Template", ATP)) == 1


def test_item_template_found_by_erpnext_lookup_wins_over_company_default() -> None:
	doc = fixture("si_au_mixed")
	doc["taxes_and_charges"] = ""
	doc["items"][1]["item_tax_template"] = None  # FRESH-BOX: ERPNext's lookup finds AU GST Free - ATP
	payload = build(doc)
	assert payload.body["LineItems"][1]["TaxType"] == "EXEMPTOUTPUT"


def test_zero_rate_from_document_template_when_line_has_none() -> None:
	"""si_nz_usd: WOOL-BALE has no item template (tax category mismatch); the export template zero-rates it."""
	masters = FakeMasters()
	payload = build(fixture("si_nz_usd"), masters=masters)
	assert payload.body["LineItems"][0]["TaxType"] == "ZERORATED"
	assert masters.calls == []  # the document template answered before any lookup


def test_missing_tax_mapping_names_item_line_and_templates() -> None:
	config = fixture_config(tax_map={k: v for k, v in fixture_config().tax_map.items() if k[0] != KTL})
	with pytest.raises(MappingError) as err:
		build(fixture("si_nz_inclusive"), config)
	message = str(err.value)
	assert message.startswith(
		"No tax mapping for item CONSULT-HR on line 1 of Sales Invoice ACC-SINV-2026-00002. Map it in Xero Sync Settings"
	)
	assert "NZ GST 15% Inclusive - KTL (Sales Taxes and Charges Template, not mapped)" in message
	assert "NZ GST 15% - KTL (Sales Taxes and Charges Template, not mapped)" in message


def test_unmapped_zero_rated_template_does_not_fall_to_the_15_percent_type() -> None:
	tax_map = dict(fixture_config().tax_map)
	del tax_map[(KTL, ITEM, "NZ Zero Rated - KTL")]
	with pytest.raises(MappingError) as err:
		build(fixture("si_nz_inclusive"), fixture_config(tax_map=tax_map))
	message = str(err.value)
	assert "item WOOL-BALE on line 3" in message
	assert "0%, the rate ERPNext charged" in message
	assert "NZ Zero Rated - KTL (Item Tax Template, not mapped)" in message
	assert "NZ GST 15% Inclusive - KTL (Sales Taxes and Charges Template) -> OUTPUT2, which is 15%" in message


def test_without_rates_one_type_for_two_erpnext_rates_is_refused() -> None:
	tax_map = dict(fixture_config().tax_map)
	tax_map[(KTL, ITEM, "NZ Zero Rated - KTL")] = "OUTPUT2"
	with pytest.raises(MappingError, match=r"OUTPUT2 is used .* taxed at 15% .* and at 0%"):
		build(fixture("si_nz_inclusive"), fixture_config(tax_map=tax_map, tax_rates={}))


def test_freight_on_a_zero_rated_document_stays_zero_rated() -> None:
	doc = fixture("si_nz_usd")
	doc["taxes"].append(
		{
			"idx": 2,
			"charge_type": "Actual",
			"account_head": "Freight Recovered - KTL",
			"description": "Freight",
			"rate": 0.0,
			"included_in_print_rate": 0,
			"tax_amount": 40.0,
			"tax_amount_after_discount_amount": 40.0,
			"cost_center": "Main - KTL",
		}
	)
	doc["grand_total"] = doc["rounded_total"] = 3257.5
	assert build(doc).body["LineItems"][-1]["TaxType"] == "ZERORATED"


def test_missing_no_tax_type_names_the_setting() -> None:
	with pytest.raises(MappingError, match=r"no 'No Tax' tax type is set for Kiwi Test Ltd"):
		build(fixture("pi_nz_freight"), fixture_config(no_tax_type={}))


def test_no_tax_type_with_a_rate_is_refused() -> None:
	with pytest.raises(MappingError, match=r"OUTPUT2 set for Kiwi Test Ltd .* is 15% in Xero"):
		build(fixture("pi_nz_return"), fixture_config(no_tax_type={KTL: "OUTPUT2"}))


# --- accounts, rounding, numbers --------------------------------------------------------------------------


def test_missing_account_mapping_names_account_and_setting() -> None:
	account_map = dict(fixture_config().account_map)
	del account_map[(KTL, "Service - KTL")]
	with pytest.raises(MappingError) as err:
		build(fixture("si_nz_inclusive"), fixture_config(account_map=account_map))
	assert str(err.value) == (
		"No Xero account for the ERPNext account 'Service - KTL' (item CONSULT-HR on line 1 of Sales Invoice "
		"ACC-SINV-2026-00002). Map it in the account mapping of Xero Sync Settings for Kiwi Test Ltd."
	)


def test_missing_freight_account_mapping_names_the_tax_row() -> None:
	account_map = dict(fixture_config().account_map)
	del account_map[(KTL, "Freight and Forwarding Charges - KTL")]
	with pytest.raises(MappingError, match=r"'Freight and Forwarding Charges - KTL' \(tax row 2 \(Freight"):
		build(fixture("pi_nz_freight"), fixture_config(account_map=account_map))


def test_missing_rounding_account_names_the_setting() -> None:
	with pytest.raises(
		MappingError, match=r"rounding adjustment of 0.25 but no rounding account is set for Kiwi"
	):
		build(fixture("si_nz_inclusive"), fixture_config(rounding_account={}))


def test_no_rounding_line_without_adjustment() -> None:
	payload = build(fixture("si_nz_usd"), fixture_config(rounding_account={}))
	assert [line["Description"] for line in payload.body["LineItems"]][-1] == CONSULT


def test_rounding_disabled_compares_with_grand_total() -> None:
	doc = fixture("si_au_mixed")
	doc.update(disable_rounded_total=1, rounded_total=0.0, rounding_adjustment=0.0)
	assert build(doc).total == D("1002.95")


def test_bill_without_bill_no_uses_the_document_name() -> None:
	doc = fixture("pi_nz_freight")
	doc["bill_no"] = ""
	payload = build(doc)
	assert payload.number == payload.body["InvoiceNumber"] == "ACC-PINV-2026-00001"


def test_bill_needs_the_site_url_as_ownership_marker() -> None:
	with pytest.raises(MappingError, match="Set host_name in the site config"):
		build(fixture("pi_nz_freight"), fixture_config(site_url=""))
	assert "Url" not in build(fixture("si_nz_usd"), fixture_config(site_url="")).body


def test_html_description_is_plain_text_and_falls_back_to_item_name() -> None:
	doc = fixture("si_nz_usd")
	doc["items"][0]["description"] = "<div><p>Merino&nbsp;wool <b>bale</b></p><p>export &amp; grade</p></div>"
	doc["items"][1]["description"] = "<p> </p>"
	lines = build(doc).body["LineItems"]
	assert lines[0]["Description"] == "Merino wool bale\nexport & grade"
	assert lines[1]["Description"] == "Consulting services (per hour)"
	assert plain_text(None) == ""


def test_quantity_that_xero_cannot_hold_goes_as_one_line_amount() -> None:
	doc = fixture("si_nz_usd")
	item = doc["items"][1]
	item.update(qty=3.123456, amount=343.58, net_amount=343.58)  # 6 dp quantity
	doc["net_total"] = doc["grand_total"] = doc["rounded_total"] = 3203.58
	line = build(doc).body["LineItems"][1]
	assert (line["Quantity"], line["UnitAmount"]) == (D(1), D("343.58"))
	assert line["Description"].endswith("(qty 3.123456)")


def test_no_tax_rows_means_no_tax() -> None:
	doc = fixture("si_nz_usd")
	doc["taxes"] = []
	doc["taxes_and_charges"] = ""
	body = build(doc).body
	assert body["LineAmountTypes"] == "NoTax"
	assert all("TaxType" not in line and "TaxAmount" not in line for line in body["LineItems"])


def test_deduct_row_becomes_a_negative_line_and_valuation_row_is_left_out() -> None:
	doc = fixture("pi_nz_freight")
	doc["taxes"].append(
		{
			"idx": 3,
			"charge_type": "Actual",
			"account_head": "Freight and Forwarding Charges - KTL",
			"description": "Freight rebate",
			"rate": 0.0,
			"tax_amount": 8.0,
			"tax_amount_after_discount_amount": 8.0,
			"category": "Total",
			"add_deduct_tax": "Deduct",
			"included_in_print_rate": 0,
			"cost_center": "Main - KTL",
		}
	)
	doc["taxes"].append(
		{
			"idx": 4,
			"charge_type": "Actual",
			"account_head": "Stock In Hand - KTL",
			"description": "Customs",
			"rate": 0.0,
			"tax_amount": 50.0,
			"tax_amount_after_discount_amount": 50.0,
			"category": "Valuation",
			"add_deduct_tax": "Add",
			"included_in_print_rate": 0,
			"cost_center": "Main - KTL",
		}
	)
	doc.update(grand_total=991.28, rounding_adjustment=-0.28, rounded_total=991.0)
	payload = build(doc)
	descriptions = [(line["Description"], line["UnitAmount"]) for line in payload.body["LineItems"]]
	assert ("Freight rebate", D("-8.00")) in descriptions
	assert "Customs" not in [d for d, _ in descriptions]
	assert payload.total == D("991.00")


def test_compound_charge_type_is_refused() -> None:
	doc = fixture("si_au_mixed")
	doc["taxes"][0]["charge_type"] = "On Previous Row Total"
	with pytest.raises(MappingError, match=r"charge type 'On Previous Row Total'"):
		build(doc)


def test_edited_tax_amount_that_the_rate_cannot_explain_is_refused() -> None:
	doc = fixture("si_au_mixed")
	doc["taxes"][0]["tax_amount"] = doc["taxes"][0]["tax_amount_after_discount_amount"] = 70.0
	with pytest.raises(MappingError, match=r"Tax row 1 .* is 70.00, but its rate on the lines gives 67.9950"):
		build(doc)


def test_totals_mismatch_names_the_difference() -> None:
	doc = fixture("si_au_mixed")
	doc["rounded_total"] = 1003.5
	with pytest.raises(MappingError) as err:
		build(doc)
	assert str(err.value).startswith(
		"Sales Invoice ACC-SINV-2026-00006 would total 1003.00 AUD in Xero but 1003.50 AUD in ERPNext, a "
		"difference of -0.50 AUD. Nothing was sent."
	)


def test_missing_contact_is_refused() -> None:
	with pytest.raises(MappingError, match="no Xero contact"):
		build_payload(fixture("si_au_mixed"), config=fixture_config(), masters=FakeMasters(), contact_id="")


def test_other_doctypes_are_refused() -> None:
	doc = fixture("si_au_mixed")
	doc["doctype"] = "POS Invoice"
	with pytest.raises(MappingError, match="only Sales and Purchase Invoices"):
		build(doc)


# --- organisation checks -----------------------------------------------------------------------------------


def test_unsubscribed_currency_is_refused() -> None:
	org = OrgInfo(base_currency="NZD", currencies=frozenset({"NZD", "AUD"}))
	with pytest.raises(MappingError) as err:
		build(fixture("si_nz_usd"), org=org)
	assert "is in USD, but the Xero organisation is not subscribed to USD" in str(err.value)


def test_document_inside_the_lock_date_is_refused() -> None:
	org = OrgInfo(base_currency="NZD", currencies=frozenset({"NZD"}), period_lock_date=date(2026, 11, 30))
	with pytest.raises(
		MappingError, match=r"dated 2026-11-16, on or before the Xero period lock date \(2026-11-30\)"
	):
		build(fixture("si_nz_inclusive"), org=org)
	build(fixture("si_nz_inclusive"), org=replace(org, period_lock_date=date(2026, 11, 15)))


def test_company_in_another_currency_than_the_org_is_refused() -> None:
	org = OrgInfo(base_currency="USD", currencies=frozenset({"USD", "NZD"}))
	with pytest.raises(MappingError, match="company's currency is not the organisation's"):
		build(fixture("si_nz_usd"), org=org)
