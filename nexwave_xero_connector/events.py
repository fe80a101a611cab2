"""Doc events on Sales/Purchase Invoice: queue the push on submit, flag the void on cancel.

Both run inside the submit's/cancel's own transaction: they write the outbox row and register an
after-commit wake-up for the tenant's drain. They never call Xero and never commit, so a submit that
rolls back leaves no row and wakes nobody.
"""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import (
	DRAIN_JOB,
	DRAIN_JOB_ID_PREFIX,
	DRAIN_QUEUE,
	LOG_DOCTYPE,
	XERO_TYPES,
)
from nexwave_xero_connector.sync.journal import request_cancel, requeue

# A row in these statuses is put back in the queue when its document is submitted again.
REQUEUE_ON_SUBMIT = ("Failed", "Skipped")


def queue_push(doc, method=None):
	"""on_submit: write the Queued row for an in-scope invoice and wake its tenant's drain after commit."""
	config = adapters.load_config()
	is_return = bool(cint(doc.get("is_return")))
	if not config.in_scope(doc.doctype, is_return):
		return
	tenant_id = config.tenant_for(doc.company)
	if not tenant_id:
		record_skipped(doc, is_return)
		return
	existing = log_name_for(doc.doctype, doc.name)
	if existing:
		requeue_existing(existing, doc, tenant_id)
	else:
		insert_log(
			doc,
			is_return,
			status="Queued",
			tenant_id=tenant_id,
			title=_("{0} queued for Xero").format(doc.name),
		)
	enqueue_drain(tenant_id)


def request_void(doc, method=None):
	"""on_cancel: flag the document's row so the drain voids it in Xero (or skips it if never sent)."""
	if not request_cancel(adapters.FrappeDb(), doc.doctype, doc.name, now_datetime()):
		return
	tenant_id = frappe.db.get_value(
		LOG_DOCTYPE, {"reference_doctype": doc.doctype, "reference_name": doc.name}, "tenant_id"
	)
	if tenant_id:
		enqueue_drain(tenant_id)


def enqueue_drain(tenant_id: str, *, after_commit: bool = True) -> None:
	"""Wake the tenant's drain (at most one queued or running per tenant); the row is the truth."""
	frappe.enqueue(
		DRAIN_JOB,
		queue=DRAIN_QUEUE,
		job_id=f"{DRAIN_JOB_ID_PREFIX}{tenant_id}",
		deduplicate=True,
		enqueue_after_commit=after_commit,
		tenant_id=tenant_id,
	)


def log_name_for(doctype: str, name: str) -> str | None:
	"""The Xero Sync Log row of an ERP document, if any (there is at most one)."""
	return frappe.db.get_value(LOG_DOCTYPE, {"reference_doctype": doctype, "reference_name": name}, "name")


def record_skipped(doc, is_return: bool) -> None:
	"""Leave a Skipped row saying why nothing was sent (the company has no Xero organisation)."""
	if log_name_for(doc.doctype, doc.name):
		return
	insert_log(
		doc,
		is_return,
		status="Skipped",
		tenant_id="",
		title=_("{0} skipped: no Xero organisation").format(doc.name),
		error_message=_(
			"Company {0} has no Xero organisation. Bind one in Xero Sync Settings; nothing was sent."
		).format(doc.company),
	)


def insert_log(doc, is_return: bool, *, status: str, tenant_id: str, title: str, error_message=None):
	"""Insert the document's Xero Sync Log row (in the caller's transaction)."""
	return frappe.get_doc(
		{
			"doctype": LOG_DOCTYPE,
			"title": title,
			"status": status,
			"reference_doctype": doc.doctype,
			"reference_name": doc.name,
			"company": doc.company,
			"tenant_id": tenant_id,
			"xero_type": XERO_TYPES[(doc.doctype, is_return)],
			"queued_by": frappe.session.user,
			"error_message": error_message,
		}
	).insert(ignore_permissions=True)


def requeue_existing(name: str, doc, tenant_id: str) -> None:
	"""Point an existing Failed/Skipped row at the tenant and put it back in the queue."""
	frappe.db.set_value(
		LOG_DOCTYPE,
		name,
		{"tenant_id": tenant_id, "company": doc.company, "queued_by": frappe.session.user},
		update_modified=False,
	)
	requeue(adapters.FrappeDb(), [name], now_datetime(), from_statuses=REQUEUE_ON_SUBMIT)


def queue_payment(doc, method=None):
	"""on_submit of a Payment Entry: queue its Xero payments when the company's payments are ERPNext's.

	Only Receive/Pay entries of a Customer or Supplier; one whose references are all out of scope
	(Journal Entries, advances) still gets a row, which the drain ends Skipped with the reason."""
	if doc.payment_type not in ("Receive", "Pay") or doc.party_type not in ("Customer", "Supplier"):
		return
	config = adapters.load_config()
	tenant_id = config.tenant_for(doc.company)
	if not tenant_id or not config.pushes_payments(doc.company):
		return
	existing = log_name_for(doc.doctype, doc.name)
	if existing:
		requeue_existing(existing, doc, tenant_id)
	else:
		insert_log(
			doc, False, status="Queued", tenant_id=tenant_id, title=_("{0} queued for Xero").format(doc.name)
		)
	enqueue_drain(tenant_id)
