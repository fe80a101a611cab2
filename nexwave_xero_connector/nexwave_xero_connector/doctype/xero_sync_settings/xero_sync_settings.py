# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

MAX_BATCH_SIZE = 50  # Xero accepts at most 50 documents per batched create


class XeroSyncSettings(Document):
	"""Site-wide settings: what is sent, to which Xero organisation, and how ERP masters map to Xero."""

	def validate(self):
		"""Refuse settings the drain could not honour."""
		self.validate_batch_size()
		self.validate_connection()
		self.validate_tenants()
		self.validate_unique_rows("tax_mappings", ("company", "tax_template"), _("tax template"))
		self.validate_unique_rows("account_mappings", ("company", "account"), _("account"))

	def validate_batch_size(self):
		"""Batch size must be between 1 and 50."""
		if not 1 <= cint(self.batch_size) <= MAX_BATCH_SIZE:
			frappe.throw(
				_("Batch Size must be between 1 and {0}.").format(MAX_BATCH_SIZE),
				title=_("Invalid Batch Size"),
			)

	def validate_connection(self):
		"""Keep the connection fields consistent; a changed client or scope set needs a new consent."""
		from nexwave_xero_connector.constants import (
			CONNECTION_NOT_CONNECTED,
			DEFAULT_SCOPE_SET,
			OAUTH_SCOPE_SETS,
		)

		self.connection_status = self.connection_status or CONNECTION_NOT_CONNECTED
		if self.scope_set not in OAUTH_SCOPE_SETS:
			self.scope_set = DEFAULT_SCOPE_SET
		before = self.get_doc_before_save()
		if (
			before
			and self.connected_user
			and (before.client_id != self.client_id or before.scope_set != self.scope_set)
		):
			self.connection_note = _(
				"The Xero app or scopes changed: press Connect to Xero again to use them."
			)

	def validate_tenants(self):
		"""One organisation per company, and one company per organisation unless the row allows sharing."""
		companies, tenants = {}, {}
		for row in self.tenants:
			if row.company in companies:
				frappe.throw(
					_("Row {0}: company {1} is already bound to a Xero organisation in row {2}.").format(
						row.idx, frappe.bold(row.company), companies[row.company]
					)
				)
			companies[row.company] = row.idx
			tenants.setdefault((row.tenant_id or "").strip(), []).append(row)
		for tenant_id, rows in tenants.items():
			if len(rows) > 1 and not all(cint(r.allow_shared_tenant) for r in rows):
				frappe.throw(
					_(
						"Xero organisation {0} is bound to companies {1}. Check Allow Shared Organisation on "
						"those rows if they really share one Xero organisation."
					).format(frappe.bold(tenant_id), ", ".join(frappe.bold(r.company) for r in rows)),
					title=_("Xero Organisation Bound Twice"),
				)

	def validate_unique_rows(self, table: str, keys: tuple[str, ...], label: str):
		"""Refuse two rows of `table` with the same values in `keys`."""
		seen = {}
		for row in self.get(table):
			key = tuple(row.get(k) for k in keys)
			if key in seen:
				frappe.throw(
					_("Row {0} of {1}: the {2} {3} of company {4} is already mapped in row {5}.").format(
						row.idx,
						_(self.meta.get_label(table)),
						label,
						frappe.bold(key[-1]),
						frappe.bold(key[0]),
						seen[key],
					)
				)
			seen[key] = row.idx
