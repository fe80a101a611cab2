"""Checks made on a payload before any call to Xero (DESIGN.md invariant 6).

Each check raises MappingError with a message naming the document and what to change: the organisation
must have the currency, the date must be after Xero's lock dates, every line's tax must be what its TaxType
gives, and the totals Xero will compute from the payload must equal ERPNext's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .errors import MappingError
from .money import CENT, ZERO, cents_half_up, dec

EXCLUSIVE = "Exclusive"
INCLUSIVE = "Inclusive"
NO_TAX = "NoTax"
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class OrgInfo:
	"""What the mapper needs to know about the Xero organisation (from /Organisation and /Currencies)."""

	base_currency: str
	currencies: frozenset[str] = frozenset()
	period_lock_date: date | None = None
	end_of_year_lock_date: date | None = None
	timezone: str = ""  # the organisation's time zone name, e.g. "Pacific/Auckland"; informational
	# Codes of the accounts Xero keeps for its own postings (SystemAccount set: receivables, payables, GST,
	# retained earnings...), which take no manual journal line; None when the chart was not read.
	system_accounts: frozenset[str] | None = None

	def has_currency(self, currency: str) -> bool:
		"""Whether the organisation can take documents in `currency` (its base currency always counts)."""
		return currency == self.base_currency or currency in self.currencies


def check_org(label: str, currency: str, conversion_rate: Decimal, on: date, org: OrgInfo) -> None:
	"""Refuse a currency the organisation lacks, a company/organisation currency clash and locked dates."""
	if not org.has_currency(currency):
		raise MappingError(
			f"{label} is in {currency}, but the Xero organisation is not subscribed to {currency}. Add the "
			f"currency in Xero (Settings > Currencies) and retry."
		)
	if currency == org.base_currency and conversion_rate != 1:
		raise MappingError(
			f"{label} is in {currency}, the Xero organisation's base currency, but has an exchange rate of "
			f"{conversion_rate}: the company's currency is not the organisation's. Check which Xero "
			f"organisation the company is connected to in Xero Sync Settings."
		)
	for lock, what in (
		(org.period_lock_date, "period lock date"),
		(org.end_of_year_lock_date, "end of year lock date"),
	):
		if lock and on <= lock:
			raise MappingError(
				f"{label} is dated {on.isoformat()}, on or before the Xero {what} ({lock.isoformat()}). Xero "
				f"will not accept it; ask your Xero adviser to move the lock date, or correct the posting date."
			)


def line_amount(line: dict) -> Decimal:
	"""LineAmount as Xero works it out: quantity x unit amount, less any discount, to the cent."""
	gross = dec(line.get("Quantity", 1)) * dec(line.get("UnitAmount"))
	if line.get("DiscountRate") is not None:
		gross = gross * (HUNDRED - dec(line["DiscountRate"])) / HUNDRED
	amount = cents_half_up(gross)
	if line.get("DiscountAmount") is not None:
		amount -= cents_half_up(dec(line["DiscountAmount"]))
	return amount


def computed_tax(amount: Decimal, rate: Decimal, line_amount_types: str) -> Decimal:
	"""The tax Xero computes on one line from its rate, rounded to the cent."""
	if line_amount_types == NO_TAX or rate == ZERO:
		return ZERO
	if line_amount_types == INCLUSIVE:
		return cents_half_up(amount * rate / (HUNDRED + rate))
	return cents_half_up(amount * rate / HUNDRED)


def _rate_of(tax_type: str | None, tax_rates: dict[str, Decimal]) -> Decimal:
	"""The rate of a TaxType; MappingError when it is unknown."""
	if tax_type is None:
		return ZERO
	if tax_type not in tax_rates:
		raise MappingError(
			f"The rate of the Xero tax type {tax_type} is not known. Set it next to the tax mapping in "
			f"Xero Sync Settings."
		)
	return dec(tax_rates[tax_type])


def line_tax(line: dict, line_amount_types: str, tax_rates: dict[str, Decimal]) -> Decimal:
	"""The tax Xero records on a line: its explicit TaxAmount, else what its TaxType's rate gives."""
	if line_amount_types == NO_TAX:
		return ZERO
	if line.get("TaxAmount") is not None:
		return dec(line["TaxAmount"])
	return computed_tax(line_amount(line), _rate_of(line.get("TaxType"), tax_rates), line_amount_types)


def xero_totals(body: dict, tax_rates: dict[str, Decimal]) -> tuple[Decimal, Decimal, Decimal]:
	"""Return (SubTotal, TotalTax, Total) as Xero will compute them from `body`; tax_rates by TaxType in %."""
	mode = body.get("LineAmountTypes") or EXCLUSIVE
	sub_total = total_tax = ZERO
	for line in body.get("LineItems") or []:
		amount = line_amount(line)
		tax = line_tax(line, mode, tax_rates)
		sub_total += amount - tax if mode == INCLUSIVE else amount
		total_tax += tax
	return sub_total, total_tax, sub_total + total_tax


def check_line_taxes(
	body: dict, tax_rates: dict[str, Decimal], label: str, tolerance: Decimal = CENT
) -> None:
	"""Refuse a line whose explicit TaxAmount is further than `tolerance` from what its TaxType's rate gives."""
	mode = body.get("LineAmountTypes") or EXCLUSIVE
	if mode == NO_TAX:
		return
	for number, line in enumerate(body.get("LineItems") or [], start=1):
		if line.get("TaxAmount") is None or line.get("TaxType") not in tax_rates:
			continue
		rate = dec(tax_rates[line["TaxType"]])
		expected = computed_tax(line_amount(line), rate, mode)
		sent = dec(line["TaxAmount"])
		if abs(sent - expected) > tolerance:
			raise MappingError(
				f"Line {number} ({line.get('Description', '')[:60]}) of {label} carries {sent} tax, but the "
				f"Xero tax type {line['TaxType']} at {rate}% gives {expected}. Check the tax mapping for this "
				f"line in Xero Sync Settings."
			)


def check_totals(
	body: dict, tax_rates: dict[str, Decimal], expected_total: Decimal, label: str, currency: str
) -> tuple[Decimal, Decimal, Decimal]:
	"""Refuse unless Xero's total for `body` equals ERPNext's; return Xero's (SubTotal, TotalTax, Total)."""
	totals = xero_totals(body, tax_rates)
	total = totals[2]
	if total != expected_total:
		difference = total - expected_total
		raise MappingError(
			f"{label} would total {total} {currency} in Xero but {expected_total} {currency} in ERPNext, a "
			f"difference of {difference:+} {currency}. Nothing was sent. Check the document's taxes, discount "
			f"and rounding in ERPNext, then retry."
		)
	if total < ZERO:
		raise MappingError(
			f"{label} totals {total} {currency}; Xero does not accept a negative total. Enter it in ERPNext "
			f"as a return (credit or debit note) instead."
		)
	return totals
