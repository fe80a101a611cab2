# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now

from nexwave_xero_connector.constants import CLEARABLE_LOG_STATUSES, LOG_DOCTYPE


class XeroSyncLog(Document):
	"""One row per ERP document: the outbox entry, its lease and the outcome of every attempt.

	Rows are written by the journal's SQL (sync/journal.py) and by events.py; the form is read-only.
	"""

	@staticmethod
	def clear_old_logs(days: int = 90) -> None:
		"""Delete finished rows (Synced, Voided, Skipped) older than `days`; Queued/Failed/Orphan stay."""
		log = frappe.qb.DocType(LOG_DOCTYPE)
		names = (
			frappe.qb.from_(log)
			.select(log.name)
			.where(log.modified < (Now() - Interval(days=days)))
			.where(log.status.isin(CLEARABLE_LOG_STATUSES))
			.run(pluck=True)
		)
		if not names:
			return
		frappe.db.delete("Xero Sync Attempt", {"parenttype": LOG_DOCTYPE, "parent": ("in", names)})
		frappe.db.delete(LOG_DOCTYPE, {"name": ("in", names)})


def on_doctype_update():
	"""Index the drain's claim filter and keep one row per ERP document."""
	frappe.db.add_index(LOG_DOCTYPE, ["status", "tenant_id"])
	frappe.db.add_unique(LOG_DOCTYPE, ["reference_doctype", "reference_name"], "unique_reference")
