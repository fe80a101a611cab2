"""Doc events on invoices and Payment Entries: queue the push on submit, the void on cancel, detach on
delete.

All run inside the document's own transaction: they write the outbox row with one lean statement and
register an after-commit wake-up for the tenant's drain. They never call Xero and never commit, so a
submit that rolls back leaves no row and wakes nobody.
"""

from __future__ import annotations

import functools
import uuid

import frappe
from frappe import _
from frappe.utils import cint, now_datetime
from redis.exceptions import RedisError

from nexwave_xero_connector.adapters import FrappeDb, scope_config
from nexwave_xero_connector.constants import (
	DRAIN_JOB,
	DRAIN_JOB_ID_PREFIX,
	DRAIN_JOB_KEY,
	DRAIN_QUEUE,
	LOG_DOCTYPE,
	XERO_ID_FIELD,
	XERO_STATUS_FIELD,
	XERO_TYPES,
)
from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO
from nexwave_xero_connector.sync.journal import (
	detach_deleted,
	insert_row,
	queue_void_of_cleared,
	request_cancel,
	requeue_on_submit,
)
from nexwave_xero_connector.sync.manual_journal_mapping import JOURNAL_ENTRY, MANUAL_JOURNAL, marker_identity
from nexwave_xero_connector.sync.model import Status
from nexwave_xero_connector.sync.payment_mapping import PAYMENT, PAYMENT_ENTRY
from nexwave_xero_connector.sync.states import Actor, sources

# A row in these statuses is put back in the queue when its document is submitted (or pushed) again.
REQUEUE_ON_SUBMIT = sources(Actor.SUBMIT, Status.QUEUED)
# Xero statuses of a document that no longer counts there: nothing to void after a cancel or delete.
GONE_IN_XERO = ("VOIDED", "DELETED")
# A pending wake-up (a drain job waiting in the queue, or a drain holding for its batch to fill) is
# trusted for this long: a job taken by a worker that died before starting it frees the key then.
WAKE_TTL_SECONDS = 120


def queue_push(doc, method=None):
	"""on_submit: write the Queued row for an in-scope invoice and wake its tenant's drain after commit."""
	config = scope_config()
	is_return = bool(cint(doc.get("is_return")))
	if not config.in_scope(doc.doctype, is_return):
		return
	db = FrappeDb()
	tenant_id = config.tenant_for(doc.company)
	existing = log_name_for(doc.doctype, doc.name)
	xero_type = XERO_TYPES[(doc.doctype, is_return)]
	if not tenant_id:
		if not existing:
			record_skipped(
				db,
				doc,
				xero_type,
				_("{0} skipped: no Xero organisation").format(doc.name),
				_(
					"Company {0} has no Xero organisation. Bind one in Xero Sync Settings; nothing was sent."
				).format(doc.company),
			)
		return
	if config.before_go_live(doc.company, doc.get("posting_date")):
		if not existing:
			record_skipped(
				db,
				doc,
				xero_type,
				_("{0} skipped: posted before the go-live date").format(doc.name),
				_(
					"{0} is posted before the go-live date of company {1} ({2}); nothing was sent. Use Backfill "
					"in Xero Sync Settings to adopt or create it in Xero."
				).format(doc.name, doc.company, config.go_live_for(doc.company)),
			)
		return
	queue_row(db, doc, existing, tenant_id, xero_type)


def request_void(doc, method=None):
	"""on_cancel: flag the document's row so the drain voids it in Xero (or skips it if never sent).

	Without a row (Log Settings cleared it) the document's own Xero ID is the link: a row is queued to
	void that copy."""
	if request_cancel(FrappeDb(), doc.doctype, doc.name, now_datetime()):
		wake_queued(
			frappe.get_all(
				LOG_DOCTYPE, {"reference_doctype": doc.doctype, "reference_name": doc.name}, pluck="name"
			)
		)
		return
	settle_untracked(doc, deleted=False)


def detach_on_delete(doc, method=None):
	"""on_trash (before Frappe's link checks): the row lets go of the name so the delete goes through
	and a document reusing the name gets a row of its own; what may be live in Xero is settled like a
	cancel."""
	db = FrappeDb()
	now = now_datetime()
	rows = frappe.get_all(
		LOG_DOCTYPE, {"reference_doctype": doc.doctype, "reference_name": doc.name}, pluck="name"
	)
	if rows and detach_deleted(db, doc.doctype, doc.name, now):
		wake_queued(rows)
		return
	settle_untracked(doc, deleted=True)


def settle_untracked(doc, *, deleted: bool) -> None:
	"""A cancelled or deleted document with no row that may have left something live in Xero: queue a
	row that undoes it. An invoice: the copy its Xero ID names is voided. A Payment Entry whose company's
	payments ERPNext pushes: its payments, found by the entry's name (their Reference), are deleted; not a
	draft, and not an entry made from a Xero payment (the pull owns those). A Journal Entry of a company
	that sends them: its journal, found by our Url marker and date, is voided."""
	config = scope_config()
	identity = None
	if doc.doctype == PAYMENT_ENTRY:
		pushed = doc.payment_type in ("Receive", "Pay") and config.pushes_payments(doc.company)
		if doc.docstatus == 0 or doc.get("xero_payment_id") or not pushed:
			return
		xero_type, xero_id, xero_status = PAYMENT, None, None
	elif doc.doctype == JOURNAL_ENTRY:
		# keeps no Xero ID: its journal, if one was sent, is found by our marker and its date
		if doc.docstatus == 0 or not config.sends_journal_entries(doc.company):
			return
		xero_type, xero_id, xero_status = MANUAL_JOURNAL, None, None
		identity = marker_identity(frappe.utils.get_url(), doc.name, doc.posting_date)
	else:
		xero_id = doc.get(XERO_ID_FIELD)
		if not xero_id or (doc.get(XERO_STATUS_FIELD) or "").upper() in GONE_IN_XERO:
			return
		xero_type = XERO_TYPES[(doc.doctype, bool(cint(doc.get("is_return"))))]
		xero_status = doc.get(XERO_STATUS_FIELD) or None
	if not deleted and log_name_for(doc.doctype, doc.name):
		return  # a row exists (Voided or Skipped): nothing left to settle
	tenant_id = config.tenant_for(doc.company)
	if not tenant_id:
		return
	queue_void_of_cleared(
		FrappeDb(),
		doctype=doc.doctype,
		name=doc.name,
		company=doc.company,
		tenant_id=tenant_id,
		xero_type=xero_type,
		xero_id=xero_id,
		xero_status=xero_status,
		now=now_datetime(),
		deleted=deleted,
		identity=identity,
	)
	enqueue_drain(tenant_id)


def wake_queued(names: list[str]) -> None:
	"""Wake (after commit) the drain of every tenant with a Queued row among `names`."""
	if not names:
		return
	for tenant_id in frappe.get_all(
		LOG_DOCTYPE,
		filters={"name": ("in", names), "status": "Queued", "tenant_id": ("is", "set")},
		pluck="tenant_id",
		distinct=True,
	):
		enqueue_drain(tenant_id)


def record_skipped(db: FrappeDb, doc, xero_type: str, title: str, message: str) -> None:
	"""Leave a Skipped row saying why nothing was sent (one lean insert, in the submit's transaction)."""
	insert_row(
		db,
		doctype=doc.doctype,
		name=doc.name,
		company=doc.company,
		tenant_id="",
		xero_type=xero_type,
		now=now_datetime(),
		status=Status.SKIPPED,
		title=title,
		user=frappe.session.user,
		message=message,
	)


def queue_row(db: FrappeDb, doc, existing: str | None, tenant_id: str, xero_type: str) -> None:
	"""Queue a submitted document: a new outbox row, or its Failed/Skipped row back in the queue (a retry,
	or a name reused after a delete) with no earlier cancel standing; wake the drain after commit."""
	if existing:
		requeue_on_submit(
			db,
			existing,
			tenant_id=tenant_id,
			company=doc.company,
			user=frappe.session.user,
			now=now_datetime(),
		)
	else:
		insert_row(
			db,
			doctype=doc.doctype,
			name=doc.name,
			company=doc.company,
			tenant_id=tenant_id,
			xero_type=xero_type,
			now=now_datetime(),
			title=_("{0} queued for Xero").format(doc.name),
			user=frappe.session.user,
		)
	enqueue_drain(tenant_id)


def log_name_for(doctype: str, name: str) -> str | None:
	"""The Xero Sync Log row of an ERP document, if any (there is at most one)."""
	return frappe.db.get_value(LOG_DOCTYPE, {"reference_doctype": doctype, "reference_name": name}, "name")


# ---- waking a tenant's drain ----------------------------------------------------------------------


def enqueue_drain(tenant_id: str, *, after_commit: bool = True) -> None:
	"""Wake the tenant's drain; with `after_commit`, only once the caller's transaction commits (a
	rollback drops the wake-up) and the decision is taken then, against the queue as it is at that time.
	"""
	if after_commit:
		frappe.db.after_commit.add(functools.partial(wake_drain, tenant_id))
	else:
		wake_drain(tenant_id)


def wake_drain(tenant_id: str) -> str | None:
	"""Enqueue a drain for the tenant unless a wake-up is already pending; return the new job's id, or None
	when suppressed.

	One Redis SET NX decides (a submit pays one round trip when a drain is already coming): the wake key
	exists while a drain job waits in the queue or a drain holds for its batch to fill, and either sees the
	new row. The drain deletes the key when it starts, so a row queued after that wakes another; a job lost
	with a killed worker frees the key after WAKE_TTL_SECONDS, and the minute sweep wakes the tenant then.
	Never deduplicated by RQ's job id: Frappe's `deduplicate` counts a `started` job as present. The row
	leases make two drains of one tenant safe."""
	job_id = f"{DRAIN_JOB_ID_PREFIX}{tenant_id}::{uuid.uuid4().hex[:12]}"
	key = wake_key(tenant_id)
	try:
		if not frappe.cache.set(key, job_id, nx=True, ex=WAKE_TTL_SECONDS):
			return None
		frappe.enqueue(DRAIN_JOB, queue=DRAIN_QUEUE, job_id=job_id, tenant_id=tenant_id)
	except RedisError:
		# The submit has committed; its row waits Queued and the minute sweep wakes the tenant once Redis
		# answers again. Saying "failed" to the user now would be wrong.
		frappe.logger("nexwave_xero_connector").warning(f"xero: drain wake-up of {tenant_id} deferred")
		forget_wake(tenant_id)
		return None
	return job_id


def wake_key(tenant_id: str) -> str:
	return frappe.cache.make_key(f"{DRAIN_JOB_KEY}:{tenant_id}")


def forget_wake(tenant_id: str) -> None:
	"""No drain of the tenant is pending any more (a drain starts or ends): the next row wakes one."""
	try:
		frappe.cache.delete(wake_key(tenant_id))
	except RedisError:
		pass  # gone with Redis anyway


def queue_payment(doc, method=None):
	"""on_submit of a Payment Entry: queue its Xero payments when the company's payments are ERPNext's;
	one made by hand where Xero owns them is never sent and says so (warn_not_sent).

	Only Receive/Pay entries of a Customer or Supplier; one whose references are all out of scope
	(Journal Entries, advances) still gets a row, which the drain ends Skipped with the reason."""
	if doc.payment_type not in ("Receive", "Pay") or doc.party_type not in ("Customer", "Supplier"):
		return
	config = scope_config()
	tenant_id = config.tenant_for(doc.company)
	if (
		tenant_id
		and config.payments_owner(doc.company) == PAYMENTS_IN_XERO
		and not doc.get("xero_payment_id")
	):
		warn_not_sent(doc)
		return
	if not tenant_id or not config.pushes_payments(doc.company):
		return
	queue_row(FrappeDb(), doc, log_name_for(doc.doctype, doc.name), tenant_id, PAYMENT)


def warn_not_sent(doc) -> None:
	"""A Payment Entry made by hand in a company whose payments Xero owns: never sent (Xero's payments come
	back as entries of their own, so this one may count money twice). Say so on the entry and in the log."""
	message = _(
		"{0} was not sent to Xero: Xero owns the payments of {1}, so they are recorded in Xero and come back "
		"here as Payment Entries. If this money is also recorded in Xero, ERPNext now counts it twice: cancel "
		"{0}. Otherwise cancel it and record the payment in Xero instead; it then comes back as its own entry."
	).format(doc.name, doc.company)
	if not log_name_for(doc.doctype, doc.name):
		record_skipped(
			FrappeDb(), doc, PAYMENT, _("{0} not sent: Xero owns these payments").format(doc.name), message
		)
	frappe.msgprint(message, title=_("Not sent to Xero"), indicator="orange")
