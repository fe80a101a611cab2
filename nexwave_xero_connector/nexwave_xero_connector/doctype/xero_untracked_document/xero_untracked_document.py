# Copyright (c) 2026, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroUntrackedDocument(Document):
	"""A Xero document the connector created that no Xero Sync Log row points to.

	Written by the reconciliation run with each background read (reconcile_job.py); the form is read-only
	and managers act on it with Void in Xero or Ignore.
	"""
