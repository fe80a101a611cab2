"""Background jobs: drain one Xero organisation's queue; wake queues nobody is draining; the orphan scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import frappe
from frappe.utils import cint, now_datetime

from nexwave_xero_connector import adapters, wiring
from nexwave_xero_connector.constants import (
	DRAIN_QUEUE,
	LOG_DOCTYPE,
	ORG_CACHE_KEY,
	ORG_CACHE_SECONDS,
	XERO_TYPES,
)
from nexwave_xero_connector.events import enqueue_drain, forget_wake, wake_key
from nexwave_xero_connector.journal_entries import with_system_accounts
from nexwave_xero_connector.sync import batching
from nexwave_xero_connector.sync.journal import (
	flag_cancelled_but_synced,
	flag_cancelled_without_row,
)
from nexwave_xero_connector.sync.model import ErrorClass

# Batches one drain job pushes before it goes to the back of the queue (fairness across organisations).
SLICE_BATCHES = 2
# A drain holding for its batch to fill sleeps this long at a time, and keeps the tenant's wake key this
# long after each step (a holder that dies frees it soon).
HOLD_STEP_SECONDS = 1.0
HOLD_KEY_SECONDS = 10


def drain_tenant(tenant_id: str) -> None:
	"""Push one Xero organisation's claimable rows, a slice at a time (several drains of one tenant are
	safe: each row is leased to one of them).

	The job takes at most SLICE_BATCHES batches, then goes to the back of the queue while rows are left, so
	a backlog of one organisation never keeps the others waiting on shared workers. When the day's calls
	are tight, a small batch may wait up to 30 s to fill (sync/batching.py), holding the worker only while
	no other job waits for it. A broken or missing connection leaves the rows Queued with no attempt spent;
	reconnecting and the next sweep resume them."""
	from nexwave_xero_connector.sync.drain import drain, drain_again

	forget_wake(tenant_id)  # from here on a row queued for this tenant wakes another drain
	if not is_ready():
		return
	gateway = wiring.make_gateway()
	journal = wiring.make_journal()
	settings = adapters.get_settings()
	hold = WorkerHold(tenant_id, batch_fill_window(tenant_id, settings))
	report = drain(
		tenant_id,
		journal=journal,
		erp=adapters.FrappeErp(),
		masters=adapters.FrappeMasters(),
		gateway=gateway,
		config=adapters.load_config(),
		org=lambda: organisation_facts(tenant_id, gateway),
		max_batches=SLICE_BATCHES,
		hold=hold.as_hold(),
	)
	frappe.logger("nexwave_xero_connector").info(f"xero drain {tenant_id}: {report}")
	forget_wake(tenant_id)
	if drain_again(report, journal, tenant_id, gave_way=hold.gave_way):
		enqueue_drain(tenant_id, after_commit=False)  # the back of the line


def batch_fill_window(tenant_id: str, settings) -> float:
	"""Seconds a small batch may wait to fill: the plan's daily limit and what Xero says is left today."""
	try:
		remaining = wiring.make_governor(settings).day_remaining(tenant_id)
	except Exception:
		remaining = None  # Redis unreachable: the plan alone decides
	return batching.fill_window(wiring.daily_limit(settings), remaining)


class WorkerHold:
	"""The pause of a drain holding for its batch to fill, on an RQ worker: it keeps the tenant's wake key
	(new rows then need no job: this drain sees them) and sleeps a little at a time, and gives up when
	another job waits for a worker (after one step, then to the back of the line) or another drain of the
	tenant is already coming (at once: that one takes over)."""

	def __init__(self, tenant_id: str, window: float):
		self.tenant_id = tenant_id
		self.window = window
		self.mark = f"holding::{frappe.generate_hash(length=12)}"
		self.gave_way = False

	def as_hold(self):
		from nexwave_xero_connector.sync.drain import Hold

		return Hold(window=self.window, pause=self.pause)

	def pause(self, seconds: float) -> bool:
		from frappe.utils.background_jobs import get_queue

		if get_queue(DRAIN_QUEUE).count:
			# a step first: with more organisations holding than workers, a job that went straight to the
			# back of the line would spin through the queue
			time.sleep(min(seconds, HOLD_STEP_SECONDS))
			return False
		key = wake_key(self.tenant_id)
		if not frappe.cache.set(key, self.mark, nx=True, ex=HOLD_KEY_SECONDS):
			current = frappe.cache.get(key)
			if (current.decode() if isinstance(current, bytes) else current) != self.mark:
				self.gave_way = True
				return False
			frappe.cache.expire(key, HOLD_KEY_SECONDS)
		time.sleep(min(seconds, HOLD_STEP_SECONDS))
		return True


def sweep() -> None:
	"""Every minute: wake a drain for each tenant with claimable rows (new, due for retry, or whose lease
	expired because a worker died), so no row waits for a human. Whether a row is stuck is not decided
	here: it is derived from time wherever it is shown, so it shows even with no worker running."""
	if not is_ready():
		return
	for tenant_id in wiring.make_journal().tenants_with_work():
		enqueue_drain(tenant_id, after_commit=False)


def is_ready() -> bool:
	"""Whether drains can run at all: the connector is enabled and its Xero connection is usable."""
	from nexwave_xero_connector.connection import is_connection_usable

	return bool(cint(adapters.get_settings().enabled)) and is_connection_usable()


def organisation_facts(tenant_id: str, gateway):
	"""/Organisation and /Currencies for the pre-flight, cached for hours: they rarely change, and
	re-reading them on every drain would cost a lone invoice three calls instead of one."""
	key = f"{ORG_CACHE_KEY}:{tenant_id}"
	facts = frappe.cache.get_value(key)
	if facts is None:
		facts = with_system_accounts(gateway.get_organisation(tenant_id), tenant_id, gateway)
		frappe.cache.set_value(key, facts, expires_in_sec=ORG_CACHE_SECONDS)
	return facts


def resume_after_reconnect() -> list[str]:
	"""A new login works: rows that were waiting out a connection failure become claimable at once, and
	their drains wake when the caller commits. Returns the tenants woken."""
	log = frappe.qb.DocType(LOG_DOCTYPE)
	waiting = (log.status == "Queued") & (log.error_class == ErrorClass.CONNECTION.value)
	tenants = (
		frappe.qb.from_(log).select(log.tenant_id).distinct().where(waiting & log.tenant_id.isnotnull())
	).run(pluck=True)
	frappe.qb.update(log).set(log.next_attempt_at, None).set(log.error_class, None).where(waiting).run()
	wake_tenants(tenants)
	return [t for t in tenants if t]


def scan_orphans() -> None:
	"""Hourly: catch documents cancelled while our hook could not run (connector off, data fixes, log
	cleared). Documents someone voided or deleted in Xero are found by the background read (status_job.read_due,
	paced by the organisation's budget), whose one listing serves the status write-back and the drift scan.
	A failing part is logged and skipped."""
	if not is_ready():
		return
	guarded("orphan scan", flag_orphans)


def guarded(what: str, step: Callable[[], object]) -> object | None:
	"""Run one step of a scan in a savepoint: a failure is undone, recorded in the Error Log and skipped."""
	savepoint = f"xero_{frappe.generate_hash(length=8)}"
	frappe.db.savepoint(savepoint)
	try:
		result = step()
	except Exception:
		frappe.db.rollback(save_point=savepoint)
		frappe.log_error(title=f"Xero {what} failed", reference_doctype=LOG_DOCTYPE)
		return None
	frappe.db.release_savepoint(savepoint)
	return result


def flag_orphans() -> list[dict]:
	"""Send Synced rows of cancelled documents back to the queue to be voided (or shown as Orphans),
	queue a void for cancelled documents whose row was cleared but which still carry a live Xero ID, and
	wake their drains after commit; return the documents as [{"doctype", "name"}]."""
	db = adapters.FrappeDb()
	found = flag_cancelled_but_synced(db, now_datetime())
	config = adapters.scope_config()
	found += flag_cancelled_without_row(
		db, now_datetime(), config.tenant_for, lambda doctype, is_return: XERO_TYPES[(doctype, is_return)]
	)
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
