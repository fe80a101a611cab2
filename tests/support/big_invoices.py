"""Sales invoices of many lines with long, realistic descriptions: the documents that make a batch of fifty
heavier than Xero's 3.5 MB cap for one request (issue 20, item 2)."""

from __future__ import annotations

import json
import random

from tests.support.world import clone

TEMPLATE = "si_nz_exclusive_discount"
RATE = 100.0
GST = 0.15
_LINE_FIELDS = frozenset(
	"cost_center description discount_amount discount_percentage docstatus doctype expense_account "
	"income_account item_code item_group item_name item_tax_rate item_tax_template name parent parentfield "
	"parenttype qty rate net_rate base_rate base_net_rate amount net_amount base_amount base_net_amount "
	"price_list_rate base_price_list_rate stock_qty stock_uom uom conversion_factor idx".split()
)
_WORDS = (
	"supply installation commissioning of galvanised steel brackets fixings anchors and associated "
	"hardware for the north wing mezzanine including site measure fabrication to drawing revision C "
	"delivery to site crane hire for two hours traffic management plan and removal of packaging waste "
	"as per quotation accepted by the client project manager on site warranty twelve months parts labour"
).split()


def description(rng: random.Random, chars: int) -> str:
	"""A wholesale item description of about `chars` characters (ERPNext keeps several hundred)."""
	words: list[str] = []
	while sum(len(w) + 1 for w in words) < chars:
		words.append(rng.choice(_WORDS))
	return " ".join(words).capitalize()[:chars]


def big_invoice(name: str, lines: int, *, chars: int = 400, seed: int = 0) -> dict:
	"""A submitted NZ sales invoice of `lines` lines at 100.00 + 15% GST, each with a long description."""
	doc = clone(TEMPLATE, name)
	rng = random.Random(f"{seed}:{name}")
	# only what an invoice line needs (the fixture's ~110 fields a line would make a 500-line invoice heavy
	# for the test ERPNext's MariaDB, not for Xero)
	base = {k: v for k, v in doc["items"][0].items() if k in _LINE_FIELDS}
	items = []
	for idx in range(1, lines + 1):
		item = dict(base)
		item.update(
			name=f"{name}-{idx}",
			idx=idx,
			qty=1.0,
			stock_qty=1.0,
			description=description(rng, chars),
			discount_amount=0.0,
			discount_percentage=0.0,
			distributed_discount_amount=0.0,
			price_list_rate=RATE,
			base_price_list_rate=RATE,
		)
		for field in ("rate", "net_rate", "base_rate", "base_net_rate", "stock_uom_rate"):
			item[field] = RATE
		for field in ("amount", "net_amount", "base_amount", "base_net_amount"):
			item[field] = RATE
		items.append(item)
	net = round(RATE * lines, 2)
	tax = round(net * GST, 2)
	gross = round(net + tax, 2)
	doc["items"] = items
	tax_row = dict(doc["taxes"][0])
	tax_row.update(
		tax_amount=tax,
		base_tax_amount=tax,
		tax_amount_after_discount_amount=tax,
		base_tax_amount_after_discount_amount=tax,
		total=gross,
		base_total=gross,
		item_wise_tax_detail=json.dumps({base["item_code"]: [GST * 100, tax]}),
	)
	doc["taxes"] = [tax_row]
	for field in ("total", "net_total", "base_total", "base_net_total"):
		doc[field] = net
	for field in ("total_taxes_and_charges", "base_total_taxes_and_charges"):
		doc[field] = tax
	for field in (
		"grand_total",
		"base_grand_total",
		"rounded_total",
		"base_rounded_total",
		"outstanding_amount",
	):
		doc[field] = gross
	doc.update(
		discount_amount=0.0,
		base_discount_amount=0.0,
		additional_discount_percentage=0.0,
		rounding_adjustment=0.0,
		base_rounding_adjustment=0.0,
		total_qty=float(lines),
	)
	return doc
