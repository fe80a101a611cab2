"""Payment Entry hooks: on_submit queues the entry's Xero payments, on_cancel flags them for deletion,
`bench xero push "Payment Entry" NAME` queues one (run with bench run-tests on an ERPNext site)."""

import dataclasses
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.payment_entry.payment_entry import get_payment_entry
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import today

from nexwave_xero_connector import adapters, api
from nexwave_xero_connector.constants import PAYMENT_ENTRY_DOCTYPE
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	configure_settings,
	forget_wakes,
	log_rows,
	pending_wakes,
)

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]
LOAD_CONFIG = adapters.load_config
SCOPE_CONFIG = adapters.scope_config


class TestPaymentEntryHooks(XeroTestCase):
	owner = "ERPNext"

	def setUp(self):
		configure_settings()
		forget_wakes()
		for target, value in (
			("nexwave_xero_connector.adapters.load_config", lambda: self.owned(LOAD_CONFIG())),
			("nexwave_xero_connector.events.scope_config", lambda: self.owned(SCOPE_CONFIG())),
		):
			patcher = patch(target, value)
			patcher.start()
			self.addCleanup(patcher.stop)

	def owned(self, config):
		"""The settings' config with the company's payments owned by `self.owner`."""
		tenants = tuple(dataclasses.replace(t, payments_owned_by=self.owner) for t in config.tenants)
		return dataclasses.replace(config, tenants=tenants)

	def receipt(self, submit=True):
		si = create_sales_invoice()
		pe = get_payment_entry("Sales Invoice", si.name)
		pe.reference_no, pe.reference_date = "XERO-TEST", today()
		pe.insert()
		if submit:
			pe.submit()
		return pe

	def test_submit_queues_one_payment_row_and_an_after_commit_drain(self):
		pe = self.receipt()
		[row] = log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertEqual((row.status, row.xero_type, row.tenant_id), ("Queued", "PAYMENT", TEST_TENANT))
		self.assertIn(TEST_TENANT, pending_wakes())  # woken only once the submit commits

	def test_cancel_flags_the_row_for_deletion_in_xero(self):
		pe = self.receipt()
		pe.cancel()
		[row] = log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertEqual(row.status, "Queued")
		self.assertEqual(frappe.db.get_value("Xero Sync Log", row.name, "cancel_requested"), 1)

	def test_a_cancel_after_the_log_was_cleared_queues_the_deletion_by_reference(self):
		pe = self.receipt()
		frappe.db.delete(
			"Xero Sync Log", {"reference_doctype": PAYMENT_ENTRY_DOCTYPE, "reference_name": pe.name}
		)
		forget_wakes()
		pe.cancel()
		[row] = log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertEqual((row.status, row.xero_type, row.cancel_requested), ("Queued", "PAYMENT", 1))
		self.assertEqual(row.send_started, 1, "the drain must look the payments up before it skips")
		self.assertIn(TEST_TENANT, pending_wakes())

	def test_deleting_a_draft_entry_queues_nothing(self):
		pe = self.receipt(submit=False)
		pe.delete()
		self.assertEqual(log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name), [])
		self.assertEqual(frappe.get_all("Xero Sync Log", {"deleted_reference": pe.name}, pluck="name"), [])

	def test_a_cancelled_entry_can_be_deleted_and_its_row_keeps_the_history(self):
		pe = self.receipt()
		[row] = log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name)
		frappe.db.set_value("Xero Sync Log", row.name, "status", "Synced")
		pe.cancel()
		# ERPNext lets a cancelled entry go with its ledger entries when Accounts Settings says so; the log
		# row's link must not be what refuses it.
		frappe.db.set_single_value("Accounts Settings", "delete_linked_ledger_entries", 1)
		frappe.delete_doc(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertFalse(frappe.db.exists(PAYMENT_ENTRY_DOCTYPE, pe.name))
		kept = frappe.db.get_value(
			"Xero Sync Log",
			row.name,
			["reference_name", "deleted_reference", "cancel_requested"],
			as_dict=True,
		)
		self.assertEqual(
			(kept.reference_name, kept.deleted_reference, kept.cancel_requested), (None, pe.name, 1)
		)

	def test_a_hand_made_entry_where_xero_owns_payments_is_not_sent_and_says_so(self):
		"""It may count money Xero also records (issue 18, item 2): a warning on submit, a Skipped row with
		the reason, and Push still refuses."""
		self.owner = "Xero"
		frappe.clear_messages()
		pe = self.receipt()
		[row] = log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertEqual((row.status, row.xero_type), ("Skipped", "PAYMENT"))
		self.assertIn("Xero owns the payments of", row.error_message)
		self.assertIn("counts it twice", row.error_message)
		self.assertIn("Not sent to Xero", str(frappe.message_log))
		with self.assertRaises(frappe.ValidationError):
			api.push(PAYMENT_ENTRY_DOCTYPE, pe.name)

	def test_push_queues_a_submitted_entry_once(self):
		pe = self.receipt()
		frappe.db.delete(
			"Xero Sync Log", {"reference_doctype": PAYMENT_ENTRY_DOCTYPE, "reference_name": pe.name}
		)
		row = api.push(PAYMENT_ENTRY_DOCTYPE, pe.name)
		self.assertEqual(row.status, "Queued")
		with self.assertRaises(frappe.ValidationError):
			api.push(PAYMENT_ENTRY_DOCTYPE, pe.name)
