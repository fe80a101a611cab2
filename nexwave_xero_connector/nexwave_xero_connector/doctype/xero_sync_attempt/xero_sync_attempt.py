# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroSyncAttempt(Document):
	"""One attempt on a Xero Sync Log row, appended by the journal (sync/journal.py)."""
