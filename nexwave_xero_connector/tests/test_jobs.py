"""drain_tenant and sweep over the real Xero Sync Log, with a fake Xero (run with bench run-tests).

FrappeDb.commit is patched to a no-op here: the journal would otherwise commit test data past
FrappeTestCase's class rollback. One connection sees its own uncommitted writes, so the journal's
claim-then-select still works; what this does not test is visibility to a second worker.
"""

from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from nexwave_xero_connector import jobs
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	FakeGateway,
	isolate_jobs,
	log_rows,
	simple_mapper,
)

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class TestDrainAndSweep(FrappeTestCase):
	def setUp(self):
		isolate_jobs(self)

	def test_drain_leaves_rows_queued_and_untouched_while_the_connection_is_unusable(self):
		si = create_sales_invoice()
		with (
			patch.object(jobs, "is_ready", return_value=False),
			patch("nexwave_xero_connector.adapters.make_gateway") as make_gateway,
		):
			jobs.drain_tenant(TEST_TENANT)
		make_gateway.assert_not_called()
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual((row.status, row.attempts), ("Queued", 0))
		frappe.db.delete(LOG_DOCTYPE, {"name": row.name})  # tests in this class share the queue

	@contextmanager
	def connected_to(self, gateway: FakeGateway):
		"""Run jobs as if Xero were connected, against `gateway`, with the stand-in mapper."""
		with (
			patch.object(jobs, "is_ready", return_value=True),
			patch.object(jobs, "organisation_facts", return_value=None),
			patch("nexwave_xero_connector.adapters.make_gateway", return_value=gateway),
			patch("nexwave_xero_connector.sync.engine._default_mapper", return_value=simple_mapper),
		):
			yield

	def test_drain_marks_synced_and_writes_xero_id_back(self):
		gateway = FakeGateway()
		si = create_sales_invoice()
		with self.connected_to(gateway):
			jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual(row.status, "Synced", row.error_message)
		self.assertTrue(row.xero_id)
		self.assertIsNone(row.lease_owner)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_id"), row.xero_id)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "AUTHORISED")
		self.assertEqual([b["Number"] for b in gateway.created], [si.name])
		attempts = frappe.get_all("Xero Sync Attempt", filters={"parent": row.name}, fields=["outcome"])
		self.assertEqual([a.outcome for a in attempts], ["Synced"])
		self.assertTrue(self.commits, "the journal names its commit points")
		self.assertTrue(
			frappe.db.get_value("Customer", si.customer, "xero_contact_id"), "contact id cached on the party"
		)

	def test_sweep_wakes_only_tenants_whose_leases_expired(self):
		frappe.db.delete(LOG_DOCTYPE, {"status": "Queued"})
		expired = self.queued_row("tenant-expired")
		held = self.queued_row("tenant-held")
		now = now_datetime()
		frappe.db.set_value(
			LOG_DOCTYPE,
			expired,
			{"lease_owner": "dead-worker", "lease_expires_at": now - timedelta(minutes=5)},
		)
		frappe.db.set_value(
			LOG_DOCTYPE, held, {"lease_owner": "live-worker", "lease_expires_at": now + timedelta(minutes=5)}
		)
		with patch.object(jobs, "is_ready", return_value=True):
			jobs.sweep()
		self.assertEqual([c["tenant_id"] for c in self.enqueue.calls], ["tenant-expired"])
		self.assertEqual(self.enqueue.calls[0]["job_id"], "xero-drain::tenant-expired")
		self.assertTrue(self.enqueue.calls[0]["deduplicate"])

	def test_sweep_does_nothing_until_connected(self):
		self.queued_row("tenant-waiting")
		jobs.sweep()  # settings have no connected app/user
		self.assertEqual(self.enqueue.calls, [])

	def queued_row(self, tenant_id: str) -> str:
		"""Insert a bare Queued row for a made-up document of the tenant."""
		return (
			frappe.get_doc(
				{
					"doctype": LOG_DOCTYPE,
					"status": "Queued",
					"reference_doctype": SALES_INVOICE_DOCTYPE,
					"reference_name": f"SINV-{frappe.generate_hash(length=8)}",
					"tenant_id": tenant_id,
					"title": "test",
				}
			)
			.insert(ignore_permissions=True, ignore_links=True)
			.name
		)
