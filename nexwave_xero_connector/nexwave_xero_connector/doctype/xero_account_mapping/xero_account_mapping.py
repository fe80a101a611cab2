# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroAccountMapping(Document):
	"""A row of Xero Account Mapping; validated by its parent."""
