"""The status poll on a real ERPNext site: Xero's status and amounts onto the invoice's custom fields and
its log row, the drift scan folded into the same listing, the watermark kept per organisation, the
workspace card's filters (run with bench run-tests)."""

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

from nexwave_xero_connector import jobs, status_job
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind, XeroRecord
from nexwave_xero_connector.sync.status_poll import OVERLAP
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	FakeGateway,
	connected,
	isolate_jobs,
	log_rows,
)

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]
FIELDS = ["xero_status", "xero_amount_paid", "xero_amount_credited", "xero_amount_due", "xero_fully_paid_on"]


class TestStatusPoll(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)
		frappe.db.delete("DefaultValue", {"defkey": status_job._key(TEST_TENANT)})  # the site's own stay
		self.gateway = FakeGateway()

	def synced_invoice(self):
		si = create_sales_invoice(rate=200)
		with connected(self.gateway):
			jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual(row.status, "Synced", row.error_message)
		self.addCleanup(frappe.db.delete, LOG_DOCTYPE, {"name": row.name})  # the class shares the queue
		return si, row

	def test_a_payment_in_xero_lands_on_the_invoice_and_its_log_row(self):
		si, row = self.synced_invoice()
		paid_on = date(2026, 11, 20)
		self.gateway.changed = [
			XeroRecord(
				Kind.SALES_INVOICE,
				row.xero_id,
				si.name,
				"PAID",
				total=Decimal(200),
				amount_paid=Decimal("150.00"),
				amount_credited=Decimal("50.00"),
				amount_due=Decimal(0),
				fully_paid_on=paid_on,
			)
		]
		with connected(self.gateway):
			results = status_job.poll_organisations()
		self.assertEqual(results[TEST_TENANT].updated, [si.name])
		expected = ["PAID", 150.0, 50.0, 0.0, paid_on]
		values = frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, FIELDS)
		self.assertEqual(
			[values[0], float(values[1]), float(values[2]), float(values[3]), values[4]], expected
		)
		logged = frappe.db.get_value(LOG_DOCTYPE, row.name, FIELDS)
		self.assertEqual(
			[logged[0], float(logged[1]), float(logged[2]), float(logged[3]), logged[4]], expected
		)
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, row.name, "status"), "Synced")
		# the workspace card's own filters count this invoice: paid in Xero, outstanding here
		card = frappe.get_doc("Number Card", "Xero Paid Outstanding Invoices")
		filters = [f[1:4] for f in json.loads(card.filters_json)] + [["name", "=", si.name]]
		self.assertEqual(frappe.get_all(card.document_type, filters=filters, pluck="name"), [si.name])

	def test_the_watermark_is_kept_per_organisation_and_a_budget_stop_leaves_it(self):
		self.synced_invoice()
		before = datetime.now(timezone.utc)
		with connected(self.gateway):
			status_job.poll_organisations()
			mark = status_job.DefaultWatermarks().get(TEST_TENANT)
			self.assertTrue(
				before - OVERLAP - timedelta(seconds=1) <= mark <= datetime.now(timezone.utc) - OVERLAP
			)
			status_job.poll_organisations()
			self.assertEqual([c["since"] for c in self.gateway.listings], [None, mark])
			# the first poll reads in full; later ones list summaries of what changed
			self.assertEqual([c["summary_only"] for c in self.gateway.listings], [False, True])
			limited = XeroError("out of calls", error_class=ErrorClass.RATE_LIMITED)
			moved = status_job.DefaultWatermarks().get(TEST_TENANT)
			with (
				patch.object(self.gateway, "modified_since", side_effect=limited),
				patch("frappe.log_error") as log_error,
			):
				result = status_job.poll_organisations()
		self.assertIn("out of calls", result[TEST_TENANT])
		log_error.assert_not_called()
		self.assertEqual(status_job.DefaultWatermarks().get(TEST_TENANT), moved)

	def test_the_poll_is_the_drift_scan_for_documents_voided_in_xero(self):
		si, row = self.synced_invoice()
		self.gateway.removed = [XeroRecord(Kind.SALES_INVOICE, row.xero_id, si.name, "VOIDED")]
		with connected(self.gateway):
			jobs.scan_orphans()  # the hourly orphan scan no longer lists Xero
			self.assertEqual(self.gateway.listings, [])
			self.assertEqual(status_job.flag_drift(), [si.name])
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual((row.status, row.error_class), ("Failed", "Conflict"))
		self.assertIn("was voided in Xero", row.error_message)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "VOIDED")
		self.assertEqual(len(self.gateway.listings), 1, "one listing serves status and drift")

	def test_the_scheduled_entry_returns_nothing_for_bench_execute_to_print(self):
		si, row = self.synced_invoice()
		self.gateway.changed = [XeroRecord(Kind.SALES_INVOICE, row.xero_id, si.name, "PAID", amount_due=0)]
		with connected(self.gateway):
			self.assertIsNone(status_job.poll_statuses())  # the reports are not JSON: bench execute failed
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "PAID")

	def test_nothing_is_polled_while_disconnected(self):
		with patch("nexwave_xero_connector.wiring.make_gateway") as make_gateway:
			self.assertEqual(status_job.poll_organisations(), {})
		make_gateway.assert_not_called()
