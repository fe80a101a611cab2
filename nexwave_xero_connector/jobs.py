"""Background jobs: drain one Xero organisation's queue; sweep for queues nobody is draining."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

import frappe
from frappe.utils import cint, now_datetime

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import (
	DEFAULT_STUCK_AFTER_MINUTES,
	LOG_DOCTYPE,
	ORG_CACHE_KEY,
	ORG_CACHE_SECONDS,
)
from nexwave_xero_connector.events import enqueue_drain
from nexwave_xero_connector.sync.journal import (
	SqlJournal,
	flag_cancelled_but_synced,
	mark_stuck,
)


def make_journal() -> SqlJournal:
	"""The Xero Sync Log as the core's journal, owned by this worker process."""
	return SqlJournal(adapters.FrappeDb(), clock=now_datetime, worker=f"{socket.gethostname()}:{os.getpid()}")


def drain_tenant(tenant_id: str) -> None:
	"""Push every claimable row of one Xero organisation (enqueued per tenant, deduplicated).

	A broken or missing connection leaves the rows Queued with no attempt spent; reconnecting and the
	next sweep resume them."""
	from nexwave_xero_connector.sync.engine import drain

	if not is_ready():
		return
	gateway = adapters.make_gateway()
	report = drain(
		tenant_id,
		journal=make_journal(),
		erp=adapters.FrappeErp(),
		masters=adapters.FrappeMasters(),
		gateway=gateway,
		config=adapters.load_config(),
		org=lambda: organisation_facts(tenant_id, gateway),
	)
	frappe.logger("nexwave_xero_connector").info(f"xero drain {tenant_id}: {report}")


def sweep() -> None:
	"""Every minute: flag Queued rows that stopped moving as stuck, then wake a drain for each tenant
	with claimable rows (new, due for retry, or whose lease expired because a worker died), so no row
	waits for a human. The scheduler commits the flags when the job returns."""
	if not cint(adapters.get_settings().enabled):
		return
	flag_stuck()
	if not is_ready():
		return
	for tenant_id in make_journal().tenants_with_work():
		enqueue_drain(tenant_id, after_commit=False)


def is_ready() -> bool:
	"""Whether drains can run at all: the connector is enabled and its Xero connection is usable."""
	from nexwave_xero_connector.oauth import is_connection_usable

	return bool(cint(adapters.get_settings().enabled)) and is_connection_usable()


def organisation_facts(tenant_id: str, gateway):
	"""/Organisation and /Currencies for the pre-flight, cached for hours: they rarely change, and
	re-reading them on every drain would cost a lone invoice three calls instead of one."""
	key = f"{ORG_CACHE_KEY}:{tenant_id}"
	facts = frappe.cache.get_value(key)
	if facts is None:
		facts = gateway.get_organisation(tenant_id)
		frappe.cache.set_value(key, facts, expires_in_sec=ORG_CACHE_SECONDS)
	return facts


def flag_stuck() -> int:
	"""Flag Queued rows unmoved for longer than Xero Sync Settings' stuck threshold; return how many."""
	minutes = cint(adapters.get_settings().stuck_after_minutes) or DEFAULT_STUCK_AFTER_MINUTES
	return mark_stuck(adapters.FrappeDb(), now_datetime(), minutes)


def scan_orphans() -> None:
	"""Hourly: catch documents cancelled while our hook could not run (connector off, data fixes).
	Documents someone voided or deleted in Xero are found by the status poll (status_job, every 10
	minutes), whose one listing per organisation serves both the status write-back and the drift scan."""
	if not is_ready():
		return
	flag_orphans()


def flag_drift() -> list[str]:
	"""Run the status poll now (it is the drift scan too); return the ERP documents it failed because
	they were voided or deleted in Xero."""
	from nexwave_xero_connector.status_job import poll_statuses

	return [
		name for report in poll_statuses().values() if not isinstance(report, str) for name in report.flagged
	]


def flag_orphans() -> list[dict]:
	"""Send Synced rows of cancelled documents back to the queue to be voided (or shown as Orphans) and
	wake their drains after commit; return the documents as [{"doctype", "name"}]."""
	found = flag_cancelled_but_synced(adapters.FrappeDb(), now_datetime())
	if found:
		wake_tenants(
			frappe.get_all(
				LOG_DOCTYPE,
				filters={
					"reference_doctype": ("in", list({doctype for doctype, _name in found})),
					"reference_name": ("in", [name for _doctype, name in found]),
					"status": "Queued",
					"tenant_id": ("is", "set"),
				},
				pluck="tenant_id",
				distinct=True,
			)
		)
	return [{"doctype": doctype, "name": name} for doctype, name in found]


def wake_tenants(tenant_ids: Iterable[str]) -> None:
	"""Wake each tenant's drain once the caller's transaction commits (it must see the rows queued)."""
	for tenant_id in dict.fromkeys(t for t in tenant_ids if t):
		enqueue_drain(tenant_id)
