"""Tax rows, exact splitting of ERPNext's tax over lines, and the TaxType resolution chain."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.errors import MappingError
from nexwave_xero_connector.sync.money import dec, money, nudge_to, quantity, split_cents
from nexwave_xero_connector.sync.tax import (
	CachedMasters,
	LineContext,
	TaxRow,
	item_tax_overrides,
	line_rates,
	read_tax_rows,
	resolve_charge_tax_type,
	resolve_line_tax_type,
	split_row_tax,
)

from .fakes_masters import ATP, ITEM, KTL, SALES, FakeMasters, fixture, fixture_config

D = Decimal


def test_dec_reads_floats_through_their_text() -> None:
	assert dec(442.39) == D("442.39")
	assert dec(None) == dec("") == D(0)
	assert dec(True) == D(1)
	assert money(0.1 + 0.2) == D("0.30")
	assert quantity(250.0) == D(250) and str(quantity(250.0)) == "250"
	with pytest.raises(ValueError):
		dec("abc")


def test_split_cents_reproduces_erpnext_row_total() -> None:
	# si_nz_inclusive: 66.3585 + 176.0865 = 242.445, ERPNext (half to even) 242.44
	assert split_cents(D("242.44"), [D("66.3585"), D("176.0865"), D(0)]) == [
		D("66.36"),
		D("176.08"),
		D("0.00"),
	]
	# pi_nz_freight: 88.125 + 37.26 = 125.385 -> 125.38
	assert split_cents(D("125.38"), [D("88.125"), D("37.26")]) == [D("88.12"), D("37.26")]
	# si_au_mixed: 66 + 0 + 1.995 = 67.995 -> 68.00
	assert split_cents(D("68.00"), [D("66"), D("0"), D("1.995")]) == [D("66.00"), D("0.00"), D("2.00")]


def test_split_cents_refuses_what_rounding_cannot_explain() -> None:
	assert split_cents(D("70.00"), [D("66"), D("1.995")]) is None
	assert split_cents(D("67.98"), [D("66"), D("1.995")]) is None


def test_split_cents_handles_negative_parts() -> None:
	parts = split_cents(D("-0.01"), [D("1.004"), D("-1.006")])
	assert parts is not None and sum(parts) == D("-0.01")


def test_nudge_moves_cents_to_the_lines_furthest_from_exact() -> None:
	assert nudge_to([D("1.00"), D("2.00")], D("3.01"), [D("1.001"), D("2.009")]) == [D("1.00"), D("2.01")]
	assert nudge_to([D("1.00"), D("2.00")], D("2.99"), [D("0.999"), D("2.004")]) == [D("0.99"), D("2.00")]
	assert nudge_to([D("1.00")], D("1.05"), [D("1")]) is None
	assert nudge_to([D("1.00"), D("2.00")], D("3.05"), [D("1"), D("2.004")], limit=5) == [
		D("1.02"),
		D("2.03"),
	]


def test_read_tax_rows_classifies_gst_and_freight() -> None:
	rows = read_tax_rows(fixture("si_nz_inclusive"), 1, "SI")
	assert [(r.idx, r.amount, r.inclusive) for r in rows.line_rows] == [(1, D("242.44"), True)]
	assert [(r.idx, r.account_head, r.amount) for r in rows.charges] == [
		(2, "Freight Recovered - KTL", D("25.00"))
	]
	assert rows.inclusive


def test_read_tax_rows_flips_returns_to_positive() -> None:
	rows = read_tax_rows(fixture("si_nz_return"), -1, "SI")
	assert rows.line_rows[0].amount == D("30.16")
	assert rows.charges[0].amount == D("25.00")


def test_read_tax_rows_refuses_mixed_inclusive_and_exclusive_rows() -> None:
	doc = fixture("si_nz_inclusive")
	doc["taxes"].append({**doc["taxes"][0], "idx": 3, "included_in_print_rate": 0})
	with pytest.raises(MappingError, match="included in the price and tax rows added on top"):
		read_tax_rows(doc, 1, "SI")


def test_item_tax_rate_override_applies_to_its_account() -> None:
	doc = fixture("si_au_mixed")
	rows = read_tax_rows(doc, 1, "SI").line_rows
	assert [line_rates(item, rows) for item in doc["items"]] == [[D(10)], [D(0)], [D(10)]]
	assert item_tax_overrides({"item_tax_rate": {"GST - KTL": 0.0}}) == {"GST - KTL": D(0)}
	assert item_tax_overrides({"item_tax_rate": "{}"}) == {}


def test_split_row_tax_message_names_row_and_figures() -> None:
	row = TaxRow(1, "On Net Total", "GST - KTL", "GST 15%", D(15), False, D("20.00"), None)
	with pytest.raises(
		MappingError, match=r"Tax row 1 \(GST 15%\) of PI is 20.00, but its rate on the lines gives 15.0000"
	):
		split_row_tax(row, [D(15)], "PI")


def context(**changes: object) -> LineContext:
	values: dict = {
		"company": KTL,
		"label": "Sales Invoice X",
		"line_no": 1,
		"item_code": "WOOL-BALE",
		"item_label": "WOOL-BALE",
		"line_template": None,
		"doc_template": None,
		"tax_category": None,
		"on": date(2026, 11, 16),
		"base_net_rate": D("1249.5"),
		"template_doctype": "Sales Taxes and Charges Template",
		"erp_rate": D(0),
	}
	values.update(changes)
	return LineContext(**values)


def test_chain_step_1_line_template() -> None:
	ctx = context(line_template="NZ GST Exempt - KTL", doc_template="NZ Zero Rated Export - KTL")
	assert resolve_line_tax_type(ctx, fixture_config(), CachedMasters(FakeMasters())) == "NONE"


def test_chain_step_2_document_template() -> None:
	masters = FakeMasters()
	ctx = context(doc_template="NZ Zero Rated Export - KTL")
	assert resolve_line_tax_type(ctx, fixture_config(), CachedMasters(masters)) == "ZERORATED"
	assert masters.calls == []


def test_chain_step_3_erpnext_item_lookup() -> None:
	masters = FakeMasters()
	assert resolve_line_tax_type(context(), fixture_config(), CachedMasters(masters)) == "ZERORATED"
	assert masters.calls[0][:3] == ("item_tax_template", "WOOL-BALE", KTL)


def test_chain_step_3_respects_tax_category_like_erpnext() -> None:
	# WOOL-BALE's Item Tax row has no tax category, so an "Export Customer" document does not get it
	masters = FakeMasters()
	ctx = context(tax_category="Export Customer", erp_rate=D(15))
	assert resolve_line_tax_type(ctx, fixture_config(), CachedMasters(masters)) == "OUTPUT2"
	assert masters.calls[-1] == ("default_taxes_template", "Sales Taxes and Charges Template", KTL)


def test_chain_step_4_company_default() -> None:
	ctx = context(item_code="CONSULT-HR", erp_rate=D(15))
	assert resolve_line_tax_type(ctx, fixture_config(), CachedMasters(FakeMasters())) == "OUTPUT2"


def test_chain_first_mapped_template_wins_when_rates_are_unknown() -> None:
	ctx = context(line_template="NZ Zero Rated - KTL", doc_template="NZ GST 15% - KTL", erp_rate=D(0))
	config = fixture_config(tax_rates={})
	assert resolve_line_tax_type(ctx, config, CachedMasters(FakeMasters())) == "ZERORATED"


def test_chain_skips_a_mapping_whose_rate_disagrees_with_erpnext() -> None:
	tax_map = dict(fixture_config().tax_map)
	del tax_map[(KTL, ITEM, "NZ Zero Rated - KTL")]
	ctx = context(line_template="NZ Zero Rated - KTL", doc_template="NZ GST 15% - KTL", item_code="")
	with pytest.raises(MappingError) as err:
		resolve_line_tax_type(ctx, fixture_config(tax_map=tax_map), CachedMasters(FakeMasters()))
	assert str(err.value) == (
		"No tax mapping for item WOOL-BALE on line 1 of Sales Invoice X. Map it in Xero Sync Settings to a tax "
		"type of 0%, the rate ERPNext charged. (tried: NZ Zero Rated - KTL (Item Tax Template, not mapped); "
		"NZ GST 15% - KTL (Sales Taxes and Charges Template) -> OUTPUT2, which is 15%)"
	)


def test_chain_with_nothing_to_try_says_so() -> None:
	ctx = context(company="Nobody Ltd", item_code="")
	with pytest.raises(
		MappingError, match=r"tried: the line, the document, the item and the company have no tax"
	):
		resolve_line_tax_type(ctx, fixture_config(), CachedMasters(FakeMasters()))


def test_cached_masters_asks_once() -> None:
	masters = FakeMasters()
	cached = CachedMasters(masters)
	for _ in range(3):
		cached.default_taxes_template("Purchase Taxes and Charges Template", ATP)
		cached.item_tax_template("FRESH-BOX", ATP, None, date(2026, 1, 1), D(1))
	assert len(masters.calls) == 2
	assert (
		cached.default_taxes_template("Purchase Taxes and Charges Template", ATP)
		== "AU Non Capital Purchase - GST - ATP"
	)
	assert cached.item_tax_template("FRESH-BOX", ATP, None, date(2026, 1, 1), D(1)) == "AU GST Free - ATP"


def test_fake_masters_honours_validity_and_net_rate_range() -> None:
	masters_data = {
		"Item": [
			{
				"name": "X",
				"taxes": [
					{"item_tax_template": "Old", "valid_from": "2020-01-01", "maximum_net_rate": 0},
					{
						"item_tax_template": "Cheap",
						"valid_from": "2025-01-01",
						"minimum_net_rate": 0,
						"maximum_net_rate": 100,
					},
				],
			}
		],
		"Item Tax Template": [{"name": "Old", "company": KTL}, {"name": "Cheap", "company": KTL}],
	}
	masters = FakeMasters(masters_data)
	assert masters.item_tax_template("X", KTL, None, date(2026, 1, 1), D(50)) == "Cheap"
	assert masters.item_tax_template("X", KTL, None, date(2026, 1, 1), D(500)) == "Old"
	assert masters.item_tax_template("X", KTL, None, date(2024, 1, 1), D(50)) == "Old"
	assert masters.item_tax_template("X", ATP, None, date(2026, 1, 1), D(50)) is None


def charge_row() -> TaxRow:
	return TaxRow(2, "Actual", "Freight Recovered - KTL", "Freight", D(0), False, D(25), None)


def test_charge_on_a_taxed_document_gets_the_no_tax_type() -> None:
	rates = {"OUTPUT2": D(15)}
	got = resolve_charge_tax_type(
		charge_row(),
		config=fixture_config(),
		company=KTL,
		template_doctype=SALES,
		doc_template="NZ GST 15% - KTL",
		rates=rates,
		label="SI",
	)
	assert got == "NONE"


def test_charge_on_a_zero_rated_document_is_zero_rated() -> None:
	rates = {"ZERORATED": D(0)}
	got = resolve_charge_tax_type(
		charge_row(),
		config=fixture_config(),
		company=KTL,
		template_doctype=SALES,
		doc_template="NZ Zero Rated Export - KTL",
		rates=rates,
		label="SI",
	)
	assert got == "ZERORATED"


def test_charge_without_a_no_tax_type_names_the_setting() -> None:
	with pytest.raises(MappingError) as err:
		resolve_charge_tax_type(
			charge_row(),
			config=fixture_config(no_tax_type={}),
			company=KTL,
			template_doctype=SALES,
			doc_template=None,
			rates={},
			label="SI",
		)
	assert str(err.value) == (
		"SI has a charge 'Freight' (tax row 2), which ERPNext charges no tax on, but no 'No Tax' tax type is set "
		"for Kiwi Test Ltd. Set it in Xero Sync Settings (for example NONE in New Zealand, BASEXCLUDED in "
		"Australia)."
	)
