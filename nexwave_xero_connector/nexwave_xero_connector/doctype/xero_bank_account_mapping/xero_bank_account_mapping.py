# Copyright (c) 2026, NexWave and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class XeroBankAccountMapping(Document):
	"""A row of Xero Bank Account Mapping: where a company's Payment Entries land in Xero."""
