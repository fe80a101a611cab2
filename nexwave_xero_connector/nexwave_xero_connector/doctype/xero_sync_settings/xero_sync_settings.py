# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO

MAX_BATCH_SIZE = 50  # Xero accepts at most 50 documents per batched create
# The "Documents to Send" boxes
DOCUMENT_FIELDS = (
	"sync_sales_invoices",
	"sync_sales_returns",
	"sync_purchase_invoices",
	"sync_purchase_returns",
)


class XeroSyncSettings(Document):
	"""Site-wide settings: what is sent, to which Xero organisation, and how ERP masters map to Xero."""

	def validate(self):
		"""Refuse settings the drain could not honour."""
		self.validate_batch_size()
		self.validate_connection()
		self.validate_tenants()
		# ERPNext names templates per doctype (a stock NZ company has three "New Zealand - KTL"), so a
		# mapping is one template of one doctype; the same name under another doctype is another mapping.
		self.validate_unique_rows(
			"tax_mappings", ("company", "template_type", "tax_template"), label_field="template_type"
		)
		self.validate_unique_rows("account_mappings", ("company", "account"), label=_("account"))
		self.warn_if_nothing_is_sent()

	def validate_batch_size(self):
		"""Batch size must be between 1 and 50."""
		if not 1 <= cint(self.batch_size) <= MAX_BATCH_SIZE:
			frappe.throw(
				_("Batch Size must be between 1 and {0}.").format(MAX_BATCH_SIZE),
				title=_("Invalid Batch Size"),
			)

	def warn_if_nothing_is_sent(self):
		"""Enabled with none of the Documents to Send ticked sends nothing, ever: say so (it may be meant)."""
		if cint(self.enabled) and not any(cint(self.get(field)) for field in DOCUMENT_FIELDS):
			frappe.msgprint(
				_(
					"The connector is enabled, but none of the Documents to Send is ticked: nothing will be "
					"sent to Xero. Tick the documents to send."
				),
				title=_("Nothing Will Be Sent"),
				indicator="orange",
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
			if row.payments_owned_by != PAYMENTS_IN_XERO:
				row.pull_payments = (
					0  # only Xero-owned payments are copied here (the box is hidden otherwise)
				)
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

	def validate_unique_rows(
		self, table: str, keys: tuple[str, ...], label: str = "", label_field: str | None = None
	):
		"""Refuse two rows of `table` with the same values in `keys` (named by `label` or the row's field)."""
		seen = {}
		for row in self.get(table):
			key = tuple(row.get(k) for k in keys)
			if key in seen:
				frappe.throw(
					_("Row {0} of {1}: the {2} {3} of company {4} is already mapped in row {5}.").format(
						row.idx,
						_(self.meta.get_label(table)),
						_(row.get(label_field)) if label_field else label,
						frappe.bold(key[-1]),
						frappe.bold(key[0]),
						seen[key],
					)
				)
			seen[key] = row.idx


def tax_mapping_proposals(settings, companies: set[str], tax_rates: list[dict]) -> list[dict]:
	"""Every enabled tax template of `companies` with the Xero tax types that fit it (for Load from Xero).

	`tax_rates` are the organisation's TaxRates as Load from Xero lists them (tax_type, name, rate, status,
	revenue, expenses). A sales template is offered the active types Xero allows on revenue at its rate, a
	purchase template those allowed on expenses; `proposed` is set only when exactly one fits (see
	sync.tax.propose_tax_type), and never for an Item Tax Template.
	"""
	from decimal import Decimal

	from nexwave_xero_connector.sync.config import TEMPLATE_DOCTYPES
	from nexwave_xero_connector.sync.tax import XeroTaxRate, propose_tax_type, tax_type_choices, template_rate

	rates = [
		XeroTaxRate(
			tax_type=t["tax_type"],
			name=t.get("name") or "",
			rate=Decimal(str(t.get("rate") or 0)),
			active=t.get("status") == "ACTIVE",
			revenue=bool(t.get("revenue")),
			expenses=bool(t.get("expenses")),
		)
		for t in tax_rates
		if t.get("tax_type")
	]
	mapped = {(r.company, r.template_type, r.tax_template): r.xero_tax_type for r in settings.tax_mappings}
	proposals = []
	for doctype in TEMPLATE_DOCTYPES:
		names = frappe.get_all(
			doctype,
			filters={"company": ("in", sorted(companies)), "disabled": 0},
			fields=["name", "company"],
			order_by="name asc",
		)
		for template in names:
			rows = [row.as_dict() for row in frappe.get_doc(doctype, template.name).taxes]
			rate = template_rate(doctype, rows)
			choices = tax_type_choices(doctype, rate, rates) if rate is not None else []
			proposals.append(
				{
					"company": template.company,
					"template_type": doctype,
					"tax_template": template.name,
					"rate": float(rate) if rate is not None else None,
					"mapped": mapped.get((template.company, doctype, template.name)),
					"choices": choices,
					"proposed": propose_tax_type(doctype, rate, rates) if rate is not None else None,
				}
			)
	return proposals
