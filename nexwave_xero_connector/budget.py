"""The background-call budget on the site (policy: sync.background): each organisation's read record,
today's use, and what the settings page and the workspace chart show.

The record (when each read last ran and what it cost, the spend per UTC day) is a DefaultValue row per
organisation, like the status poll's watermark: durable, and written in the read's own transaction under
a row lock, so a webhook refresh and a scheduled read of one organisation never lose each other's count.
Pushes' calls come from the Xero Sync Log's attempts; Xero's own word on what is left today (other apps
included) from the rate governor.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import frappe
from frappe import _
from frappe.utils import get_system_timezone

from nexwave_xero_connector import adapters, wiring
from nexwave_xero_connector.permissions import require_manager
from nexwave_xero_connector.sync.background import (
	PAYMENTS,
	STATUS,
	DayUse,
	Plan,
	ReadRecord,
	credit_notes_in_play,
	day_start,
	next_read_at,
)

RECORD_KEY = "xero_background_reads"
DEFAULT_PARENT = "__default"
CHART_DAYS = 30


def record_key(tenant_id: str) -> str:
	return f"{RECORD_KEY}:{tenant_id}"


def load_record(tenant_id: str, *, for_update: bool = False) -> ReadRecord:
	"""The organisation's read record; `for_update` locks its row until the transaction ends."""
	lock = " FOR UPDATE" if for_update else ""
	rows = frappe.db.sql(
		f"SELECT defvalue FROM `tabDefaultValue` WHERE parent = %s AND defkey = %s{lock}",
		(DEFAULT_PARENT, record_key(tenant_id)),
	)
	return ReadRecord.loads(rows[0][0] if rows else None)


def note_read(
	tenant_id: str, read: str, at: datetime, calls: int, *, listings: int | None = None
) -> ReadRecord:
	"""Add one read to the organisation's record (in the caller's transaction)."""
	record = load_record(tenant_id, for_update=True)
	record.note(read, at, calls, listings=listings)
	frappe.defaults.set_global_default(record_key(tenant_id), record.dumps())
	return record


def plan(settings=None) -> Plan:
	"""The site's plan: the daily limit of the settings' Xero plan, and whether webhooks are configured
	(a webhook key is set: deliveries then carry freshness)."""
	settings = settings or adapters.get_settings()
	webhooks = bool(settings.get_password("webhook_key", raise_exception=False))
	return Plan(wiring.daily_limit(settings), webhooks)


def _utc_day_in_site_time(day: date) -> datetime:
	"""Midnight UTC of `day` as the site's naive local time (what the log's datetimes are kept in)."""
	start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
	return start.astimezone(ZoneInfo(get_system_timezone())).replace(tzinfo=None)


PUSH_CALLS_SQL = """
SELECT log.tenant_id, DATE_FORMAT(attempt.started_at, '%%Y-%%m-%%d %%H:00:00') AS hour, SUM(attempt.calls)
FROM `tabXero Sync Attempt` attempt JOIN `tabXero Sync Log` log ON attempt.parent = log.name
WHERE attempt.started_at >= %(since)s AND log.tenant_id IS NOT NULL {tenants}
GROUP BY log.tenant_id, hour
"""


def push_calls(since_day: date, tenant_ids=None) -> dict[tuple[str, date], int]:
	"""Calls the drains made (the log's attempts) per (organisation, UTC day) from `since_day` on."""
	params: dict = {"since": _utc_day_in_site_time(since_day)}
	tenants = ""
	if tenant_ids:
		tenants, params["tenants"] = "AND log.tenant_id IN %(tenants)s", tuple(tenant_ids)
	site = ZoneInfo(get_system_timezone())
	totals: dict[tuple[str, date], int] = defaultdict(int)
	for tenant_id, hour_text, calls in frappe.db.sql(PUSH_CALLS_SQL.format(tenants=tenants), params):
		local = datetime.fromisoformat(str(hour_text)).replace(tzinfo=site)
		totals[(tenant_id, local.astimezone(timezone.utc).date())] += int(calls or 0)
	return totals


def day_use(tenant_id: str, record: ReadRecord, pushes: int, now: datetime) -> DayUse:
	"""Today's use: pushes (the log), background reading (the record), Xero's remaining (the governor)."""
	try:
		remaining = wiring.make_governor().day_remaining(tenant_id)
	except Exception:
		remaining = None  # Redis unreachable: the log and the record still bound the spend
	return record.use(now.date(), pushes=pushes, remaining=remaining)


def organisations(config=None) -> list[tuple[str, str, list[str]]]:
	"""(tenant id, organisation name, companies) of each bound organisation."""
	config = config or adapters.load_config()
	found: dict[str, tuple[str, list[str]]] = {}
	for link in config.tenants:
		if link.tenant_id:
			_name, companies = found.setdefault(link.tenant_id, (link.tenant_name or link.tenant_id, []))
			companies.append(link.company)
	return [(tenant_id, name, companies) for tenant_id, (name, companies) in found.items()]


@frappe.whitelist()
def overview() -> dict:
	"""Per organisation: what background reading costs a day and when the next read runs (settings page)."""
	require_manager()
	now = datetime.now(timezone.utc)
	site_plan = plan()
	tenants = organisations()
	pushes = push_calls(now.date(), [t for t, _name, _companies in tenants])
	db = adapters.FrappeDb()
	config = adapters.load_config()
	rows = []
	for tenant_id, name, companies in tenants:
		record = load_record(tenant_id)
		use = day_use(tenant_id, record, pushes.get((tenant_id, now.date()), 0), now)
		listings = 2 if credit_notes_in_play(db, tenant_id) else 1
		due, why = next_read_at(site_plan, use, record.last_at(STATUS), record.cost(listings), now)
		past = [record.spent(now.date() - timedelta(days=d)) for d in range(1, 8)]
		rows.append(
			{
				"tenant_id": tenant_id,
				"organisation": name,
				"companies": companies,
				"background_today": use.background,
				"background_avg_7d": round(sum(past) / 7, 1),
				"pushes_today": use.pushes,
				"xero_remaining": use.remaining,
				"cost_per_read": round(record.cost(listings), 2),
				"credit_notes_listed": listings == 2,
				"pulls_payments": config.tenant_pulls_payments(tenant_id),
				"last_read_at": _site_time(record.last_at(STATUS)),
				"last_payments_at": _site_time(record.last_at(PAYMENTS)),
				"next_read_at": _site_time(max(due, now)),
				"next_read_why": _(why),
			}
		)
	return {
		"daily_limit": site_plan.daily_limit,
		"webhooks": site_plan.webhooks,
		"budget": site_plan.budget,
		"share_percent": round(site_plan.share * 100),
		"freshness_minutes": round(site_plan.freshness / 60, 1),
		"organisations": rows,
	}


def _site_time(value: datetime | None) -> str | None:
	if value is None:
		return None
	local = value.astimezone(ZoneInfo(get_system_timezone())).replace(tzinfo=None)
	return local.isoformat(sep=" ", timespec="seconds")


def calls_per_day(company: str | None = None, days: int = CHART_DAYS) -> dict:
	"""The workspace chart: Xero calls per UTC day, pushes and background reading stacked, against the
	background budget and the plan's daily limit (for one company's organisation, or all of them)."""
	now = datetime.now(timezone.utc)
	first = (day_start(now) - timedelta(days=days - 1)).date()
	tenants = [t for t, _name, companies in organisations() if not company or company in companies]
	pushes = push_calls(first, tenants) if tenants else {}
	labels, pushed, read = [], [], []
	records = {t: load_record(t) for t in tenants}
	for offset in range(days):
		day = first + timedelta(days=offset)
		labels.append(day.isoformat())
		pushed.append(sum(pushes.get((t, day), 0) for t in tenants))
		read.append(sum(records[t].spent(day) for t in tenants))
	site_plan = plan()
	count = max(len(tenants), 1)
	markers = [{"label": _("Background budget"), "value": site_plan.budget * count}]
	# the plan's limit only where pushes come near it: drawn always, it would flatten a quiet month
	if max((p + r for p, r in zip(pushed, read, strict=True)), default=0) * 4 > site_plan.daily_limit * count:
		markers.append({"label": _("Daily limit"), "value": site_plan.daily_limit * count})
	return {
		"labels": labels,
		"datasets": [
			{"name": _("Pushes"), "values": pushed, "chartType": "bar"},
			{"name": _("Background reading"), "values": read, "chartType": "bar"},
		],
		"yMarkers": markers,
		"type": "bar",
	}
