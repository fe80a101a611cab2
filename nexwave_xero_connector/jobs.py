"""Background jobs: drain one Xero organisation's queue; sweep for queues nobody is draining."""

from __future__ import annotations

import os
import socket

import frappe
from frappe.utils import cint, now_datetime

from nexwave_xero_connector import adapters
from nexwave_xero_connector.events import enqueue_drain
from nexwave_xero_connector.sync.journal import SqlJournal


def make_journal() -> SqlJournal:
	"""The Xero Sync Log as the core's journal, owned by this worker process."""
	return SqlJournal(adapters.FrappeDb(), clock=now_datetime, worker=f"{socket.gethostname()}:{os.getpid()}")


def drain_tenant(tenant_id: str) -> None:
	"""Push every claimable row of one Xero organisation (enqueued per tenant, deduplicated)."""
	from nexwave_xero_connector.sync.engine import drain

	report = drain(
		tenant_id,
		journal=make_journal(),
		erp=adapters.FrappeErp(),
		masters=adapters.FrappeMasters(),
		gateway=adapters.make_gateway(),
		config=adapters.load_config(),
	)
	frappe.logger("nexwave_xero_connector").info(f"xero drain {tenant_id}: {report}")


def sweep() -> None:
	"""Every minute: wake a drain for each tenant with claimable rows (new, due for retry, or whose
	lease expired because a worker died), so no row waits for a human."""
	if not is_ready():
		return
	for tenant_id in make_journal().tenants_with_work():
		enqueue_drain(tenant_id, after_commit=False)


def is_ready() -> bool:
	"""Whether drains can run at all: the connector is enabled and someone connected Xero."""
	settings = adapters.get_settings()
	return bool(cint(settings.enabled) and settings.connected_app and settings.connected_user)
