# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroTenantMap(Document):
	"""A row of Xero Tenant Map; validated by its parent."""
