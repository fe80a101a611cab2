# Copyright (c) 2026, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroBackfillRun(Document):
	"""One backfill of a company's older documents, started from Xero Sync Settings or the bench command.

	Written by nexwave_xero_connector/backfill_job.py; the form is read-only, with Stop and Resume.
	"""
