# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroTrackingMapping(Document):
	"""A row of Xero Tracking Mapping; validated by its parent."""
