"""`bench --site SITE xero …` through click's runner (run with bench run-tests).

frappe.init/connect/destroy are patched so the commands run on the test's own connection, and
FrappeDb.commit records the reasons instead of committing past the class rollback.
"""

from unittest.mock import MagicMock

import frappe
from click.testing import CliRunner
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

from nexwave_xero_connector import commands
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.test_api import make_row
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	configure_settings,
	isolate_jobs,
	log_rows,
	pending_wakes,
)

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class TestBenchCommands(XeroTestCase):
	def setUp(self):
		isolate_jobs(
			self,
			("frappe.init", MagicMock()),
			("frappe.connect", MagicMock()),
			("frappe.destroy", MagicMock()),
		)

	def invoke(self, *args: str):
		result = CliRunner().invoke(
			commands.xero, list(args), obj={"sites": [frappe.local.site], "profile": False}
		)
		if result.exception and not isinstance(result.exception, SystemExit):
			raise result.exception
		return result

	def test_app_exposes_the_xero_group(self):
		self.assertEqual([c.name for c in commands.commands], ["xero"])
		self.assertEqual(
			sorted(commands.xero.commands), ["backfill", "push", "retry-failed", "scan-orphans", "status"]
		)

	def test_status_counts_stuck_rows_with_no_worker(self):
		def counts() -> dict[str, int]:
			result = self.invoke("status")
			self.assertEqual(result.exit_code, 0, result.output)
			return {k: int(v) for k, v in (line.split() for line in result.output.splitlines())}

		before = counts()  # the site's own rows count too: the test adds to them
		make_row("Failed")
		make_row("Queued", age_minutes=120)
		after = counts()
		self.assertEqual(
			{k: after[k] - before[k] for k in ("Failed", "Queued", "Stuck", "Total")},
			{"Failed": 1, "Queued": 1, "Stuck": 1, "Total": 2},
		)

	def test_retry_failed_requeues_and_commits(self):
		failed = make_row("Failed")
		result = self.invoke("retry-failed")
		self.assertEqual(result.exit_code, 0, result.output)
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, failed, "status"), "Queued")
		self.assertEqual(len(self.commits), 1)
		self.assertIn(TEST_TENANT, pending_wakes())

	def test_push_and_its_refusal(self):
		configure_settings(enabled=0)
		si = create_sales_invoice()
		configure_settings()
		result = self.invoke("push", SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(result.exit_code, 0, result.output)
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].status, "Queued")
		again = self.invoke("push", SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(again.exit_code, 1)
		self.assertIn("already Queued", again.output)

	def test_scan_orphans(self):
		si = create_sales_invoice()
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].name
		frappe.db.set_value(LOG_DOCTYPE, row, {"status": "Synced", "xero_id": "inv-1"})
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "docstatus", 2)
		result = self.invoke("scan-orphans")
		self.assertEqual(result.exit_code, 0, result.output)
		self.assertIn(si.name, result.output)
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, row, "status"), "Queued")
