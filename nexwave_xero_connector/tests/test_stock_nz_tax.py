"""A stock New Zealand company made by ERPNext's own setup: sales and purchase taxes map to OUTPUT2 / INPUT2.

ERPNext 15 creates, for a new company in New Zealand, a Sales, a Purchase and an Item Tax Template all named
"New Zealand - <abbr>" (setup_wizard/data/country_wise_tax.json via operations/taxes_setup.py, called from
Company.on_update). The settings are the test class's own (never the site's), and everything else is undone
by the class rollback (XeroTestCase checks it was) (run with bench run-tests).
"""

from unittest.mock import patch

import frappe
from erpnext.controllers.accounts_controller import get_taxes_and_charges
from frappe.utils import today

from nexwave_xero_connector import adapters
from nexwave_xero_connector.adapters import FrappeMasters, load_config
from nexwave_xero_connector.constants import SETTINGS_DOCTYPE
from nexwave_xero_connector.nexwave_xero_connector.doctype.xero_sync_settings.xero_sync_settings import (
	tax_mapping_proposals,
)
from nexwave_xero_connector.patches import tax_mapping_template_type
from nexwave_xero_connector.sync.config import (
	ITEM_TAX_TEMPLATE,
	PURCHASE_TAXES_TEMPLATE,
	SALES_TAXES_TEMPLATE,
)
from nexwave_xero_connector.sync.mapping import build_payload
from nexwave_xero_connector.tests.site_state import XeroTestCase

COMPANY = "_Xero Stock NZ Ltd"
ABBR = "_XNZ"
STOCK = f"New Zealand - {ABBR}"
TENANT = "tenant-stock-nz"
# Xero's New Zealand TaxRates as Load from Xero lists them (see tests/emulator/seed.py)
NZ_RATES = [
	{"tax_type": "OUTPUT2", "name": "GST on Income", "rate": 15.0, "status": "ACTIVE", "revenue": True},
	{"tax_type": "INPUT2", "name": "GST on Expenses", "rate": 15.0, "status": "ACTIVE", "expenses": True},
	{"tax_type": "ZERORATED", "name": "Zero Rated", "rate": 0.0, "status": "ACTIVE", "revenue": True},
	{
		"tax_type": "NONE",
		"name": "No GST",
		"rate": 0.0,
		"status": "ACTIVE",
		"revenue": True,
		"expenses": True,
	},
]


def make_stock_nz_company() -> frappe._dict:
	"""A company in New Zealand with the standard chart, set up by ERPNext itself; its default accounts."""
	if not frappe.db.exists("Company", COMPANY):
		flags = frappe.local.flags
		before = flags.ignore_chart_of_accounts
		flags.ignore_chart_of_accounts = False  # let Company.on_update build the chart and the tax templates
		try:
			frappe.get_doc(
				{
					"doctype": "Company",
					"company_name": COMPANY,
					"abbr": ABBR,
					"country": "New Zealand",
					"default_currency": "NZD",
					"create_chart_of_accounts_based_on": "Standard Template",
					"chart_of_accounts": "Standard",
				}
			).insert()
		finally:
			flags.ignore_chart_of_accounts = before
	return frappe.db.get_value(
		"Company",
		COMPANY,
		["default_income_account", "default_expense_account", "cost_center"],
		as_dict=True,
	)


def first_leaf(doctype: str, root: str) -> str:
	return frappe.db.get_value(doctype, {"is_group": 0}, "name") or root


def make_party(doctype: str) -> str:
	name = f"_Xero Stock NZ {doctype}"
	if not frappe.db.exists(doctype, name):
		if doctype == "Customer":
			values = {
				"customer_name": name,
				"customer_group": first_leaf("Customer Group", "All Customer Groups"),
			}
			values["territory"] = first_leaf("Territory", "All Territories")
		else:
			values = {
				"supplier_name": name,
				"supplier_group": first_leaf("Supplier Group", "All Supplier Groups"),
			}
		frappe.get_doc({"doctype": doctype, **values}).insert()
	return name


def make_service_item() -> str:
	code = "_Xero Stock NZ Service"
	if not frappe.db.exists("Item", code):
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": code,
				"item_name": code,
				"item_group": first_leaf("Item Group", "All Item Groups"),
				"stock_uom": "Nos" if frappe.db.exists("UOM", "Nos") else frappe.db.get_value("UOM", {}),
				"is_stock_item": 0,
			}
		).insert()
	return code


def make_invoice(doctype: str, template_doctype: str, accounts: frappe._dict):
	"""A draft invoice on the stock template, with ERPNext's own tax rows and totals (not submitted)."""
	item = make_service_item()
	party_field, account_field, account = (
		("customer", "income_account", accounts.default_income_account)
		if doctype == "Sales Invoice"
		else ("supplier", "expense_account", accounts.default_expense_account)
	)
	doc = frappe.new_doc(doctype)
	doc.update(
		{
			"company": COMPANY,
			party_field: make_party("Customer" if doctype == "Sales Invoice" else "Supplier"),
			"posting_date": today(),
			"due_date": today(),
			"currency": "NZD",
			"conversion_rate": 1,
			# the site's default price list may be in another currency; no exchange-rate lookup for it
			"plc_conversion_rate": 1,
			"ignore_pricing_rule": 1,
			"taxes_and_charges": STOCK,
		}
	)
	if doctype == "Purchase Invoice":
		doc.bill_no = "STOCK-NZ-1"
	doc.append(
		"items",
		{
			"item_code": item,
			"qty": 2,
			"rate": 100,
			"uom": frappe.db.get_value("Item", item, "stock_uom"),
			"conversion_factor": 1,
			account_field: account,
			"cost_center": accounts.cost_center,
		},
	)
	doc.set("taxes", get_taxes_and_charges(template_doctype, STOCK))
	doc.insert()
	return doc


def stock_settings(accounts: frappe._dict, *tax_rows: tuple[str, str]):
	"""The test class's Xero Sync Settings, unsaved: the company bound to a tenant, the stock templates
	mapped."""
	settings = adapters.read_settings()
	settings.set(
		"tenants",
		[{"company": COMPANY, "tenant_id": TENANT, "rounding_account_code": "860", "no_tax_type": "NONE"}],
	)
	settings.set(
		"tax_mappings",
		[
			{"company": COMPANY, "template_type": doctype, "tax_template": STOCK, "xero_tax_type": tax_type}
			for doctype, tax_type in tax_rows
		],
	)
	settings.set(
		"account_mappings",
		[
			{"company": COMPANY, "account": accounts.default_income_account, "xero_account_code": "200"},
			{"company": COMPANY, "account": accounts.default_expense_account, "xero_account_code": "310"},
		],
	)
	settings.set("tracking_mappings", [])
	return settings


class TestStockNewZealandTaxes(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.accounts = make_stock_nz_company()

	def test_erpnext_names_all_three_stock_templates_alike(self):
		for doctype in (SALES_TAXES_TEMPLATE, PURCHASE_TAXES_TEMPLATE, ITEM_TAX_TEMPLATE):
			self.assertEqual(frappe.db.get_value(doctype, STOCK, "company"), COMPANY, doctype)

	def test_sales_and_purchase_rows_for_the_same_name_are_not_duplicates(self):
		settings = stock_settings(
			self.accounts, (SALES_TAXES_TEMPLATE, "OUTPUT2"), (PURCHASE_TAXES_TEMPLATE, "INPUT2")
		)
		settings.validate()  # no ValidationError: different template doctypes
		twice = stock_settings(
			self.accounts, (PURCHASE_TAXES_TEMPLATE, "INPUT2"), (PURCHASE_TAXES_TEMPLATE, "OUTPUT2")
		)
		with self.assertRaises(frappe.ValidationError):
			twice.validate()

	def test_bill_on_the_stock_purchase_template_goes_out_with_input2(self):
		settings = stock_settings(
			self.accounts, (SALES_TAXES_TEMPLATE, "OUTPUT2"), (PURCHASE_TAXES_TEMPLATE, "INPUT2")
		)
		with patch("nexwave_xero_connector.adapters.get_settings", return_value=settings):
			config = load_config()
		for doctype, template_doctype, expected in (
			("Purchase Invoice", PURCHASE_TAXES_TEMPLATE, "INPUT2"),
			("Sales Invoice", SALES_TAXES_TEMPLATE, "OUTPUT2"),
		):
			doc = make_invoice(doctype, template_doctype, self.accounts)
			payload = build_payload(
				doc.as_dict(), config=config, masters=FrappeMasters(), contact_id="contact-stock-nz"
			)
			item_lines = payload.body["LineItems"][: len(doc.items)]
			self.assertEqual([line["TaxType"] for line in item_lines], [expected], doctype)
			self.assertEqual(str(payload.total), f"{doc.rounded_total or doc.grand_total:.2f}", doctype)

	def test_load_from_xero_proposes_output2_and_input2(self):
		settings = stock_settings(self.accounts)
		proposals = {
			p["template_type"]: p
			for p in tax_mapping_proposals(settings, {COMPANY}, NZ_RATES)
			if p["tax_template"] == STOCK
		}
		self.assertEqual(proposals[SALES_TAXES_TEMPLATE]["proposed"], "OUTPUT2")
		self.assertEqual(proposals[PURCHASE_TAXES_TEMPLATE]["proposed"], "INPUT2")
		self.assertIsNone(proposals[ITEM_TAX_TEMPLATE]["proposed"])
		self.assertEqual(proposals[SALES_TAXES_TEMPLATE]["rate"], 15.0)

	def test_patch_gives_an_old_single_row_one_row_per_doctype(self):
		parent = f"_xero-test-{frappe.generate_hash(length=8)}"  # not the site's settings: rows of its own
		old = frappe.new_doc("Xero Tax Mapping")
		old.update(
			{
				"parent": parent,
				"parenttype": SETTINGS_DOCTYPE,
				"parentfield": "tax_mappings",
				"idx": 1,
				"company": COMPANY,
				"template_type": ITEM_TAX_TEMPLATE,  # the old default, left as it was
				"tax_template": STOCK,
				"xero_tax_type": "OUTPUT2",
			}
		)
		old.db_insert()
		tax_mapping_template_type.split_mappings(parent)
		rows = frappe.get_all(
			"Xero Tax Mapping",
			filters={"parent": parent},
			fields=["template_type", "tax_template", "xero_tax_type", "idx"],
			order_by="idx asc",
		)
		self.assertEqual(
			[(r.template_type, r.tax_template, r.xero_tax_type) for r in rows],
			[
				(ITEM_TAX_TEMPLATE, STOCK, "OUTPUT2"),
				(SALES_TAXES_TEMPLATE, STOCK, "OUTPUT2"),
				(PURCHASE_TAXES_TEMPLATE, STOCK, "OUTPUT2"),
			],
		)
