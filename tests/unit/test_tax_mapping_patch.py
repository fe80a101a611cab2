"""The patch that gives existing Xero Tax Mapping rows their template doctype (planning part, no database)."""

from __future__ import annotations

from nexwave_xero_connector.patches.tax_mapping_template_type import plan

from .fakes_masters import ITEM, KTL, PURCHASE, SALES

STOCK = "New Zealand - KTL"
# Which doctypes hold which names, as on a stock NZ company plus the fixtures' own templates.
NAMED = {STOCK: [SALES, PURCHASE, ITEM], "NZ GST 15% Input - KTL": [PURCHASE], "NZ Zero Rated - KTL": [ITEM]}


def row(name: str, template: str, template_type: str = ITEM, tax_type: str = "OUTPUT2", rate: float = 15):
	return {
		"name": name,
		"company": KTL,
		"template_type": template_type,
		"tax_template": template,
		"xero_tax_type": tax_type,
		"tax_rate": rate,
	}


def doctypes_named(template: str) -> list[str]:
	return list(NAMED.get(template, []))


def test_a_stock_nz_row_becomes_one_row_per_doctype_with_the_old_tax_type() -> None:
	retype, added = plan([row("r1", STOCK)], doctypes_named)
	assert retype == []  # Item Tax Template, the old default, does hold the name: the row keeps it
	assert added == [
		{
			"company": KTL,
			"tax_template": STOCK,
			"xero_tax_type": "OUTPUT2",
			"tax_rate": 15,
			"template_type": t,
		}
		for t in (SALES, PURCHASE)
	]


def test_a_row_with_the_wrong_default_type_takes_the_doctype_that_has_the_name() -> None:
	retype, added = plan([row("r1", "NZ GST 15% Input - KTL", tax_type="INPUT2")], doctypes_named)
	assert (retype, added) == ([("r1", PURCHASE)], [])


def test_rows_already_right_change_nothing_and_a_second_run_adds_nothing() -> None:
	rows = [
		row("r1", STOCK, SALES),
		row("r2", STOCK, PURCHASE, "INPUT2"),
		row("r3", STOCK, ITEM),
		row("r4", "NZ Zero Rated - KTL", ITEM, "ZERORATED", 0),
	]
	assert plan(rows, doctypes_named) == ([], [])


def test_a_row_whose_template_is_gone_is_left_alone() -> None:
	assert plan([row("r1", "Deleted - KTL")], doctypes_named) == ([], [])


def test_an_existing_row_for_another_doctype_is_not_duplicated() -> None:
	rows = [row("r1", STOCK, ITEM), row("r2", STOCK, PURCHASE, "INPUT2")]
	retype, added = plan(rows, doctypes_named)
	assert retype == []
	assert [(a["template_type"], a["xero_tax_type"]) for a in added] == [(SALES, "OUTPUT2")]
