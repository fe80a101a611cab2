# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document
from frappe.utils import add_days, now_datetime

from nexwave_xero_connector.constants import LOG_DOCTYPE


class XeroSyncLog(Document):
	"""One row per ERP document: the outbox entry, its lease and the outcome of every attempt.

	Rows are written by the journal's SQL (sync/journal.py) and by events.py; the form is read-only.
	"""

	def onload(self):
		"""Tell the form whether the row is stuck now (derived from time, not a flag a job must set) and
		where its View in Xero buttons go (one per live Xero payment of a Payment Entry)."""
		from nexwave_xero_connector.adapters import FrappeDb
		from nexwave_xero_connector.api import stuck_minutes, xero_links_of
		from nexwave_xero_connector.sync.journal import stuck_names

		stuck = stuck_names(FrappeDb(), now_datetime(), stuck_minutes(), [self.name])
		self.set_onload("stuck", bool(stuck))
		self.set_onload("xero_links", xero_links_of(self))

	@staticmethod
	def clear_old_logs(days: int = 90) -> None:
		"""Log Settings' clean-up: finished rows (Synced, Voided, Skipped) older than `days` go, with
		their attempts; Queued, Failed and Orphan rows stay. A cancelled document whose row went here
		is still voided: its own Xero ID is the link (events.request_void, the orphan scan)."""
		from nexwave_xero_connector.adapters import FrappeDb
		from nexwave_xero_connector.sync.journal import clear_old_rows

		clear_old_rows(FrappeDb(), add_days(now_datetime(), -days))


def on_doctype_update():
	"""Index the drain's claim filter and keep one row per ERP document."""
	frappe.db.add_index(LOG_DOCTYPE, ["status", "tenant_id"])
	frappe.db.add_unique(LOG_DOCTYPE, ["reference_doctype", "reference_name"], "unique_reference")
