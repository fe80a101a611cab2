# Copyright (c) 2026, NexWave and contributors
# For license information, please see license.txt
"""ERPNext vs Xero: for a company and a period, per kind the count and total on each side, and every
difference with links to both sides and the desk's fix. The comparison is sync/month_end.py's.

Xero is read only when the "Read Xero" filter is ticked: until then the report shows the ERPNext side
and says how many calls reading Xero will spend (two paged listings of 1000 documents a page, through
the rate governor like every call)."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import cint, getdate

from nexwave_xero_connector import adapters, wiring
from nexwave_xero_connector.api import xero_url_for
from nexwave_xero_connector.backfill_job import FIELDS
from nexwave_xero_connector.constants import LOG_DOCTYPE, XERO_ID_FIELD
from nexwave_xero_connector.permissions import require_manager
from nexwave_xero_connector.sync.backfill import candidate_of
from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.reconciliation_report import ErpDocument, compare, estimate_calls

KIND_LABELS = {
	Kind.SALES_INVOICE: "Sales Invoice",
	Kind.SALES_CREDIT: "Sales Credit Note",
	Kind.BILL: "Bill",
	Kind.BILL_CREDIT: "Supplier Credit Note",
}
SUMMARY = "Figures"


def execute(filters=None):
	filters = frappe._dict(filters or {})
	company, date_from, date_to = filters.company, getdate(filters.from_date), getdate(filters.to_date)
	erp = erp_documents(company, date_from, date_to, adapters.load_config().before_go_live)
	calls = estimate_calls(erp_counts(erp))
	if not cint(filters.read_xero):
		message = _(
			"Showing ERPNext only. Reading Xero for this period will spend about {0} API calls; tick Read Xero "
			"to compare."
		).format(calls)
		return columns(), summary_rows(erp, None), message
	require_manager()
	config = adapters.load_config()
	tenant_id = config.tenant_for(company)
	if not tenant_id:
		frappe.throw(_("Company {0} has no Xero organisation.").format(company))
	xero = wiring.make_gateway().documents_dated(tenant_id, date_from, date_to)
	result = compare(erp, xero, config.site_url)
	rows = summary_rows(erp, result) + [difference_row(d, tenant_id) for d in result.differences]
	message = _("{0} differences. Xero was read with about {1} API calls.").format(
		len(result.differences), calls
	)
	return columns(), rows, message


def columns() -> list[dict]:
	return [
		{"fieldname": "category", "label": _("Category"), "fieldtype": "Data", "width": 200},
		{"fieldname": "kind", "label": _("Kind"), "fieldtype": "Data", "width": 140},
		{
			"fieldname": "reference_doctype",
			"label": _("Document Type"),
			"fieldtype": "Link",
			"options": "DocType",
			"width": 120,
		},
		{
			"fieldname": "reference_name",
			"label": _("ERPNext Document"),
			"fieldtype": "Dynamic Link",
			"options": "reference_doctype",
			"width": 170,
		},
		{"fieldname": "erp_count", "label": _("ERPNext Count"), "fieldtype": "Int", "width": 110},
		{
			"fieldname": "erp_total",
			"label": _("ERPNext Total"),
			"fieldtype": "Float",
			"precision": 2,
			"width": 130,
		},
		{"fieldname": "xero_count", "label": _("Xero Count"), "fieldtype": "Int", "width": 100},
		{
			"fieldname": "xero_total",
			"label": _("Xero Total"),
			"fieldtype": "Float",
			"precision": 2,
			"width": 130,
		},
		{"fieldname": "xero_number", "label": _("Xero Number"), "fieldtype": "Data", "width": 140},
		{"fieldname": "xero_status", "label": _("Xero Status"), "fieldtype": "Data", "width": 100},
		{
			"fieldname": "xero_link",
			"label": _("Open in Xero"),
			"fieldtype": "Data",
			"options": "URL",
			"width": 120,
		},
		{"fieldname": "fix", "label": _("Fix"), "fieldtype": "Data", "width": 110},
		{
			"fieldname": "log",
			"label": _("Xero Sync Log"),
			"fieldtype": "Link",
			"options": LOG_DOCTYPE,
			"width": 110,
		},
		{"fieldname": "detail", "label": _("Detail"), "fieldtype": "Data", "width": 400},
	]


def erp_documents(company: str, date_from, date_to, before_go_live=None) -> list[ErpDocument]:
	"""Submitted and cancelled Sales/Purchase Invoices of the company dated in the period."""
	out = []
	for doctype in (SALES_INVOICE, PURCHASE_INVOICE):
		docs = frappe.get_all(
			doctype,
			filters={
				"company": company,
				"docstatus": ("in", [1, 2]),
				"posting_date": ("between", [date_from, date_to]),
			},
			fields=[*FIELDS[doctype], "docstatus", XERO_ID_FIELD],
		)
		rows = (
			{
				r.reference_name: r
				for r in frappe.get_all(
					LOG_DOCTYPE,
					filters={"reference_doctype": doctype, "reference_name": ("in", [d.name for d in docs])},
					fields=["name", "reference_name", "status", "xero_id"],
				)
			}
			if docs
			else {}
		)
		for doc in docs:
			c = candidate_of({**doc, "doctype": doctype})
			row = rows.get(doc.name)
			out.append(
				ErpDocument(
					doctype,
					doc.name,
					c.kind,
					c.number,
					c.total,
					cint(doc.docstatus),
					(row and row.xero_id) or doc.get(XERO_ID_FIELD) or None,
					row.status if row else None,
					bool(before_go_live and before_go_live(company, doc.posting_date)),
				)
			)
	return out


def erp_counts(erp: list[ErpDocument]) -> dict[Kind, int]:
	counts: dict[Kind, int] = {}
	for doc in erp:
		counts[doc.kind] = counts.get(doc.kind, 0) + 1
	return counts


def summary_rows(erp: list[ErpDocument], result) -> list[dict]:
	rows = []
	for kind in Kind:
		submitted = [d for d in erp if d.kind == kind and d.docstatus == 1]
		row = {
			"category": SUMMARY,
			"kind": KIND_LABELS[kind],
			"erp_count": len(submitted),
			"erp_total": float(sum(d.total for d in submitted)),
		}
		if result is not None:
			figures = result.figures[kind]
			row.update(xero_count=figures.xero_count, xero_total=float(figures.xero_total))
		rows.append(row)
	return rows


def difference_row(d, tenant_id: str) -> dict:
	log = (
		frappe.db.get_value(
			LOG_DOCTYPE, {"reference_doctype": d.erp.doctype, "reference_name": d.erp.name}, "name"
		)
		if d.erp
		else None
	)
	return {
		"category": d.category,
		"kind": KIND_LABELS[d.kind],
		"reference_doctype": d.erp.doctype if d.erp else None,
		"reference_name": d.erp.name if d.erp else None,
		"erp_total": float(d.erp.total) if d.erp else None,
		"xero_total": float(d.xero.total) if d.xero and d.xero.total is not None else None,
		"xero_number": d.xero.number if d.xero else None,
		"xero_status": d.xero.status if d.xero else None,
		"xero_link": xero_url_for(tenant_id, d.kind.value, d.xero.xero_id) if d.xero else None,
		"fix": d.fix,
		"log": log,
		"detail": d.detail,
	}


@frappe.whitelist()
def estimate(company: str, from_date: str, to_date: str) -> int:
	"""How many Xero calls the comparison of this company and period will spend (a floor)."""
	require_manager()
	return estimate_calls(erp_counts(erp_documents(company, getdate(from_date), getdate(to_date))))
