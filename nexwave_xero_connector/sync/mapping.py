"""ERPNext Sales/Purchase Invoice (as `as_dict()` gives it) -> the Xero invoice, bill or credit note body.

Kinds. Sales Invoice -> ACCREC (InvoiceNumber = name, Reference = po_no); a sales return -> ACCRECCREDIT
(CreditNoteNumber = name). Purchase Invoice -> ACCPAY (InvoiceNumber = bill_no, else the name); a purchase
return -> ACCPAYCREDIT (CreditNoteNumber = bill_no, else the name). Invoices and bills carry Url = the
document's desk address, our ownership marker (Xero's CreditNote has no Url field). ERPNext's returns are negative; Xero's credit notes are positive, so a
return's figures are all multiplied by -1. A return asks to be allocated to the document it is against only
when ERPNext applied it there (`update_outstanding_for_self` unset); otherwise the payload says why not.

Amounts (document currency). An item line's LineAmount is its `net_amount`: after line discounts and after
the share of the document discount ERPNext distributed onto it (`distributed_discount_amount`), so no
DiscountRate is sent and the discount is already inside the line amounts and taxes, exactly as ERPNext
posted them. Quantity and UnitAmount (4 dp, the gateway sends unitdp=4) are chosen so that Xero's
quantity x unit rounds to that amount whichever way Xero rounds a half cent; when no such unit exists the
line goes as 1 x the amount, with the quantity in the description.

GST-inclusive documents (`included_in_print_rate` on the On Net Total rows) go as LineAmountTypes
"Inclusive" with each line at its tax-inclusive `amount` (the price the customer saw; when a document
discount applies, `net_amount` + the line's tax) and an explicit TaxAmount. ERPNext rounds the inclusive tax
once on the sum and keeps the difference (up to 0.05) in grand_total only, so exclusive net amounts plus
tax can fall a cent short of grand_total (ACC-SINV-2026-00002: 4382.74 against 4382.75). Sending the
inclusive amounts makes Xero's Total equal grand_total while TotalTax equals ERPNext's tax row exactly; the
cent stays in income (Xero's net = amount - TaxAmount), as on the printed invoice. When the inclusive
amounts do not add up to grand_total exactly (a document discount, or ERPNext's difference), the missing
cents are spread over the lines furthest from their exact value, at most the larger of 0.05 in all and a
cent a line. Documents without any On Net Total row (ERPNext taxed nothing) go as "NoTax"; all others as
"Exclusive".

Charges. Each "Actual" tax row (freight, handling) and each "Deduct" row becomes a line of its own: account
from the row's account head via the account mapping, tax from tax.resolve_charge_tax_type (ERPNext does not
tax these; see tax.py). ERPNext's `rounding_adjustment` becomes a last line on the company's rounding
account with the "no tax" type, so Xero's Total equals rounded_total.

Foreign currency. CurrencyRate is Xero's direction, foreign units per 1 base unit = 1 / conversion_rate to
6 dp; it is left out for documents in the company's currency (org.base_currency when known, else
conversion_rate == 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from html import unescape
from html.parser import HTMLParser
from urllib.parse import quote

from .config import PURCHASE_INVOICE, SALES_INVOICE, SyncConfig, taxes_template_doctype
from .errors import MappingError
from .model import AllocationIntent, Kind, XeroPayload
from .money import CENT, RATE_STEP, UNIT_STEP, ZERO, cents_unambiguous, dec, money, nudge_to, quantity, tidy
from .ports import MasterData
from .preflight import EXCLUSIVE, INCLUSIVE, NO_TAX, OrgInfo, check_line_taxes, check_org, check_totals
from .tax import (
	CachedMasters,
	LineContext,
	TaxRows,
	line_rates,
	no_tax_type,
	percent,
	read_tax_rows,
	resolve_charge_tax_type,
	resolve_line_tax_type,
	split_row_tax,
)

MAX_DESCRIPTION = 4000
INCLUSIVE_DIFF_CENTS = 5
_BLOCK_TAGS = frozenset(
	{"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table"}
)


class _TextExtractor(HTMLParser):
	"""Collects the text of an HTML fragment, turning block tags into line breaks."""

	def __init__(self) -> None:
		super().__init__(convert_charrefs=True)
		self.parts: list[str] = []

	def handle_starttag(self, tag: str, attrs: list) -> None:
		if tag in _BLOCK_TAGS:
			self.parts.append("\n")

	def handle_endtag(self, tag: str) -> None:
		if tag in _BLOCK_TAGS:
			self.parts.append("\n")

	def handle_data(self, data: str) -> None:
		self.parts.append(data)


def plain_text(html: str | None) -> str:
	"""Return the readable text of ERPNext's HTML description, one paragraph per line."""
	if not html:
		return ""
	parser = _TextExtractor()
	parser.feed(html)
	parser.close()
	text = unescape("".join(parser.parts)).replace("\xa0", " ")
	lines = (" ".join(chunk.split()) for chunk in text.splitlines())
	return "\n".join(line for line in lines if line)[:MAX_DESCRIPTION]


def as_date(value: object) -> date | None:
	"""Return a date from as_dict()'s "YYYY-MM-DD" string, a date or a datetime; None when empty."""
	if not value:
		return None
	if isinstance(value, datetime):
		return value.date()
	if isinstance(value, date):
		return value
	return date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class _Doc:
	"""The document-level facts the mapping works from."""

	doctype: str
	name: str
	label: str
	company: str
	kind: Kind
	sign: int
	on: date
	currency: str
	conversion_rate: Decimal

	@property
	def is_sales(self) -> bool:
		return self.doctype == SALES_INVOICE


@dataclass
class _Line:
	"""A Xero line being built: amounts in the Xero document's direction."""

	description: str
	qty: Decimal
	amount: Decimal
	account_code: str
	tax: Decimal = ZERO
	tax_type: str | None = None
	erp_rate: Decimal = ZERO
	tracking: tuple[str, str] | None = None
	unit_hints: tuple[Decimal, ...] = ()
	exact_gross: Decimal = ZERO  # net + unrounded tax: where an inclusive amount would ideally be
	printed_amount: Decimal = ZERO  # ERPNext's `amount` (tax-inclusive on inclusive documents)
	printed_rate: Decimal = ZERO  # ERPNext's `rate`, the price the customer saw


def _read_doc(doc: dict) -> _Doc:
	"""Check the document's type and read its identity, direction, date and currency."""
	doctype = doc.get("doctype") or ""
	name = doc.get("name") or ""
	label = f"{doctype} {name}".strip()
	if doctype not in (SALES_INVOICE, PURCHASE_INVOICE):
		raise MappingError(f"{label} cannot be sent to Xero: only Sales and Purchase Invoices are supported.")
	is_return = bool(doc.get("is_return"))
	if doctype == SALES_INVOICE:
		kind = Kind.SALES_CREDIT if is_return else Kind.SALES_INVOICE
	else:
		kind = Kind.BILL_CREDIT if is_return else Kind.BILL
	on = as_date(doc.get("posting_date"))
	if on is None:
		raise MappingError(f"{label} has no posting date.")
	currency = doc.get("currency") or ""
	if not currency:
		raise MappingError(f"{label} has no currency.")
	conversion_rate = dec(doc.get("conversion_rate") or 1)
	if conversion_rate <= ZERO:
		raise MappingError(f"{label} has an exchange rate of {conversion_rate}; correct it in ERPNext.")
	return _Doc(
		doctype=doctype,
		name=name,
		label=label,
		company=doc.get("company") or "",
		kind=kind,
		sign=-1 if is_return else 1,
		on=on,
		currency=currency,
		conversion_rate=conversion_rate,
	)


def _account_code(config: SyncConfig, d: _Doc, account: str | None, where: str) -> str:
	"""Map an ERPNext account to a Xero AccountCode; MappingError naming the account and the setting."""
	if not account:
		raise MappingError(f"{where} of {d.label} has no account. Set it in ERPNext and submit again.")
	code = config.account_map.get((d.company, account))
	if not code:
		raise MappingError(
			f"No Xero account for the ERPNext account '{account}' ({where} of {d.label}). Map it in the "
			f"account mapping of Xero Sync Settings for {d.company}."
		)
	return code


def _item_lines(doc: dict, d: _Doc, rows: TaxRows, config: SyncConfig, masters: CachedMasters) -> list[_Line]:
	"""Build the item lines with net amounts, ERPNext's rates and each line's share of every tax row."""
	items = doc.get("items") or []
	if not items:
		raise MappingError(f"{d.label} has no items to send.")
	account_field = "income_account" if d.is_sales else "expense_account"
	template_doctype = taxes_template_doctype(d.doctype)
	# ERPNext checks Item Tax validity against the supplier's bill date on purchases
	tax_on = d.on if d.is_sales else (as_date(doc.get("bill_date")) or d.on)
	lines: list[_Line] = []
	per_row_exact: list[list[Decimal]] = [[] for _ in rows.line_rows]
	for position, item in enumerate(items, start=1):
		number = int(item.get("idx") or position)
		item_label = item.get("item_code") or item.get("item_name") or f"#{number}"
		where = f"item {item_label} on line {number}"
		net = money(item.get("net_amount")) * d.sign
		rates = line_rates(item, rows.line_rows)
		for j, rate in enumerate(rates):
			per_row_exact[j].append(net * rate / 100)
		line = _Line(
			description=plain_text(item.get("description")) or item.get("item_name") or item_label,
			qty=quantity(item.get("qty")) * d.sign,
			amount=net,
			account_code=_account_code(config, d, item.get(account_field), where),
			erp_rate=sum(rates, ZERO),
			tracking=config.tracking_map.get((d.company, item.get("cost_center") or "")),
			unit_hints=(dec(item.get("net_rate")),),
			printed_amount=money(item.get("amount")) * d.sign,
			printed_rate=dec(item.get("rate")),
		)
		if rows.line_rows:
			ctx = LineContext(
				company=d.company,
				label=d.label,
				line_no=number,
				item_code=item.get("item_code") or "",
				item_label=item_label,
				line_template=item.get("item_tax_template") or None,
				doc_template=doc.get("taxes_and_charges") or None,
				tax_category=doc.get("tax_category") or None,
				on=tax_on,
				base_net_rate=dec(item.get("base_net_rate")),
				template_doctype=template_doctype,
				erp_rate=line.erp_rate,
			)
			line.tax_type = resolve_line_tax_type(ctx, config, masters)
		lines.append(line)
	for j, row in enumerate(rows.line_rows):
		for line, share in zip(lines, split_row_tax(row, per_row_exact[j], d.label), strict=True):
			line.tax += share
	for line, *exacts in zip(lines, *per_row_exact, strict=True):
		line.exact_gross = line.amount + sum(exacts, ZERO)
	return lines


def _make_inclusive(lines: list[_Line], doc: dict, d: _Doc, charges_total: Decimal) -> None:
	"""Turn item lines into tax-inclusive amounts that add up to ERPNext's grand_total (less charges)."""
	discounted = dec(doc.get("discount_amount")) != ZERO
	for line in lines:
		if discounted:
			line.amount = line.amount + line.tax
			line.unit_hints = ()
		else:
			line.amount = line.printed_amount
			line.unit_hints = (line.printed_rate,)
	target = money(doc.get("grand_total")) * d.sign - charges_total
	# ERPNext keeps up to 0.05 of inclusive-tax difference in grand_total; each line may differ by a cent
	limit = max(len(lines), INCLUSIVE_DIFF_CENTS)
	nudged = nudge_to([line.amount for line in lines], target, [line.exact_gross for line in lines], limit)
	if nudged is None:
		return  # further off than rounding explains: the totals check refuses with the difference
	for line, amount in zip(lines, nudged, strict=True):
		if amount != line.amount:
			line.amount = amount
			line.unit_hints = ()


def _charge_lines(
	rows: TaxRows, d: _Doc, config: SyncConfig, doc: dict, rates: dict[str, Decimal], mode: str
) -> list[_Line]:
	"""One line per Actual or Deduct tax row, untaxed as ERPNext left it."""
	lines = []
	for row in rows.charges:
		where = f"tax row {row.idx} ({row.description})"
		tax_type = None
		if mode != NO_TAX:
			tax_type = resolve_charge_tax_type(
				row,
				config=config,
				company=d.company,
				template_doctype=taxes_template_doctype(d.doctype),
				doc_template=doc.get("taxes_and_charges") or None,
				rates=rates,
				label=d.label,
			)
		lines.append(
			_Line(
				description=plain_text(row.description) or row.account_head,
				qty=Decimal(1),
				amount=row.amount,
				account_code=_account_code(config, d, row.account_head, where),
				tax_type=tax_type,
				tracking=config.tracking_map.get((d.company, row.cost_center or "")),
				exact_gross=row.amount,
			)
		)
	return lines


def _rounding_line(doc: dict, d: _Doc, config: SyncConfig, mode: str) -> _Line | None:
	"""ERPNext's rounding_adjustment as a line on the company's rounding account, or None when zero."""
	adjustment = money(doc.get("rounding_adjustment")) * d.sign
	if adjustment == ZERO:
		return None
	account = config.rounding_account.get(d.company)
	if not account:
		raise MappingError(
			f"{d.label} has a rounding adjustment of {adjustment} but no rounding account is set for "
			f"{d.company}. Set it in Xero Sync Settings to Xero's Rounding account (often 860)."
		)
	tax_type = None if mode == NO_TAX else no_tax_type(config, d.company, d.label, "a rounding adjustment")
	return _Line(
		description="Rounding",
		qty=Decimal(1),
		amount=adjustment,
		account_code=account,
		tax_type=tax_type,
		exact_gross=adjustment,
	)


def _known_rates(config: SyncConfig, company: str) -> dict[str, Decimal]:
	"""The TaxType rates set for the company, by TaxType."""
	return {tax_type: dec(rate) for (owner, tax_type), rate in config.tax_rates.items() if owner == company}


def _derive_rates(lines: list[_Line], known: dict[str, Decimal], label: str) -> dict[str, Decimal]:
	"""Add, for TaxTypes without a known rate, the rate ERPNext applied on the lines mapped to them."""
	rates = dict(known)
	first: dict[str, _Line] = {}
	for line in lines:
		if line.tax_type is None or line.tax_type in known:
			continue
		seen = first.setdefault(line.tax_type, line)
		if seen.erp_rate != line.erp_rate:
			raise MappingError(
				f"The Xero tax type {line.tax_type} is used on {label} for lines ERPNext taxed at "
				f"{percent(seen.erp_rate)} ({seen.description[:40]}) and at {percent(line.erp_rate)} "
				f"({line.description[:40]}). Map those tax templates to different tax types in Xero Sync "
				f"Settings."
			)
		rates[line.tax_type] = line.erp_rate
	return rates


def _quantity_and_unit(line: _Line) -> tuple[Decimal, Decimal, bool]:
	"""Pick Quantity and a 4 dp UnitAmount whose product rounds to the line amount; else 1 x amount."""
	qty = abs(line.qty)
	if qty == ZERO:
		return Decimal(1), line.amount, False
	if qty != qty.quantize(UNIT_STEP):
		return Decimal(1), line.amount, True
	direction = -1 if line.amount < ZERO else 1
	guess = (line.amount / qty).quantize(UNIT_STEP, rounding=ROUND_HALF_EVEN)
	candidates = [hint * direction for hint in line.unit_hints if hint == hint.quantize(UNIT_STEP)]
	candidates += [guess, guess + UNIT_STEP, guess - UNIT_STEP]
	for unit in candidates:
		if cents_unambiguous(qty * unit) == line.amount:
			return qty, unit, False
	return Decimal(1), line.amount, True


def _unit_text(unit: Decimal) -> Decimal:
	"""A unit amount with at least 2 decimals and at most 4 (185.00, 145.6917)."""
	return unit.quantize(CENT) if unit == unit.quantize(CENT) else unit.normalize()


def _line_body(line: _Line, mode: str) -> dict:
	"""One Xero LineItem, keys with no value left out."""
	qty, unit, folded = _quantity_and_unit(line)
	description = line.description or "Item"
	if folded:
		description = f"{description} (qty {tidy(abs(line.qty))})"[:MAX_DESCRIPTION]
	body: dict = {
		"Description": description,
		"Quantity": tidy(qty),
		"UnitAmount": _unit_text(unit),
		"AccountCode": line.account_code,
	}
	if mode != NO_TAX:
		body["TaxType"] = line.tax_type
		body["TaxAmount"] = line.tax.quantize(CENT)
	if line.tracking:
		body["Tracking"] = [{"Name": line.tracking[0], "Option": line.tracking[1]}]
	return {key: value for key, value in body.items() if value is not None}


def _expected_total(doc: dict, d: _Doc) -> Decimal:
	"""What ERPNext says is owed, signed as Xero keeps it (credit notes positive)."""
	return owed_total(doc) * d.sign


def owed_total(doc: dict) -> Decimal:
	"""What ERPNext says is owed, as ERPNext signs it: rounded_total when rounding applies, else
	grand_total. Its absolute value is the Total the document has in Xero."""
	rounded = money(doc.get("rounded_total"))
	# rounding disabled leaves rounded_total at 0; a 0.01 invoice rounded to whole dollars does too
	applied = rounded != ZERO or money(doc.get("rounding_adjustment")) != ZERO
	if applied and not doc.get("disable_rounded_total"):
		return rounded
	return money(doc.get("grand_total"))


def _header(doc: dict, d: _Doc, config: SyncConfig, contact_id: str, mode: str, org: OrgInfo | None) -> dict:
	"""The document-level keys of the body, in Xero's order."""
	body: dict = {"Type": d.kind.value, "Contact": {"ContactID": contact_id}, "Date": d.on}
	if not d.kind.is_credit_note:
		body["DueDate"] = as_date(doc.get("due_date")) or d.on
	body["LineAmountTypes"] = mode
	body["CreditNoteNumber" if d.kind.is_credit_note else "InvoiceNumber"] = _number(doc, d)
	if d.is_sales:
		reference = (doc.get("po_no") or "").strip() or (
			doc.get("return_against") if d.kind.is_credit_note else None
		)
		body["Reference"] = reference or None
	if not d.kind.is_credit_note:
		body["Url"] = _url(config, d)
	body["CurrencyCode"] = d.currency
	foreign = d.currency != org.base_currency if org else d.conversion_rate != 1
	if foreign:
		body["CurrencyRate"] = (Decimal(1) / d.conversion_rate).quantize(RATE_STEP, rounding=ROUND_HALF_EVEN)
	body["Status"] = config.posting_status
	return {key: value for key, value in body.items() if value is not None}


def _number(doc: dict, d: _Doc) -> str:
	"""The Xero number: the document name for sales, the supplier's bill number (else the name) for purchases."""
	if d.is_sales:
		return d.name
	return (doc.get("bill_no") or "").strip() or d.name


def _url(config: SyncConfig, d: _Doc) -> str | None:
	"""The desk address of the document, which marks the Xero document as ours."""
	if not config.site_url:
		if d.is_sales:
			return None
		raise MappingError(
			f"{d.label} cannot be sent as a bill without the site's address, which marks the bill as this "
			"site's in Xero. Set host_name in the site config (bench --site SITE set-config host_name "
			"https://erp.example.com)."
		)
	return document_url(config.site_url, d.doctype, d.name)


def document_url(site_url: str, doctype: str, name: str) -> str:
	"""The desk address of an ERP document: the Url marker our invoices and bills carry in Xero."""
	slug = doctype.lower().replace(" ", "-")
	return f"{site_url.rstrip('/')}/app/{slug}/{quote(name, safe='')}"


def _allocation(doc: dict, d: _Doc, total: Decimal) -> tuple[AllocationIntent | None, str | None]:
	"""Allocate a return to its original exactly when ERPNext applied it there.

	ERPNext 15 posts a return against the original (its GL rows carry against_voucher = return_against, and
	the original's outstanding drops) only when `update_outstanding_for_self` is unset; with the flag set
	the return keeps its own outstanding and the original stays open. Xero follows the same choice, so the
	two ledgers agree on both documents' balances. A document without the field (older ERPNext) was always
	applied to the original.
	"""
	return_against = doc.get("return_against")
	if not d.kind.is_credit_note or not return_against:
		return None, None
	if doc.get("update_outstanding_for_self"):
		return None, (
			"Credit left unallocated: ERPNext keeps this return's balance on itself (Update Outstanding for "
			f"Self), so it was not applied to {return_against} in Xero either."
		)
	return AllocationIntent(against_doctype=d.doctype, against_name=return_against, amount=abs(total)), None


def build_payload(
	doc: dict,
	*,
	config: SyncConfig,
	masters: MasterData,
	contact_id: str,
	org: OrgInfo | None = None,
	against_xero_id: str | None = None,
) -> XeroPayload:
	"""Map a submitted Sales/Purchase Invoice to a checked Xero payload; MappingError when it must not go.

	`against_xero_id` (the Xero ID of the document a return is against) is accepted for the invoice kind's
	convenience; the allocation itself is expressed by the payload's AllocationIntent.
	"""
	d = _read_doc(doc)
	if not contact_id:
		raise MappingError(
			f"{d.label} has no Xero contact for its party; the contact must be found or created first."
		)
	if org is not None:
		check_org(d.label, d.currency, d.conversion_rate, d.on, org)
	rows = read_tax_rows(doc, d.sign, d.label)
	mode = NO_TAX if not rows.line_rows else INCLUSIVE if rows.inclusive else EXCLUSIVE
	lines = _item_lines(doc, d, rows, config, CachedMasters(masters))
	known = _known_rates(config, d.company)
	item_rates = _derive_rates(lines, known, d.label)
	charges = _charge_lines(rows, d, config, doc, item_rates, mode)
	if mode == INCLUSIVE:
		_make_inclusive(lines, doc, d, sum((line.amount for line in charges), ZERO))
	rounding = _rounding_line(doc, d, config, mode)
	all_lines = lines + charges + ([rounding] if rounding else [])
	rates = _derive_rates(all_lines, known, d.label)
	body = _header(doc, d, config, contact_id, mode, org)
	body["LineItems"] = [_line_body(line, mode) for line in all_lines]
	check_line_taxes(body, rates, d.label, tolerance=CENT * max(1, len(rows.line_rows)))
	_sub_total, _tax, total = check_totals(body, rates, _expected_total(doc, d), d.label, d.currency)
	allocation, unallocated_reason = _allocation(doc, d, total)
	return XeroPayload(
		kind=d.kind,
		number=_number(doc, d),
		contact_id=contact_id,
		body=body,
		total=total,
		date=d.on,
		url=body.get("Url"),
		allocation=allocation,
		unallocated_reason=unallocated_reason,
	)
