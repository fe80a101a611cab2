"""The safety net for untracked copies in Xero (run with each background read), and the manager's actions on what it found.

Each organisation is asked what changed since its last run (sync.untracked_scan); copies nobody tracks are
voided there, and what cannot be voided is kept as an Orphan in Xero Untracked Document. Each
organisation runs in its own savepoint, so one failing organisation never loses another's records.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from functools import partial

import frappe
from frappe import _
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters, jobs, wiring
from nexwave_xero_connector.api import parse_names
from nexwave_xero_connector.permissions import require_manager
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.untracked_scan import (
	ORPHAN,
	VOIDED,
	Finding,
	ReconcileReport,
	SqlLedger,
	reconcile,
	void_one,
)

UNTRACKED_DOCTYPE = "Xero Untracked Document"
IGNORED = "Ignored"
UNTRACKED_SCAN_KEY = "xero-untracked-scan"
FIRST_WINDOW = timedelta(days=1)  # how far back the very first run of an organisation looks
SAVEPOINT = "xero_reconcile_tenant"


def reconcile_untracked() -> None:
	"""Settle each organisation's untracked copies now (`bench execute`), each with a listing of its own.
	Returns nothing, which `bench execute` can print; findings are in Xero Untracked Document, failures in
	the Error Log. The scheduled scan is folded into the background read (status_job.read_due), which
	hands it the status poll's listing."""
	reconcile_organisations()


def reconcile_organisations() -> dict[str, ReconcileReport | str]:
	"""Settle each organisation's untracked copies; return each tenant's report or error text.

	Each organisation runs inside its own savepoint, so a failure undoes only its own records and is
	logged; the scheduler commits what the others recorded when the job returns."""
	if not jobs.is_ready():
		return {}
	config = adapters.load_config()
	gateway = wiring.make_gateway()
	results: dict[str, ReconcileReport | str] = {}
	for tenant_id in dict.fromkeys(t.tenant_id for t in config.tenants if t.tenant_id):
		frappe.db.savepoint(SAVEPOINT)
		try:
			results[tenant_id] = reconcile_tenant(tenant_id, gateway, config)
		except Exception as exc:
			frappe.db.rollback(save_point=SAVEPOINT)
			results[tenant_id] = f"{type(exc).__name__}: {exc}"
			frappe.log_error(title=f"Xero reconciliation failed for {tenant_id}")
	return results


def scan_since(tenant_id: str, started: datetime) -> datetime:
	"""Where the organisation's next scan starts: its watermark, or a day back on its first run."""
	return frappe.cache.get_value(f"{UNTRACKED_SCAN_KEY}:{tenant_id}") or started - FIRST_WINDOW


def reconcile_tenant(tenant_id: str, gateway, config, started: datetime | None = None) -> ReconcileReport:
	"""One organisation's run: list since its watermark, settle, record, move the watermark. `started`:
	when the caller's listing began, if the gateway answers from a listing already made."""
	key = f"{UNTRACKED_SCAN_KEY}:{tenant_id}"
	started = started or datetime.now(timezone.utc)
	since = scan_since(tenant_id, started)
	companies = [t.company for t in config.tenants if t.tenant_id == tenant_id]
	report = reconcile(
		tenant_id,
		since,
		gateway=gateway,
		ledger=SqlLedger(adapters.FrappeDb(), lambda _tenant: companies, config.before_go_live),
		site_url=config.site_url,
		started=started,
		auto_void=config.void_on_cancel,
	)
	for finding in report.findings:
		record_finding(tenant_id, finding)
	if report.errors:
		frappe.log_error(
			title=f"Xero reconciliation of {tenant_id}: some documents were not settled",
			message="\n".join(report.errors),
		)
	# the watermark moves only once the records are committed: a run killed before that lists again
	frappe.db.after_commit.add(partial(frappe.cache.set_value, key, report.next_since))
	frappe.logger("nexwave_xero_connector").info(
		f"xero untracked {tenant_id}: listed={report.listed} untracked={report.untracked} "
		f"voided={len(report.voided)} orphans={len(report.orphans)} deferred={len(report.deferred)} "
		f"calls={report.calls}"
	)
	return report


def record_finding(tenant_id: str, finding: Finding) -> str:
	"""Insert or update the Xero Untracked Document for this Xero ID; an Ignored one stays Ignored."""
	values = {
		"tenant_id": tenant_id,
		"xero_type": finding.kind.value,
		"number": finding.number,
		"xero_status": finding.xero_status,
		"reason": finding.reason,
		"reference_doctype": finding.reference[0] if finding.reference else None,
		"reference_name": finding.reference[1] if finding.reference else None,
	}
	existing = frappe.db.get_value(
		UNTRACKED_DOCTYPE, {"xero_id": finding.xero_id}, ["name", "status"], as_dict=True
	)
	name, status = (existing.name, existing.status) if existing else (None, None)
	new_status = IGNORED if status == IGNORED and finding.status == ORPHAN else finding.status
	values["status"] = new_status
	if finding.status == VOIDED:
		values["voided_at"] = now_datetime()
	if name:
		frappe.db.set_value(UNTRACKED_DOCTYPE, name, values)
		return name
	doc = frappe.get_doc(
		{"doctype": UNTRACKED_DOCTYPE, "xero_id": finding.xero_id, "found_at": now_datetime(), **values}
	)
	return doc.insert(ignore_permissions=True, ignore_links=True).name


@frappe.whitelist(methods=["POST"])
def void_untracked(names: str | list) -> dict:
	"""Void (or delete, for drafts) Orphan untracked documents in Xero now, each on its own.

	Returns {"voided": documents now void or gone in Xero, "still_live": Orphans Xero kept live (the
	reason is updated), "unchanged": names that were not Orphans}.
	"""
	require_manager()
	names = parse_names(names)
	rows = (
		frappe.get_all(
			UNTRACKED_DOCTYPE,
			filters={"name": ("in", names), "status": ORPHAN},
			fields=["name", "tenant_id", "xero_type", "xero_id"],
		)
		if names
		else []
	)
	voided = still_live = 0
	gateway = wiring.make_gateway() if rows else None
	for row in rows:
		try:
			finding = void_one(
				row.tenant_id, Kind(row.xero_type), row.xero_id, gateway=gateway, attempt=int(time.time())
			)
		except XeroError as exc:
			frappe.db.set_value(UNTRACKED_DOCTYPE, row.name, "reason", exc.message)
			still_live += 1
			continue
		values = {"status": finding.status, "xero_status": finding.xero_status, "reason": finding.reason}
		if finding.status == VOIDED:
			values["voided_at"] = now_datetime()
			voided += 1
		else:
			still_live += 1
		frappe.db.set_value(UNTRACKED_DOCTYPE, row.name, values)
	result = {"voided": voided, "still_live": still_live, "unchanged": len(names) - len(rows)}
	frappe.msgprint(
		_(
			"Voided in Xero: {0}. Still live in Xero (see the reason): {1}. Not Orphans, left as they were: {2}."
		).format(result["voided"], result["still_live"], result["unchanged"]),
		alert=True,
	)
	return result


@frappe.whitelist(methods=["POST"])
def ignore_untracked(names: str | list) -> dict:
	"""Mark Orphan untracked documents as Ignored (kept in Xero on purpose); returns {"ignored": n}."""
	require_manager()
	names = parse_names(names)
	orphans = (
		frappe.get_all(UNTRACKED_DOCTYPE, filters={"name": ("in", names), "status": ORPHAN}, pluck="name")
		if names
		else []
	)
	for name in orphans:
		frappe.db.set_value(UNTRACKED_DOCTYPE, name, "status", IGNORED)
	return {"ignored": len(orphans), "unchanged": len(names) - len(orphans)}
