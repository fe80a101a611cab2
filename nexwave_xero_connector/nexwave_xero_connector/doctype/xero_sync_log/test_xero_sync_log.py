# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe
from frappe.utils import add_days, now_datetime

from nexwave_xero_connector.constants import LOG_DOCTYPE
from nexwave_xero_connector.nexwave_xero_connector.doctype.xero_sync_log.xero_sync_log import XeroSyncLog
from nexwave_xero_connector.tests.site_state import XeroTestCase


def make_log(status: str, reference_name: str | None = None, age_days: int = 0) -> str:
	"""Insert a log row in `status`, last modified `age_days` ago."""
	name = (
		frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"title": "test",
				"status": status,
				"reference_doctype": "Sales Invoice",
				"reference_name": reference_name or f"SINV-{frappe.generate_hash(length=8)}",
			}
		)
		.insert(ignore_permissions=True, ignore_links=True)
		.name
	)
	if age_days:
		frappe.db.set_value(
			LOG_DOCTYPE, name, "modified", add_days(now_datetime(), -age_days), update_modified=False
		)
	return name


class TestXeroSyncLog(XeroTestCase):
	def test_clear_old_logs_keeps_unfinished_rows(self):
		old = {status: make_log(status, age_days=120) for status in ("Synced", "Voided", "Skipped", "Failed")}
		old["Queued"] = make_log("Queued", age_days=120)
		old["Orphan"] = make_log("Orphan", age_days=120)
		recent = make_log("Synced", age_days=1)
		XeroSyncLog.clear_old_logs(days=90)
		for status in ("Synced", "Voided", "Skipped"):
			self.assertFalse(frappe.db.exists(LOG_DOCTYPE, old[status]), status)
		for status in ("Failed", "Queued", "Orphan"):
			self.assertTrue(frappe.db.exists(LOG_DOCTYPE, old[status]), status)
		self.assertTrue(frappe.db.exists(LOG_DOCTYPE, recent))

	def test_one_row_per_document(self):
		make_log("Queued", reference_name="SINV-UNIQUE-1")
		# frappe 15 reports a unique-index violation on a non-name column as UniqueValidationError
		with self.assertRaises((frappe.UniqueValidationError, frappe.DuplicateEntryError)):
			make_log("Queued", reference_name="SINV-UNIQUE-1")

	def test_indexes_exist(self):
		self.assertTrue(frappe.db.has_index(f"tab{LOG_DOCTYPE}", "status_tenant_id_index"))
		self.assertTrue(frappe.db.has_index(f"tab{LOG_DOCTYPE}", "unique_reference"))
