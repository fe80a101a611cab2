"""on_submit / on_cancel hooks: the outbox row and the after-commit wake-up (run with bench run-tests)."""

from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.tests.utils import FrappeTestCase

from nexwave_xero_connector.constants import DRAIN_JOB, LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.tests.utils import (
	TEST_COMPANY,
	TEST_TENANT,
	EnqueueRecorder,
	configure_settings,
	log_rows,
)

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class TestQueuePush(FrappeTestCase):
	"""Submit and cancel inside one class transaction, rolled back at the end."""

	def setUp(self):
		configure_settings()
		self.enqueue = EnqueueRecorder()
		patcher = patch("frappe.enqueue", self.enqueue)
		patcher.start()
		self.addCleanup(patcher.stop)

	def test_submit_queues_one_row_and_an_after_commit_drain(self):
		si = create_sales_invoice()
		rows = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(len(rows), 1)
		row = rows[0]
		self.assertEqual(row.status, "Queued")
		self.assertEqual(row.tenant_id, TEST_TENANT)
		self.assertEqual(row.company, TEST_COMPANY)
		self.assertEqual(row.xero_type, "ACCREC")
		self.assertEqual(row.queued_by, frappe.session.user)
		self.assertEqual(len(self.enqueue.calls), 1)
		call = self.enqueue.calls[0]
		self.assertEqual(call["method"], DRAIN_JOB)
		self.assertEqual(call["queue"], "long")
		self.assertEqual(call["job_id"], f"xero-drain::{TEST_TENANT}")
		self.assertTrue(call["deduplicate"])
		self.assertTrue(call["enqueue_after_commit"])
		self.assertEqual(call["tenant_id"], TEST_TENANT)
		self.assertEqual(self.enqueue.fired, [], "nothing may reach the queue before the submit commits")

	def test_sales_return_is_a_credit_note(self):
		from erpnext.accounts.doctype.sales_invoice.sales_invoice import make_sales_return

		si = create_sales_invoice()
		ret = make_sales_return(si.name)
		ret.insert()
		ret.submit()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, ret.name)[0].xero_type, "ACCRECCREDIT")

	def test_out_of_scope_leaves_no_row(self):
		configure_settings(sync_sales_invoices=0)
		si = create_sales_invoice()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])
		self.assertEqual(self.enqueue.calls, [])

	def test_disabled_leaves_no_row(self):
		configure_settings(enabled=0)
		si = create_sales_invoice()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])

	def test_company_without_tenant_is_skipped_with_the_reason(self):
		configure_settings(tenants={})
		si = create_sales_invoice()
		rows = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(len(rows), 1)
		self.assertEqual(rows[0].status, "Skipped")
		self.assertEqual(
			rows[0].error_message,
			f"Company {TEST_COMPANY} has no Xero organisation. Bind one in Xero Sync Settings; nothing was sent.",
		)
		self.assertEqual(self.enqueue.calls, [])

	def test_a_document_posted_before_the_go_live_date_is_skipped_with_the_reason(self):
		from frappe.utils import add_days, getdate, nowdate

		settings = frappe.get_single("Xero Sync Settings")
		settings.tenants[0].go_live_date = nowdate()
		settings.save()
		old = create_sales_invoice(posting_date=add_days(nowdate(), -3))
		rows = log_rows(SALES_INVOICE_DOCTYPE, old.name)
		self.assertEqual([(r.status, r.tenant_id) for r in rows], [("Skipped", "")])
		self.assertEqual(
			rows[0].error_message,
			f"{old.name} is posted before the go-live date of company {TEST_COMPANY} ({getdate(nowdate())}); "
			"nothing was sent. Use Backfill in Xero Sync Settings to adopt or create it in Xero.",
		)
		self.assertEqual(self.enqueue.calls, [])
		# the go-live day itself is pushed as usual
		new = create_sales_invoice()
		self.assertEqual([r.status for r in log_rows(SALES_INVOICE_DOCTYPE, new.name)], ["Queued"])

	def test_cancel_flags_a_synced_row_for_voiding(self):
		si = create_sales_invoice()
		name = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].name
		frappe.db.set_value(LOG_DOCTYPE, name, {"status": "Synced", "xero_id": "x-1"})
		self.enqueue.calls.clear()
		si.reload()
		si.cancel()
		row = frappe.db.get_value(LOG_DOCTYPE, name, ["status", "cancel_requested"], as_dict=True)
		self.assertEqual(row.status, "Queued")
		self.assertEqual(row.cancel_requested, 1)
		self.assertEqual([c["job_id"] for c in self.enqueue.calls], [f"xero-drain::{TEST_TENANT}"])
		self.assertTrue(self.enqueue.calls[0]["enqueue_after_commit"])

	def test_cancel_without_row_enqueues_nothing(self):
		configure_settings(enabled=0)
		si = create_sales_invoice()
		si.cancel()
		self.assertEqual(self.enqueue.calls, [])


class TestRolledBackSubmit(FrappeTestCase):
	"""A submit whose transaction rolls back leaves no row and wakes no drain."""

	def test_rollback_leaves_nothing(self):
		enqueue = EnqueueRecorder()
		with patch("frappe.enqueue", enqueue):
			configure_settings()
			si = create_sales_invoice()
			self.assertEqual(len(log_rows(SALES_INVOICE_DOCTYPE, si.name)), 1)
			frappe.db.rollback()
			# whatever commits next must not carry the wake-up of the rolled-back submit
			frappe.db.after_commit.run()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])
		self.assertEqual(enqueue.fired, [])
