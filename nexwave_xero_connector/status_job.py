"""Xero's payment status back on ERPNext: the background read (read_due, checked every minute, run when the
organisation's budget says so: sync.background), and with it the payments made in Xero for companies that
take them as Payment Entries (sync.payments_from_xero) and the untracked-copy scan (sync.untracked_scan).

Each organisation is asked what changed since its watermark (sync.status_poll): Status, AmountPaid,
AmountCredited, AmountDue and FullyPaidOnDate land on the Synced log rows and their invoices, and what was
voided or deleted there is failed with the reason (the drift scan, folded into the same listing). Each
organisation runs in its own savepoint; the scheduler commits when the job returns.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from functools import partial

import frappe
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters, budget, jobs, reconcile_job, wiring
from nexwave_xero_connector.constants import STATUS_POLL_KEY
from nexwave_xero_connector.events import enqueue_drain
from nexwave_xero_connector.sync.background import (
	HINTS,
	PAYMENTS,
	STATUS,
	ListedOnce,
	credit_notes_in_play,
	next_read_at,
	payments_needed,
	read_organisation,
)
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.sync.payments_from_xero import poll_payments
from nexwave_xero_connector.sync.status_poll import PollReport, poll_tenant, refresh_documents

SAVEPOINT = "xero_status_poll_tenant"
DEFAULT_PARENT = "__default"


class DefaultWatermarks:
	"""Watermarks as DefaultValue rows: durable (a cache flush does not lose them, which would only cost
	a full listing anyway) and written in the poll's transaction, so they move only with its writes."""

	def get(self, tenant_id: str) -> datetime | None:
		value = frappe.db.get_value(
			"DefaultValue", {"parent": DEFAULT_PARENT, "defkey": _key(tenant_id)}, "defvalue"
		)
		if not value:
			return None
		stamp = datetime.fromisoformat(value)
		return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)

	def put(self, tenant_id: str, value: datetime) -> None:
		frappe.defaults.set_global_default(_key(tenant_id), value.astimezone(timezone.utc).isoformat())


def _key(tenant_id: str) -> str:
	return f"{STATUS_POLL_KEY}:{tenant_id}"


def read_due() -> None:
	"""Every minute (the scheduler): read each organisation whose next background read is due. Returns
	nothing, which `bench execute` can print; each organisation's outcome is in the log (or the Error Log)."""
	read_organisations_due()


def read_organisations_due() -> dict[str, PollReport | str]:
	"""Read each organisation whose next background read is due (sync.background: its budget, today's
	pushes, its freshness target); return each tenant's report, or when it is next due."""
	if not jobs.is_ready():
		return {}
	config = adapters.load_config()
	plan = budget.plan()
	now = datetime.now(timezone.utc)
	tenants = [t for t, _name, _companies in budget.organisations(config)]
	pushes = budget.push_calls(now.date(), tenants)
	db = adapters.FrappeDb()
	counter: Counter[str] = Counter()
	gateway = None
	results: dict[str, PollReport | str] = {}
	for tenant_id in tenants:
		record = budget.load_record(tenant_id)
		use = budget.day_use(tenant_id, record, pushes.get((tenant_id, now.date()), 0), now)
		credit_notes = credit_notes_in_play(db, tenant_id)
		listings = 2 if credit_notes else 1
		due, why = next_read_at(plan, use, record.last_at(STATUS), record.cost(listings), now)
		if due > now:
			results[tenant_id] = f"next read at {due.isoformat(timespec='seconds')}: {why}"
			continue
		gateway = gateway or wiring.make_gateway(counter=counter)
		before = counter[tenant_id]
		spent: dict[str, int] = {}
		read = partial(_read, tenant_id, gateway, config, record, credit_notes, counter, spent)
		results[tenant_id] = _guarded(tenant_id, read)
		calls = counter[tenant_id] - before
		if calls:  # a read the governor refused sent nothing: it is tried again next minute, at no cost
			budget.note_read(tenant_id, STATUS, now, calls - spent.get(PAYMENTS, 0), listings=listings)
		if spent.get(PAYMENTS) is not None:
			budget.note_read(tenant_id, PAYMENTS, now, spent[PAYMENTS])
	return results


def _read(tenant_id: str, gateway, config, record, credit_notes: bool, counter, spent) -> PollReport:
	"""One folded read: the listing serves the status write-back and drift, then the untracked-copy scan;
	the payments listing follows only when it can have changed (a document did, or a day went by)."""
	started = datetime.now(timezone.utc)
	folded = read_organisation(
		tenant_id,
		gateway=gateway,
		db=adapters.FrappeDb(),
		watermarks=DefaultWatermarks(),
		started=started,
		now=now_datetime(),
		credit_notes=credit_notes,
		scan_since=reconcile_job.scan_since(tenant_id, started),
	)
	listed = ListedOnce(gateway, folded.live, folded.since)
	jobs.guarded(
		"untracked-copy scan", lambda: reconcile_job.reconcile_tenant(tenant_id, listed, config, started)
	)
	pulls = config.tenant_pulls_payments(tenant_id)
	if payments_needed(pulls, folded.report.listed, record.last_at(PAYMENTS), started):
		before = counter[tenant_id]
		_pull_payments(tenant_id, gateway, config, folded.report, started)
		spent[PAYMENTS] = counter[tenant_id] - before
	return folded.report


def poll_statuses() -> None:
	"""`bench execute`: poll each bound organisation now, whatever its budget. Returns nothing, which `bench
	execute` can print; each organisation's outcome is in the log (or the Error Log)."""
	poll_organisations()


def poll_organisations() -> dict[str, PollReport | str]:
	"""Poll each bound organisation now, whatever its budget (the drift scan on demand); return each
	tenant's report or why it was skipped. The scheduler runs read_due instead."""
	if not jobs.is_ready():
		return {}
	gateway = wiring.make_gateway()
	config = adapters.load_config()
	results: dict[str, PollReport | str] = {}
	for tenant_id in dict.fromkeys(t.tenant_id for t in config.tenants if t.tenant_id):
		results[tenant_id] = _guarded(
			tenant_id, lambda tenant_id=tenant_id: _poll(tenant_id, gateway, config)
		)
	return results


def _poll(tenant_id: str, gateway, config) -> PollReport:
	"""Statuses back, then, where a company takes Xero's payments as Payment Entries, the payments made
	there (one more call when nothing changed); a drain is woken after commit for what was queued."""
	started = datetime.now(timezone.utc)
	report = poll_tenant(
		tenant_id,
		gateway=gateway,
		db=adapters.FrappeDb(),
		watermarks=DefaultWatermarks(),
		started=started,
		now=now_datetime(),
	)
	if config.tenant_pulls_payments(tenant_id):
		_pull_payments(tenant_id, gateway, config, report, started)
	return report


def _pull_payments(tenant_id: str, gateway, config, report: PollReport, started: datetime) -> None:
	found = poll_payments(
		tenant_id,
		reader=gateway.payments,
		db=adapters.FrappeDb(),
		watermarks=DefaultWatermarks(),
		started=started,
		now=now_datetime(),
		config=config,
	)
	report.payments_listed, report.payments_queued = found.listed, found.queued + found.undone
	if report.payments_queued:
		enqueue_drain(tenant_id)


def _guarded(tenant_id: str, run) -> PollReport | str:
	"""Run one organisation's poll in a savepoint. Out of Xero budget: skipped quietly (the watermark did
	not move, so the next poll covers the window); anything else is logged and undone."""
	frappe.db.savepoint(SAVEPOINT)
	try:
		report = run()
	except XeroError as exc:
		frappe.db.rollback(save_point=SAVEPOINT)
		if exc.error_class != ErrorClass.RATE_LIMITED:
			frappe.log_error(title=f"Xero status poll failed for {tenant_id}", message=str(exc))
		return f"{exc.error_class.value}: {exc}"
	except Exception as exc:
		frappe.db.rollback(save_point=SAVEPOINT)
		frappe.log_error(title=f"Xero status poll failed for {tenant_id}")
		return f"{type(exc).__name__}: {exc}"
	frappe.logger("nexwave_xero_connector").info(
		f"xero status poll {tenant_id}: listed={report.listed} fetched={report.fetched} "
		f"updated={len(report.updated)} flagged={len(report.flagged)} "
		f"payments_listed={report.payments_listed} payments_queued={len(report.payments_queued)}"
	)
	return report


# Hints read per organisation and run: a burst larger than this waits for the next run or the poll.
MAX_HINTS = 500


def refresh_hinted() -> None:
	"""The job a webhook delivery wakes (returns nothing, which `bench execute` can print)."""
	refresh_hinted_documents()


def refresh_hinted_documents() -> dict[str, PollReport | str]:
	"""Read the documents webhook deliveries named by ID and write their status back; return each tenant's
	report or why it failed. The hints are taken out of Redis first; whatever happens to them, the regular
	poll still covers them."""
	from nexwave_xero_connector.webhook import hint_key

	if not jobs.is_ready():
		return {}
	counter: Counter[str] = Counter()
	gateway = wiring.make_gateway(counter=counter)
	config = adapters.load_config()
	results: dict[str, PollReport | str] = {}
	for tenant_id in dict.fromkeys(t.tenant_id for t in config.tenants if t.tenant_id):
		taken = list(frappe.cache.smembers(hint_key(tenant_id)) or [])[:MAX_HINTS]
		if taken:
			frappe.cache.srem(hint_key(tenant_id), *taken)
		ids: dict[Kind, list[str]] = {}
		for member in taken:
			kind, _, xero_id = (member.decode() if isinstance(member, bytes) else member).partition(":")
			try:
				ids.setdefault(Kind(kind), []).append(xero_id)
			except ValueError:
				continue
		if ids:
			results[tenant_id] = _guarded(
				tenant_id,
				lambda tenant_id=tenant_id, ids=ids: _refresh(tenant_id, ids, gateway, config),
			)
			if counter[tenant_id]:  # what webhooks cost comes out of the same background budget
				budget.note_read(tenant_id, HINTS, datetime.now(timezone.utc), counter.pop(tenant_id))
	return results


def _refresh(tenant_id: str, ids: dict[Kind, list[str]], gateway, config) -> PollReport:
	"""The hinted documents by ID; a payment on one of them shows up as a change of the invoice, so where
	Xero's payments become Payment Entries, the payments listing is read too (one call)."""
	report = refresh_documents(tenant_id, ids, gateway=gateway, db=adapters.FrappeDb(), now=now_datetime())
	if config.tenant_pulls_payments(tenant_id):
		_pull_payments(tenant_id, gateway, config, report, datetime.now(timezone.utc))
	return report


def flag_drift() -> list[str]:
	"""Run the status poll now (it is the drift scan too); return the ERP documents it failed because
	they were voided or deleted in Xero."""
	return [
		name
		for report in poll_organisations().values()
		if not isinstance(report, str)
		for name in report.flagged
	]
