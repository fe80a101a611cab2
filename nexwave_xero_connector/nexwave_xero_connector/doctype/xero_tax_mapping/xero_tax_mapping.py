# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroTaxMapping(Document):
	"""A row of Xero Tax Mapping; validated by its parent."""
