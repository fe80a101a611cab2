"""The "ERPNext vs Xero" Script Report on a real site: its columns, the ERPNext-only view with the call
estimate, and a comparison against an in-memory Xero (run with bench run-tests)."""

from decimal import Decimal
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import add_days, nowdate

from nexwave_xero_connector.nexwave_xero_connector.report.erpnext_vs_xero import erpnext_vs_xero as report
from nexwave_xero_connector.sync.model import Kind, XeroRecord
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.test_api import OUTSIDER, make_user
from nexwave_xero_connector.tests.utils import TEST_COMPANY, FakeGateway, isolate_jobs

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]

COLUMNS = [
	"category",
	"kind",
	"reference_doctype",
	"reference_name",
	"erp_count",
	"erp_total",
	"xero_count",
	"xero_total",
	"xero_number",
	"xero_status",
	"xero_link",
	"fix",
	"log",
	"detail",
]


class DatedXero(FakeGateway):
	def __init__(self, records):
		super().__init__()
		self.records = records

	def documents_dated(self, tenant_id, date_from, date_to):
		return list(self.records)


class TestErpnextVsXero(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)
		self.day = add_days(nowdate(), -400)  # a period no other test posts into
		self.filters = {"company": TEST_COMPANY, "from_date": self.day, "to_date": self.day}

	def test_the_report_is_registered_with_its_columns(self):
		self.assertEqual(frappe.db.get_value("Report", "ERPNext vs Xero", "report_type"), "Script Report")
		columns, rows, message = report.execute(self.filters)
		self.assertEqual([c["fieldname"] for c in columns], COLUMNS)
		self.assertEqual(
			[r["kind"] for r in rows], ["Sales Invoice", "Sales Credit Note", "Bill", "Supplier Credit Note"]
		)
		self.assertEqual(
			message,
			"Showing ERPNext only. Reading Xero for this period will spend about 2 API calls; tick Read Xero to compare.",
		)

	def test_reading_xero_lists_each_difference_with_its_fix(self):
		pushed = create_sales_invoice(posting_date=self.day)
		missing = create_sales_invoice(posting_date=self.day)
		frappe.db.set_value("Sales Invoice", pushed.name, "xero_id", "x-pushed")
		total = Decimal(str(pushed.rounded_total or pushed.grand_total))
		xero = DatedXero(
			[
				XeroRecord(Kind.SALES_INVOICE, "x-pushed", pushed.name, "AUTHORISED", total=total + 1),
				XeroRecord(Kind.SALES_INVOICE, "x-other", "HAND-1", "AUTHORISED", total=Decimal("5")),
			]
		)
		with patch("nexwave_xero_connector.wiring.make_gateway", return_value=xero):
			_columns, rows, message = report.execute({**self.filters, "read_xero": 1})
		figures = rows[0]
		self.assertEqual((figures["erp_count"], figures["xero_count"]), (2, 2))
		differences = {(r["category"], r["reference_name"] or r["xero_number"], r["fix"]) for r in rows[4:]}
		# every document the figures count is itemised: the hand-keyed one too, with no advice to void it
		self.assertEqual(
			differences,
			{
				("Totals differ", pushed.name, ""),
				("In ERPNext, not in Xero", missing.name, "Push"),
				("In Xero, not in ERPNext", "HAND-1", ""),
			},
		)
		self.assertEqual(message, "3 differences. Xero was read with about 2 API calls.")

	def test_only_managers_may_read_xero_or_ask_for_the_estimate(self):
		make_user(OUTSIDER, "Blogger")
		with self.set_user(OUTSIDER):
			self.assertRaises(frappe.PermissionError, report.execute, {**self.filters, "read_xero": 1})
			self.assertRaises(frappe.PermissionError, report.estimate, TEST_COMPANY, self.day, self.day)
