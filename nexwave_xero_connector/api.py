"""Whitelisted methods behind the accountant's buttons: retry, void, push, orphan scan, status.

Every method checks permission first. Managers (Accounts Manager, System Manager) may change what is
sent; Accounts User may only read. None of them commits: a request commits on POST by itself, and the
bench commands (commands.py) commit through FrappeDb. Drains are woken after that commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import frappe
from frappe import _
from frappe.utils import cint, convert_utc_to_system_timezone, flt, fmt_money, format_datetime, now_datetime

from nexwave_xero_connector import adapters, events, jobs, wiring
from nexwave_xero_connector.constants import (
	CONNECTION_BROKEN,
	DEFAULT_STUCK_AFTER_MINUTES,
	INVOICE_DOCTYPES,
	LOG_DOCTYPE,
	LOG_STATUSES,
	PAYMENT_ENTRY_DOCTYPE,
	XERO_ID_FIELD,
	XERO_PAYMENT_ID_FIELD,
	XERO_TYPES,
)
from nexwave_xero_connector.permissions import is_manager, require_manager
from nexwave_xero_connector.sync.journal import (
	STUCK_WHERE,
	confirm_void,
	release_stuck,
	requeue,
	stuck_names,
	stuck_params,
)
from nexwave_xero_connector.sync.kinds.registry import REGISTRY
from nexwave_xero_connector.sync.payment_mapping import PAYMENT, PULLED
from nexwave_xero_connector.xero.links import deep_link, payment_links

# The ERPNext doctypes some registered row kind sends or records (the forms that show a Xero status).
REGISTRY_DOCTYPES = frozenset(d for kind in REGISTRY for d in kind.doctypes)
# Fields of the log row the invoice form needs to draw its indicator and buttons.
ROW_FIELDS = ("name", "status", "error_message", "xero_id", "xero_number", "xero_type", "tenant_id")


def require_read() -> None:
	"""Raise PermissionError unless the user may read the Xero Sync Log."""
	if not frappe.has_permission(LOG_DOCTYPE, "read"):
		frappe.throw(
			_("You are not permitted to read the Xero Sync Log."),
			exc=frappe.PermissionError,
			title=_("Not permitted"),
		)


@frappe.whitelist(methods=["POST"])
def retry(names: str | list) -> dict:
	"""Put Failed rows back in the queue and release stuck Queued rows; wake their drains at once.

	Returns {"requeued": Failed rows queued again, "released": stuck rows, "unchanged": the rest}.
	"""
	require_manager()
	names = parse_names(names)
	if not names:
		return {"requeued": 0, "released": 0, "unchanged": 0}
	db = adapters.FrappeDb()
	now, minutes = now_datetime(), stuck_minutes()
	stuck = stuck_names(db, now, minutes, names)
	requeued = requeue(db, names, now)
	released = release_stuck(db, stuck, now, minutes)
	wake_rows(names)
	result = {"requeued": requeued, "released": released, "unchanged": len(names) - requeued - released}
	frappe.msgprint(
		_("Queued again: {0}. Stuck rows released: {1}. Left as they were: {2}.").format(
			result["requeued"], result["released"], result["unchanged"]
		),
		alert=True,
	)
	return result


@frappe.whitelist(methods=["POST"])
def void_in_xero(names: str | list) -> dict:
	"""Queue Orphan rows to be voided in Xero (whatever Void on Cancel says); wake their drains.

	Returns {"queued": rows queued for voiding, "unchanged": rows that were not Orphans}.
	"""
	require_manager()
	names = parse_names(names)
	queued = confirm_void(adapters.FrappeDb(), names, now_datetime()) if names else 0
	wake_rows(names)
	frappe.msgprint(
		_("Queued to be voided in Xero: {0}. Not Orphans, left as they were: {1}.").format(
			queued, len(names) - queued
		),
		alert=True,
	)
	return {"queued": queued, "unchanged": len(names) - queued}


@frappe.whitelist(methods=["POST"])
def push(doctype: str, name: str) -> dict:
	"""Queue a submitted invoice that was never sent (no row, or a Failed/Skipped one), as on submit.

	Returns the document's log row as {"name", "status"}.
	"""
	require_manager()
	if doctype == PAYMENT_ENTRY_DOCTYPE:
		return push_payment(name)
	if doctype not in INVOICE_DOCTYPES:
		frappe.throw(_("Only Sales Invoices, Purchase Invoices and Payment Entries can be pushed to Xero."))
	doc = frappe.get_doc(doctype, name)
	doc.check_permission("read")
	if doc.docstatus != 1:
		frappe.throw(_("{0} {1} must be submitted before it can be pushed to Xero.").format(_(doctype), name))
	if doc.get(XERO_ID_FIELD):
		frappe.throw(_("{0} {1} is already in Xero.").format(_(doctype), name))
	existing = events.log_name_for(doctype, name)
	status = existing and frappe.db.get_value(LOG_DOCTYPE, existing, "status")
	if status and status not in events.REQUEUE_ON_SUBMIT:
		frappe.throw(
			_("{0} {1} is already {2} in the Xero Sync Log.").format(_(doctype), name, _(status)),
			title=_("Nothing to push"),
		)
	if not adapters.scope_config().in_scope(doctype, bool(cint(doc.get("is_return")))):
		frappe.throw(
			_(
				"Xero Sync Settings do not push this kind of document (the connector is off or the type is "
				"not ticked). Nothing was queued."
			)
		)
	events.queue_push(doc)
	return frappe.db.get_value(
		LOG_DOCTYPE, {"reference_doctype": doctype, "reference_name": name}, ["name", "status"], as_dict=True
	)


def push_payment(name: str) -> dict:
	"""Queue a submitted Payment Entry's Xero payments (no row yet, or a Failed/Skipped one)."""
	doc = frappe.get_doc(PAYMENT_ENTRY_DOCTYPE, name)
	doc.check_permission("read")
	if doc.docstatus != 1:
		frappe.throw(_("Payment Entry {0} must be submitted before it can be pushed to Xero.").format(name))
	existing = events.log_name_for(PAYMENT_ENTRY_DOCTYPE, name)
	status = existing and frappe.db.get_value(LOG_DOCTYPE, existing, "status")
	if status and status not in events.REQUEUE_ON_SUBMIT:
		frappe.throw(
			_("Payment Entry {0} is already {1} in the Xero Sync Log.").format(name, _(status)),
			title=_("Nothing to push"),
		)
	if not adapters.load_config().pushes_payments(doc.company):
		frappe.throw(
			_(
				"Xero Sync Settings do not push the payments of {0} (the connector is off, or Xero owns that "
				"company's payments). Nothing was queued."
			).format(doc.company)
		)
	events.queue_payment(doc)
	return frappe.db.get_value(
		LOG_DOCTYPE,
		{"reference_doctype": PAYMENT_ENTRY_DOCTYPE, "reference_name": name},
		["name", "status"],
		as_dict=True,
	)


@frappe.whitelist(methods=["POST"])
def scan_orphans() -> list[dict]:
	"""Flag Synced rows whose document was cancelled without our hook; wake their drains.

	Returns the flagged documents as [{"doctype", "name"}].
	"""
	require_manager()
	return jobs.flag_orphans()


@frappe.whitelist()
def status_summary() -> dict:
	"""Count the log's rows by status, plus "Stuck" (Queued rows unmoved for the threshold) and "Total"."""
	require_read()
	counts = dict.fromkeys(LOG_STATUSES, 0)
	for row in frappe.get_all(
		LOG_DOCTYPE, fields=["status", "count(name) as count"], group_by="status", order_by="status asc"
	):
		counts[row.status] = cint(row.count)
	counts["Stuck"] = count_stuck()
	counts["Total"] = sum(counts[s] for s in LOG_STATUSES)
	return counts


def stuck_minutes() -> int:
	"""Xero Sync Settings' threshold after which an unmoved Queued row counts as stuck."""
	return cint(adapters.get_settings().stuck_after_minutes) or DEFAULT_STUCK_AFTER_MINUTES


def count_stuck() -> int:
	"""How many rows are stuck now: derived from time where it is read, so it needs no job to run."""
	rows = adapters.FrappeDb().query(
		f"SELECT COUNT(*) AS n FROM `tab{LOG_DOCTYPE}` WHERE {STUCK_WHERE}",
		stuck_params(now_datetime(), stuck_minutes()),
	)
	return cint(rows[0]["n"]) if rows else 0


@frappe.whitelist()
def stuck_count(filters=None) -> dict:
	"""The workspace's Stuck number card (a Custom card): the count, and a click opens the old Queued rows."""
	require_read()
	before = stuck_params(now_datetime(), stuck_minutes())["before"]
	return {
		"value": count_stuck(),
		"fieldtype": "Int",
		"route": ["List", LOG_DOCTYPE],
		"route_options": {"status": "Queued", "modified": ["<", str(before)]},
	}


@frappe.whitelist()
def stuck_rows(names: str | list) -> list[str]:
	"""Which of these log rows are stuck now (the log list draws them red)."""
	require_read()
	names = parse_names(names)
	return stuck_names(adapters.FrappeDb(), now_datetime(), stuck_minutes(), names) if names else []


@frappe.whitelist()
def connection_alerts() -> list[dict]:
	"""What stops pushes right now, in words: a broken connection, an organisation out of calls.

	Shown as a banner on the workspace, the log list and the settings form."""
	require_read()
	settings = adapters.get_settings()
	alerts = []
	if settings.get("connection_status") == CONNECTION_BROKEN:
		reason = (settings.get("connection_note") or "").strip() or _("Xero refused the saved login.")
		alerts.append(
			{
				"colour": "red",
				"message": _(
					"Reconnect to Xero: {0} Nothing is lost: documents wait in the queue and go out once "
					"someone presses Connect to Xero in Xero Sync Settings."
				).format(reason if reason.endswith((".", "!", "?")) else reason + "."),
			}
		)
	governor = wiring.make_governor(settings)
	for row in settings.tenants:
		until = row.tenant_id and governor.paused_until(row.tenant_id)
		if until:
			alerts.append(
				{
					"colour": "orange",
					"message": _(
						"Xero's call limit for {0} is used up: sending to it resumes at {1}. Documents wait "
						"in the queue."
					).format(
						row.tenant_name or row.company,
						format_datetime(
							convert_utc_to_system_timezone(datetime.fromtimestamp(until, timezone.utc))
						),
					),
				}
			)
	return alerts


@frappe.whitelist()
def sync_status(doctype: str, name: str) -> dict:
	"""What the invoice (or Payment Entry) form shows: its log row (or None), its "View in Xero" links
	(one per Xero payment of a Payment Entry; `xero_url` is the first) and whether the user may act."""
	if doctype not in REGISTRY_DOCTYPES:
		frappe.throw(
			_("Only Sales Invoices, Purchase Invoices, Payment Entries and Journal Entries go to Xero.")
		)
	frappe.has_permission(doctype, "read", name, throw=True)
	row = frappe.db.get_value(
		LOG_DOCTYPE, {"reference_doctype": doctype, "reference_name": name}, ROW_FIELDS, as_dict=True
	)
	if row:
		row.stuck = bool(stuck_names(adapters.FrappeDb(), now_datetime(), stuck_minutes(), [row.name]))
		links = xero_links_of(row)
	else:
		links = _view_in_xero(_url_without_row(doctype, name))
	return {
		"row": row,
		"xero_url": links[0]["url"] if links else None,
		"xero_links": links,
		"can_manage": is_manager(),
	}


@frappe.whitelist()
def xero_url(name: str) -> str | None:
	"""The "View in Xero" link of a Xero Sync Log row (a Payment Entry's: its first live payment), or None
	while it has none."""
	frappe.has_permission(LOG_DOCTYPE, "read", name, throw=True)
	row = frappe.db.get_value(LOG_DOCTYPE, name, ["name", "tenant_id", "xero_type", "xero_id"], as_dict=True)
	links = xero_links_of(row) if row else []
	return links[0]["url"] if links else None


def _url_without_row(doctype: str, name: str) -> str | None:
	"""The document's Xero page once Log Settings cleared its row: an invoice keeps its Xero ID, a Payment
	Entry made from a payment recorded in Xero keeps that payment's ID; a pushed entry keeps none."""
	if doctype not in (*INVOICE_DOCTYPES, PAYMENT_ENTRY_DOCTYPE):
		return None  # a Journal Entry keeps no Xero ID of its own: its row is the link
	if doctype == PAYMENT_ENTRY_DOCTYPE:
		doc = frappe.db.get_value(doctype, name, ["company", XERO_PAYMENT_ID_FIELD], as_dict=True) or {}
		xero_type, xero_id = PULLED, doc.get(XERO_PAYMENT_ID_FIELD)
	else:
		doc = frappe.db.get_value(doctype, name, ["company", "is_return", XERO_ID_FIELD], as_dict=True) or {}
		xero_type, xero_id = XERO_TYPES[(doctype, bool(cint(doc.get("is_return"))))], doc.get(XERO_ID_FIELD)
	if not xero_id:
		return None
	return xero_url_for(adapters.scope_config().tenant_for(doc.company), xero_type, xero_id)


def _view_in_xero(url: str | None) -> list[dict]:
	"""The one "View in Xero" button of a document with a single Xero page (none without a link)."""
	return [{"label": _("View in Xero"), "url": url}] if url else []


def xero_links_of(row) -> list[dict]:
	"""The "View in Xero" buttons of a log row as [{"label", "url"}]: one for an invoice or credit note,
	one per payment still live in Xero for a Payment Entry (the drain records them in the row's response).
	`row` needs name, tenant_id, xero_type and xero_id. The caller has checked read permission."""
	short_code = short_code_of(row.tenant_id)
	if row.xero_type != PAYMENT:
		return _view_in_xero(deep_link(short_code, row.xero_type, row.xero_id))
	response = frappe.db.get_value(LOG_DOCTYPE, row.name, "response")
	found = payment_links(short_code, response, row.xero_id)
	if len(found) == 1:
		return _view_in_xero(found[0].url)
	links = []
	for payment in found:
		label = payment_label(payment)
		if any(link["label"] == label for link in links):  # the desk keeps one button per label
			label = _("View in Xero: payment {0}").format(payment.payment_id)
		links.append({"label": label, "url": payment.url})
	return links


def payment_label(link) -> str:
	"""The button of one of several payments: how much it pays on which invoice, in that invoice's
	currency."""
	if link.against and link.amount:
		amount = fmt_money(flt(link.amount), currency=invoice_currency(link.against))
		return _("View in Xero: payment of {0} on {1}").format(amount, link.against)
	return _("View in Xero: payment {0}").format(link.payment_id)


def invoice_currency(name: str) -> str | None:
	"""The currency of the Sales or Purchase Invoice called `name` (None when there is none)."""
	for doctype in INVOICE_DOCTYPES:
		if currency := frappe.db.get_value(doctype, name, "currency"):
			return currency
	return None


def xero_url_for(tenant_id: str | None, xero_type: str | None, xero_id: str | None) -> str | None:
	"""Deep link to the document in Xero's web app, through the organisation's short code when known."""
	return deep_link(short_code_of(tenant_id), xero_type, xero_id)


def short_code_of(tenant_id: str | None) -> str | None:
	"""The Xero organisation short code stored on the Xero Tenant Map row of the tenant."""
	if not tenant_id:
		return None
	settings = adapters.get_settings()
	return next((r.short_code for r in settings.tenants if r.tenant_id == tenant_id and r.short_code), None)


def parse_names(names: str | Sequence[str] | None) -> list[str]:
	"""Row names from a list or a JSON string (what listview.call_for_selected_items posts)."""
	if isinstance(names, str):
		names = frappe.parse_json(names) if names.strip().startswith("[") else [names]
	return [n for n in dict.fromkeys(names or ()) if n]


def wake_rows(names: Sequence[str]) -> None:
	"""Wake (after commit) the drain of every tenant with a Queued row among `names`."""
	if not names:
		return
	jobs.wake_tenants(
		frappe.get_all(
			LOG_DOCTYPE,
			filters={"name": ("in", list(names)), "status": "Queued", "tenant_id": ("is", "set")},
			pluck="tenant_id",
			distinct=True,
		)
	)
