"""Tax for each Xero line: which TaxType it gets and how much tax it carries, to the cent ERPNext posted.

Tax rows. ERPNext keeps taxes in rows under the document. The mapper understands two kinds:
- "On Net Total" rows that add to the total (sales rows; purchase rows with add_deduct_tax "Add" and
  category "Total" or "Valuation and Total") are the line tax: rate x the line's net_amount, with the
  line's Item Tax Template rate (`item_tax_rate`) overriding the row's rate for that account.
- "Actual" rows (freight, handling) and any "Deduct" row are fixed amounts; they become lines of their own.
Purchase rows in category "Valuation" do not count towards the total and are left out. Other charge types
("On Previous Row Amount/Total", "On Item Quantity") are refused: Xero has one TaxType per line and no
compound tax.

Tax amounts. ERPNext rounds a tax row once, on the sum of the unrounded line taxes (half to even); Xero
rounds every line's tax and adds them up, so the two can differ by cents. Every line is therefore sent with
an explicit TaxAmount: the row's own amount split over the lines by largest remainder, so each line is within
a cent of rate x amount and the lines add up to exactly ERPNext's tax row. This also keeps the invoice
independent of Xero's (unconfirmed) per-line rounding mode.

TaxType of an item line, first match wins (DESIGN.md "Tax resolution"): 1 the line's Item Tax Template,
2 the document's Taxes and Charges Template, 3 the item's template as ERPNext would pick it
(MasterData.item_tax_template), 4 the company's default Taxes and Charges Template. Each is looked up under
its own doctype (Item Tax Template, or the Sales/Purchase Taxes and Charges Template of the invoice's kind):
ERPNext names templates per doctype, and a stock company has all three called "New Zealand - KTL". An Item
Tax Template serves sales and purchase lines alike; one left unmapped lets the line fall through to the
document's template. A template matches when Xero Sync Settings map it to a TaxType and, when the rate of that TaxType is known (SyncConfig.tax_rates),
that rate is the one ERPNext applied on the line. So a zero-rated line whose own template is unmapped does
not quietly fall through to the document's 15 % type: it moves on, and fails with the list of what was tried.

TaxType of a charge line. ERPNext never taxes an "Actual" row through an "On Net Total" row, so a charge
carries no tax. It gets the document template's TaxType when that type is a 0 % type (a zero-rated export
stays zero-rated), otherwise the company's "no tax" type (SyncConfig.no_tax_type: NONE in New Zealand,
BASEXCLUDED in Australia), which also takes the rounding line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .config import ITEM_TAX_TEMPLATE, PURCHASE_TAXES_TEMPLATE, SALES_TAXES_TEMPLATE, SyncConfig
from .errors import MappingError
from .money import ZERO, dec, money, split_cents, tidy
from .ports import MasterData

ON_NET_TOTAL = "On Net Total"
ACTUAL = "Actual"


@dataclass(frozen=True)
class TaxRow:
	"""One ERPNext tax row, with its amount already in the Xero document's direction."""

	idx: int
	charge_type: str
	account_head: str
	description: str
	rate: Decimal
	inclusive: bool
	amount: Decimal  # positive on invoices and on returns alike; negative for a "Deduct" row
	cost_center: str | None


@dataclass(frozen=True)
class TaxRows:
	"""A document's tax rows split into line tax and separate charges."""

	line_rows: tuple[TaxRow, ...]
	charges: tuple[TaxRow, ...]

	@property
	def inclusive(self) -> bool:
		"""Whether the line prices include the tax (ERPNext's "Is this Tax included in Basic Rate?")."""
		return any(row.inclusive for row in self.line_rows)


def read_tax_rows(doc: dict, sign: int, label: str) -> TaxRows:
	"""Classify the document's tax rows; refuse the ones Xero cannot express."""
	line_rows: list[TaxRow] = []
	charges: list[TaxRow] = []
	for position, row in enumerate(doc.get("taxes") or [], start=1):
		if (row.get("category") or "Total") == "Valuation":
			continue  # goes to stock valuation only; not part of what the supplier is owed
		deduct = row.get("add_deduct_tax") == "Deduct"
		charge_type = row.get("charge_type") or ""
		after_discount = row.get("tax_amount_after_discount_amount")
		amount = money(row.get("tax_amount") if after_discount is None else after_discount) * sign
		tax_row = TaxRow(
			idx=int(row.get("idx") or position),
			charge_type=charge_type,
			account_head=row.get("account_head") or "",
			description=row.get("description") or row.get("account_head") or "",
			rate=dec(row.get("rate")),
			inclusive=bool(row.get("included_in_print_rate")),
			amount=-amount if deduct else amount,
			cost_center=row.get("cost_center") or None,
		)
		if tax_row.inclusive and (deduct or charge_type != ON_NET_TOTAL):
			raise MappingError(
				f"Tax row {tax_row.idx} ({tax_row.description}) of {label} is included in the price but is "
				f"not an added 'On Net Total' row; Xero cannot express it. Change the row in ERPNext."
			)
		if deduct or charge_type == ACTUAL:
			charges.append(tax_row)
		elif charge_type == ON_NET_TOTAL:
			line_rows.append(tax_row)
		else:
			raise MappingError(
				f"Tax row {tax_row.idx} ({tax_row.description}) of {label} uses the charge type "
				f"'{charge_type}', which cannot be sent to Xero (one tax type per line, no compound tax). "
				f"Use 'On Net Total' or 'Actual' rows."
			)
	if line_rows and any(row.inclusive != line_rows[0].inclusive for row in line_rows):
		raise MappingError(
			f"{label} has tax rows included in the price and tax rows added on top. Xero needs one or the "
			f"other for the whole document; make the rows consistent in ERPNext."
		)
	return TaxRows(tuple(line_rows), tuple(charges))


def item_tax_overrides(item: dict) -> dict[str, Decimal]:
	"""The line's Item Tax Template rates by tax account (`item_tax_rate`, a JSON string or a dict)."""
	raw = item.get("item_tax_rate")
	if not raw:
		return {}
	parsed = json.loads(raw) if isinstance(raw, str) else raw
	return {account: dec(rate) for account, rate in (parsed or {}).items()}


def line_rates(item: dict, rows: Sequence[TaxRow]) -> list[Decimal]:
	"""The percentage each line-tax row applies to this line, as ERPNext's _get_tax_rate picks it."""
	overrides = item_tax_overrides(item)
	return [overrides.get(row.account_head, row.rate) for row in rows]


def split_row_tax(row: TaxRow, exact: Sequence[Decimal], label: str) -> list[Decimal]:
	"""Split a tax row's amount over the lines so each is within a cent of its exact tax."""
	parts = split_cents(row.amount, exact)
	if parts is None:
		expected = sum(exact, ZERO)
		raise MappingError(
			f"Tax row {row.idx} ({row.description}) of {label} is {row.amount}, but its rate on the lines "
			f"gives {expected:.4f}. The connector cannot split it over the lines; recalculate the taxes in "
			f"ERPNext (or clear a manually edited tax amount) and submit again."
		)
	return parts


def percent(rate: Decimal) -> str:
	"""A rate as an accountant writes it: 15, 12.5, 0."""
	return f"{tidy(rate)}%"


class CachedMasters:
	"""MasterData with its answers remembered for one document (a 100-line invoice asks the same things)."""

	def __init__(self, masters: MasterData):
		self._masters = masters
		self._item: dict[tuple, str | None] = {}
		self._default: dict[tuple[str, str], str | None] = {}

	def item_tax_template(
		self,
		item_code: str,
		company: str,
		tax_category: str | None,
		posting_date: date,
		base_net_rate: Decimal,
	) -> str | None:
		"""ERPNext's choice of Item Tax Template for the item, asked once per distinct question."""
		key = (item_code, company, tax_category, posting_date, base_net_rate)
		if key not in self._item:
			self._item[key] = self._masters.item_tax_template(*key)
		return self._item[key]

	def default_taxes_template(self, template_doctype: str, company: str) -> str | None:
		"""The company's default Taxes and Charges Template, asked once."""
		key = (template_doctype, company)
		if key not in self._default:
			self._default[key] = self._masters.default_taxes_template(*key)
		return self._default[key]


@dataclass(frozen=True)
class LineContext:
	"""What the template chain needs to know about one item line."""

	company: str
	label: str
	line_no: int
	item_code: str
	item_label: str
	line_template: str | None
	doc_template: str | None
	tax_category: str | None
	on: date
	base_net_rate: Decimal
	template_doctype: str  # the document's Taxes and Charges Template doctype (Sales or Purchase)
	erp_rate: Decimal


def _template_chain(ctx: LineContext, masters: CachedMasters) -> Iterator[tuple[str, str | None]]:
	"""Yield (doctype, template) candidates in DESIGN order, asking MasterData only when it gets that far."""
	yield ITEM_TAX_TEMPLATE, ctx.line_template
	yield ctx.template_doctype, ctx.doc_template
	if ctx.item_code:
		yield (
			ITEM_TAX_TEMPLATE,
			masters.item_tax_template(
				ctx.item_code, ctx.company, ctx.tax_category, ctx.on, ctx.base_net_rate
			),
		)
	yield ctx.template_doctype, masters.default_taxes_template(ctx.template_doctype, ctx.company)


def resolve_line_tax_type(ctx: LineContext, config: SyncConfig, masters: CachedMasters) -> str:
	"""Return the Xero TaxType for an item line: the first template of the chain that maps and agrees.

	Each template is looked up under the doctype it came from, so a stock company's "New Zealand - KTL"
	resolves to the sales mapping on an invoice and to the purchase mapping on a bill.
	"""
	tried: list[str] = []
	seen: set[tuple[str, str]] = set()
	for doctype, template in _template_chain(ctx, masters):
		if not template or (doctype, template) in seen:
			continue
		seen.add((doctype, template))
		tax_type = config.tax_type_for(ctx.company, doctype, template)
		if not tax_type:
			tried.append(f"{template} ({doctype}, not mapped)")
			continue
		known = config.tax_rates.get((ctx.company, tax_type))
		if known is not None and dec(known) != ctx.erp_rate:
			tried.append(f"{template} ({doctype}) -> {tax_type}, which is {percent(dec(known))}")
			continue
		return tax_type
	attempts = "; ".join(tried) or "the line, the document, the item and the company have no tax template"
	raise MappingError(
		f"No tax mapping for item {ctx.item_label} on line {ctx.line_no} of {ctx.label}. Map it in Xero Sync "
		f"Settings to a tax type of {percent(ctx.erp_rate)}, the rate ERPNext charged. (tried: {attempts})"
	)


def no_tax_type(config: SyncConfig, company: str, label: str, what: str) -> str:
	"""The company's TaxType for untaxed amounts; MappingError naming the setting when it is missing."""
	tax_type = config.no_tax_type.get(company)
	if not tax_type:
		raise MappingError(
			f"{label} has {what}, which ERPNext charges no tax on, but no 'No Tax' tax type is set for "
			f"{company}. Set it in Xero Sync Settings (for example NONE in New Zealand, BASEXCLUDED in "
			f"Australia)."
		)
	known = config.tax_rates.get((company, tax_type))
	if known is not None and dec(known) != ZERO:
		raise MappingError(
			f"The 'No Tax' tax type {tax_type} set for {company} in Xero Sync Settings is "
			f"{percent(dec(known))} in Xero. Choose a 0% tax type such as NONE or BASEXCLUDED."
		)
	return tax_type


def resolve_charge_tax_type(
	row: TaxRow,
	*,
	config: SyncConfig,
	company: str,
	template_doctype: str,
	doc_template: str | None,
	rates: dict[str, Decimal],
	label: str,
) -> str:
	"""Return the TaxType for an untaxed charge line: the document's type if it is 0 %, else "no tax"."""
	doc_type = config.tax_type_for(company, template_doctype, doc_template)
	if doc_type and rates.get(doc_type) == ZERO:
		return doc_type
	return no_tax_type(config, company, label, f"a charge '{row.description}' (tax row {row.idx})")


@dataclass(frozen=True)
class XeroTaxRate:
	"""One of the organisation's Xero TaxRates, as much as a mapping proposal needs."""

	tax_type: str
	name: str
	rate: Decimal
	active: bool
	revenue: bool  # CanApplyToRevenue: usable on sales lines
	expenses: bool  # CanApplyToExpenses: usable on purchase lines


def tax_type_choices(template_doctype: str, rate: Decimal, xero_rates: Sequence[XeroTaxRate]) -> list[str]:
	"""The active Xero TaxTypes of the template's rate that Xero accepts where the template is used.

	A Sales Taxes and Charges Template needs a type Xero allows on revenue (OUTPUT2), a Purchase one a type
	allowed on expenses (INPUT2), and an Item Tax Template, which ERPNext puts on sales and purchase lines
	alike, a type allowed on both.
	"""
	revenue = template_doctype in (SALES_TAXES_TEMPLATE, ITEM_TAX_TEMPLATE)
	expenses = template_doctype in (PURCHASE_TAXES_TEMPLATE, ITEM_TAX_TEMPLATE)
	return [
		r.tax_type
		for r in xero_rates
		if r.active
		and dec(r.rate) == dec(rate)
		and (r.revenue or not revenue)
		and (r.expenses or not expenses)
	]


def propose_tax_type(template_doctype: str, rate: Decimal, xero_rates: Sequence[XeroTaxRate]) -> str | None:
	"""The one TaxType to propose for a Sales/Purchase Taxes and Charges Template, or None.

	Only a single choice is proposed: two 0 % types (ZERORATED, NONE) differ in the GST return, so that is
	the accountant's call. Item Tax Templates get no proposal: left unmapped, their lines take the
	document template's type, which is right for both directions whenever the rates agree.
	"""
	if template_doctype == ITEM_TAX_TEMPLATE:
		return None
	choices = tax_type_choices(template_doctype, rate, xero_rates)
	return choices[0] if len(choices) == 1 else None


def template_rate(template_doctype: str, rows: Sequence[dict]) -> Decimal | None:
	"""The percentage a template puts on a line, from its tax rows; None when it has no single rate.

	A Sales/Purchase Taxes and Charges Template charges the sum of its added "On Net Total" rows (purchase
	rows in category Valuation and "Deduct" rows left out, as in read_tax_rows). An Item Tax Template sets a
	rate per tax account; it has one rate when its non-zero rates agree (0 when all are zero).
	"""
	if template_doctype == ITEM_TAX_TEMPLATE:
		nonzero = {dec(r.get("tax_rate")) for r in rows} - {ZERO}
		if len(nonzero) > 1:
			return None
		return nonzero.pop() if nonzero else ZERO
	return sum(
		(
			dec(r.get("rate"))
			for r in rows
			if r.get("charge_type") == ON_NET_TOTAL
			and r.get("add_deduct_tax") != "Deduct"
			and (r.get("category") or "Total") != "Valuation"
		),
		ZERO,
	)
