"""Pre-flight checks: Xero's own arithmetic, totals against ERPNext, currencies and lock dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.errors import MappingError
from nexwave_xero_connector.sync.preflight import (
	OrgInfo,
	check_line_taxes,
	check_org,
	check_totals,
	line_amount,
	xero_totals,
)

D = Decimal
RATES = {"OUTPUT2": D(15), "ZERORATED": D(0)}


def line(qty: str, unit: str, tax_type: str = "OUTPUT2", tax: str | None = None, **extra: object) -> dict:
	body = {
		"Description": "x",
		"Quantity": D(qty),
		"UnitAmount": D(unit),
		"AccountCode": "200",
		"TaxType": tax_type,
	}
	if tax is not None:
		body["TaxAmount"] = D(tax)
	body.update(extra)
	return body


def test_xero_rounds_tax_per_line_then_adds() -> None:
	# 15 % of 25.43 is 3.8145 -> 3.81 a line, 11.43 in all, where 15 % of the 76.29 total would be 11.44
	body = {"LineAmountTypes": "Exclusive", "LineItems": [line("1", "25.43")] * 3}
	assert xero_totals(body, RATES) == (D("76.29"), D("11.43"), D("87.72"))


def test_xero_totals_inclusive_extracts_tax_from_line_amount() -> None:
	body = {"LineAmountTypes": "Inclusive", "LineItems": [line("2.75", "185"), line("1", "1350")]}
	assert xero_totals(body, RATES) == (D("1616.30"), D("242.45"), D("1858.75"))


def test_explicit_tax_amount_overrides_the_rate() -> None:
	body = {
		"LineAmountTypes": "Inclusive",
		"LineItems": [line("2.75", "185", tax="66.36"), line("1", "1350", tax="176.08")],
	}
	assert xero_totals(body, {}) == (D("1616.31"), D("242.44"), D("1858.75"))


def test_no_tax_documents_carry_no_tax() -> None:
	body = {"LineAmountTypes": "NoTax", "LineItems": [line("3", "10", tax_type="")]}
	assert xero_totals(body, {}) == (D("30.00"), D(0), D("30.00"))


def test_unknown_rate_without_tax_amount_is_refused() -> None:
	with pytest.raises(MappingError, match="rate of the Xero tax type INPUT2 is not known"):
		xero_totals({"LineItems": [line("1", "10", tax_type="INPUT2")]}, RATES)


def test_line_amount_with_discount_rate_and_4dp_unit() -> None:
	assert line_amount(line("6", "145.6917")) == D("874.15")
	assert line_amount(line("3", "10", DiscountRate=D("12.5"))) == D("26.25")
	assert line_amount(line("1", "10", DiscountAmount=D("1.5"))) == D("8.50")


def test_check_totals_names_the_difference_in_currency_units() -> None:
	body = {"LineAmountTypes": "Exclusive", "LineItems": [line("1", "100", tax="15.00")]}
	assert check_totals(body, RATES, D("115.00"), "SI-1", "NZD")[2] == D("115.00")
	with pytest.raises(MappingError) as err:
		check_totals(body, RATES, D("115.01"), "Sales Invoice SI-1", "NZD")
	assert str(err.value).startswith(
		"Sales Invoice SI-1 would total 115.00 NZD in Xero but 115.01 NZD in ERPNext, a difference of -0.01 NZD."
	)


def test_check_totals_refuses_a_negative_total() -> None:
	body = {"LineAmountTypes": "Exclusive", "LineItems": [line("1", "-10", tax="-1.50")]}
	with pytest.raises(MappingError, match="negative total"):
		check_totals(body, RATES, D("-11.50"), "SI-1", "NZD")


def test_check_line_taxes_allows_a_cent_and_refuses_more() -> None:
	ok = {"LineAmountTypes": "Exclusive", "LineItems": [line("1", "88.125", tax="13.21")]}
	check_line_taxes(ok, RATES, "PI")
	wrong = {
		"LineAmountTypes": "Exclusive",
		"LineItems": [line("1", "100", tax_type="ZERORATED", tax="15.00")],
	}
	with pytest.raises(
		MappingError, match=r"Line 1 \(x\) of PI carries 15.00 tax, but the Xero tax type ZERORATED"
	):
		check_line_taxes(wrong, RATES, "PI")


ORG = OrgInfo(
	base_currency="NZD",
	currencies=frozenset({"NZD", "AUD"}),
	period_lock_date=date(2026, 10, 31),
	end_of_year_lock_date=date(2026, 3, 31),
	timezone="Pacific/Auckland",
)


def test_org_accepts_its_currencies_after_the_lock_dates() -> None:
	check_org("SI", "NZD", D(1), date(2026, 11, 1), ORG)
	check_org("SI", "AUD", D("1.1"), date(2026, 11, 1), ORG)
	assert OrgInfo(base_currency="NZD").has_currency("NZD")


def test_org_refuses_unsubscribed_currency() -> None:
	with pytest.raises(MappingError) as err:
		check_org("Sales Invoice SI-1", "SGD", D("1.3"), date(2026, 11, 1), ORG)
	assert str(err.value) == (
		"Sales Invoice SI-1 is in SGD, but the Xero organisation is not subscribed to SGD. Add the currency in "
		"Xero (Settings > Currencies) and retry."
	)


@pytest.mark.parametrize(
	("on", "what"),
	[
		(date(2026, 10, 31), "period lock date"),
		(date(2026, 5, 1), "period lock date"),
		(date(2026, 3, 31), "period lock date"),
	],
)
def test_org_refuses_dates_on_or_before_the_period_lock(on: date, what: str) -> None:
	with pytest.raises(MappingError, match=what):
		check_org("SI", "NZD", D(1), on, ORG)


def test_org_refuses_dates_before_the_end_of_year_lock() -> None:
	org = OrgInfo(base_currency="NZD", end_of_year_lock_date=date(2026, 3, 31))
	with pytest.raises(MappingError, match=r"end of year lock date \(2026-03-31\)"):
		check_org("SI", "NZD", D(1), date(2026, 3, 1), org)


def test_org_refuses_a_company_in_another_base_currency() -> None:
	with pytest.raises(MappingError, match="company's currency is not the organisation's"):
		check_org("SI", "NZD", D("0.58"), date(2026, 11, 1), ORG)
