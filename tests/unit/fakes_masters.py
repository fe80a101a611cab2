"""A MasterData fake built from tests/fixtures/erpnext/masters.json, plus the fixtures' loader and config.

The item lookup follows the rules of ERPNext's get_item_tax_template as described in the project's Frappe
reference (§8.7): the item's Item Tax rows of the same company, validity rows first, then the row whose tax
category equals the document's. Item Group inheritance is left out: masters.json has no Item Groups.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from nexwave_xero_connector.sync.config import SyncConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "erpnext"
KTL = "Kiwi Test Ltd"
ATP = "Aussie Test Pty Ltd"


@cache
def _load(name: str) -> dict:
	return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture(name: str) -> dict:
	"""Return a fresh copy of a fixture document (tests may change it)."""
	return copy.deepcopy(_load(name))


class FakeMasters:
	"""MasterData answered from masters.json; records the questions it was asked."""

	def __init__(self, masters: dict | None = None):
		self.masters = masters if masters is not None else _load("masters")
		self.calls: list[tuple] = []

	def _templates(self, doctype: str) -> dict[str, dict]:
		return {t["name"]: t for t in self.masters.get(doctype, [])}

	def item_tax_template(
		self,
		item_code: str,
		company: str,
		tax_category: str | None,
		posting_date: date,
		base_net_rate: Decimal,
	) -> str | None:
		"""ERPNext's pick of Item Tax Template for the item, or None."""
		self.calls.append(
			("item_tax_template", item_code, company, tax_category, posting_date, base_net_rate)
		)
		item = next((i for i in self.masters.get("Item", []) if i["name"] == item_code), None)
		if item is None:
			return None
		templates = self._templates("Item Tax Template")
		valid, plain = [], []
		for row in item.get("taxes") or []:
			template = templates.get(row["item_tax_template"])
			if not template or template.get("disabled") or template.get("company") != company:
				continue
			if row.get("valid_from") or row.get("maximum_net_rate"):
				starts = date.fromisoformat(row["valid_from"]) if row.get("valid_from") else date.min
				top = Decimal(str(row.get("maximum_net_rate") or 0))
				low = Decimal(str(row.get("minimum_net_rate") or 0))
				if starts <= posting_date and (not top or low <= base_net_rate <= top):
					valid.append(row)
			else:
				plain.append(row)
		candidates = sorted(valid, key=lambda r: r.get("valid_from") or "", reverse=True) if valid else plain
		for row in candidates:
			if (row.get("tax_category") or "") == (tax_category or ""):
				return row["item_tax_template"]
		return None

	def default_taxes_template(self, template_doctype: str, company: str) -> str | None:
		"""The company's default Sales/Purchase Taxes and Charges Template, or None."""
		self.calls.append(("default_taxes_template", template_doctype, company))
		for template in self.masters.get(template_doctype, []):
			if (
				template.get("company") == company
				and template.get("is_default")
				and not template.get("disabled")
			):
				return template["name"]
		return None


SALES = "Sales Taxes and Charges Template"
PURCHASE = "Purchase Taxes and Charges Template"
ITEM = "Item Tax Template"
TAX_MAP = {
	(KTL, SALES, "NZ GST 15% - KTL"): "OUTPUT2",
	(KTL, SALES, "NZ GST 15% Inclusive - KTL"): "OUTPUT2",
	(KTL, SALES, "NZ Zero Rated Export - KTL"): "ZERORATED",
	(KTL, ITEM, "NZ Zero Rated - KTL"): "ZERORATED",
	(KTL, ITEM, "NZ GST Exempt - KTL"): "NONE",
	(KTL, PURCHASE, "NZ GST 15% Input - KTL"): "INPUT2",
	(ATP, SALES, "AU Sales - GST - ATP"): "OUTPUT",
	(ATP, ITEM, "AU GST Free - ATP"): "EXEMPTOUTPUT",
	(ATP, PURCHASE, "AU Non Capital Purchase - GST - ATP"): "INPUT",
}
ACCOUNT_MAP = {
	(KTL, "Sales - KTL"): "200",
	(KTL, "Service - KTL"): "220",
	(KTL, "Freight Recovered - KTL"): "260",
	(KTL, "Stock In Hand - KTL"): "300",
	(KTL, "Freight and Forwarding Charges - KTL"): "425",
	(ATP, "41010 - Sales Income - ATP"): "200",
	(ATP, "41040 - Service Income - ATP"): "220",
	(ATP, "41020 - Freight Income - ATP"): "260",
}
TAX_RATES = {
	(KTL, "OUTPUT2"): Decimal("15"),
	(KTL, "INPUT2"): Decimal("15"),
	(KTL, "ZERORATED"): Decimal("0"),
	(KTL, "NONE"): Decimal("0"),
	(ATP, "OUTPUT"): Decimal("10"),
	(ATP, "INPUT"): Decimal("10"),
	(ATP, "EXEMPTOUTPUT"): Decimal("0"),
	(ATP, "BASEXCLUDED"): Decimal("0"),
}
TRACKING_MAP = {
	(KTL, "Main - KTL"): ("Region", "Auckland"),
	(KTL, "Wellington - KTL"): ("Region", "Wellington"),
}


def fixture_config(**changes: object) -> SyncConfig:
	"""A SyncConfig mapping the fixtures' templates and accounts to NZ and AU Xero codes."""
	settings: dict = {
		"site_url": "https://erp.example.com",
		"posting_status": "AUTHORISED",
		"tax_map": dict(TAX_MAP),
		"account_map": dict(ACCOUNT_MAP),
		"rounding_account": {KTL: "860", ATP: "860"},
		"tracking_map": dict(TRACKING_MAP),
		"tax_rates": dict(TAX_RATES),
		"no_tax_type": {KTL: "NONE", ATP: "BASEXCLUDED"},
	}
	settings.update(changes)
	return SyncConfig(**settings)
