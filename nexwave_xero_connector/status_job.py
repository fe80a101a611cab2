"""Xero's payment status back on ERPNext: the scheduled status poll (every 10 minutes), and with it the
payments made in Xero for companies that take them as Payment Entries (sync.payments_from_xero).

Each organisation is asked what changed since its watermark (sync.status_poll): Status, AmountPaid,
AmountCredited, AmountDue and FullyPaidOnDate land on the Synced log rows and their invoices, and what was
voided or deleted there is failed with the reason (the drift scan, folded into the same listing). Each
organisation runs in its own savepoint; the scheduler commits when the job returns.
"""

from __future__ import annotations

from datetime import datetime, timezone

import frappe
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters, jobs, wiring
from nexwave_xero_connector.constants import STATUS_POLL_KEY
from nexwave_xero_connector.events import enqueue_drain
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


def poll_statuses() -> None:
	"""Every 10 minutes (the scheduler, or `bench execute`): poll each bound organisation. Returns nothing,
	which `bench execute` can print; each organisation's outcome is in the log (or the Error Log)."""
	poll_organisations()


def poll_organisations() -> dict[str, PollReport | str]:
	"""Poll each bound organisation; return each tenant's report or why it was skipped."""
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
	gateway = wiring.make_gateway()
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
	return results


def _refresh(tenant_id: str, ids: dict[Kind, list[str]], gateway, config) -> PollReport:
	"""The hinted documents by ID; a payment on one of them shows up as a change of the invoice, so where
	Xero's payments become Payment Entries, the payments listing is read too (one call)."""
	report = refresh_documents(tenant_id, ids, gateway=gateway, db=adapters.FrappeDb(), now=now_datetime())
	if config.tenant_pulls_payments(tenant_id):
		_pull_payments(tenant_id, gateway, config, report, datetime.now(timezone.utc))
	return report
