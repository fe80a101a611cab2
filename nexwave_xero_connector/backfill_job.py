"""Backfill from the desk and the bench: start, stop and resume a Xero Backfill Run; the job that runs it.

The deciding is sync/backfill.py's; this module reads ERPNext, keeps the run's status and counts, shows
progress live (frappe.publish_realtime) and wakes the drain when documents were queued to be created.
Each slice the core writes is committed by the core through FrappeDb (the run's counts ride along), so
a stopped, paused or killed run is resumed from where it was simply by running it again.
"""

from __future__ import annotations

import datetime

import frappe
from frappe import _
from frappe.utils import cint, getdate

from nexwave_xero_connector import adapters, wiring
from nexwave_xero_connector.constants import DRAIN_QUEUE, LOG_DOCTYPE
from nexwave_xero_connector.permissions import require_manager
from nexwave_xero_connector.sync.backfill import (
	ADOPT_ONLY,
	ADOPT_THEN_CREATE,
	MODES,
	BackfillReport,
	Candidate,
	backfill,
	candidate_of,
)
from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE
from nexwave_xero_connector.sync.model import Kind

RUN_DOCTYPE = "Xero Backfill Run"
RUN_JOB = "nexwave_xero_connector.backfill_job.run_backfill"
PROGRESS_EVENT = "xero_backfill_progress"
ACTIVE = ("Queued", "Running")
# At most one lookup every 2 s: 30 of Xero's 60 calls a minute, the rest stays with the live pushes.
PACE_SECONDS = 2.0
KIND_DOCTYPE = {
	Kind.SALES_INVOICE: SALES_INVOICE,
	Kind.SALES_CREDIT: SALES_INVOICE,
	Kind.BILL: PURCHASE_INVOICE,
	Kind.BILL_CREDIT: PURCHASE_INVOICE,
}
COMMON_FIELDS = [
	"name",
	"company",
	"is_return",
	"posting_date",
	"grand_total",
	"rounded_total",
	"rounding_adjustment",
	"disable_rounded_total",
]
FIELDS = {
	SALES_INVOICE: [*COMMON_FIELDS, "customer", "customer_name"],
	PURCHASE_INVOICE: [*COMMON_FIELDS, "supplier", "supplier_name", "bill_no", "bill_date"],
}


class FrappeBackfillSource:
	"""BackfillSource over ERPNext: submitted documents in range without a row, or with a Skipped one."""

	def candidates(
		self,
		company: str,
		kinds,
		date_from: datetime.date,
		date_to: datetime.date,
		decided_since: datetime.datetime | None = None,
	) -> list[Candidate]:
		out: list[Candidate] = []
		for doctype in dict.fromkeys(KIND_DOCTYPE[k] for k in kinds):
			docs = frappe.get_all(
				doctype,
				filters={
					"company": company,
					"docstatus": 1,
					"posting_date": ("between", [date_from, date_to]),
				},
				fields=FIELDS[doctype],
				order_by="posting_date asc, name asc",
			)
			rows = (
				{
					r.reference_name: r
					for r in frappe.get_all(
						LOG_DOCTYPE,
						filters={
							"reference_doctype": doctype,
							"reference_name": ("in", [d.name for d in docs]),
						},
						fields=["name", "reference_name", "status", "modified"],
					)
				}
				if docs
				else {}
			)
			for doc in docs:
				row = rows.get(doc.name)
				if row and (row.status != "Skipped" or (decided_since and row.modified >= decided_since)):
					continue
				candidate = candidate_of({**doc, "doctype": doctype}, row.name if row else None)
				if candidate.kind in kinds:
					out.append(candidate)
		return sorted(out, key=lambda c: (c.posting_date, c.name))

	def contact_id(self, party_type: str, party: str, tenant_id: str) -> str | None:
		return adapters.FrappeErp().contact_id(party_type, party, tenant_id)


def parse_kinds(kinds) -> list[Kind]:
	"""Kinds as Xero types (a list, a JSON list or one per line); all four when none is given."""
	if isinstance(kinds, str):
		kinds = frappe.parse_json(kinds) if kinds.strip().startswith("[") else kinds.split()
	values = [k.strip() for k in kinds or [] if k and k.strip()]
	try:
		return [Kind(v) for v in values] or list(Kind)
	except ValueError:
		frappe.throw(
			_("Unknown document kind in {0}. Use ACCREC, ACCRECCREDIT, ACCPAY or ACCPAYCREDIT.").format(
				values
			)
		)


@frappe.whitelist(methods=["POST"])
def start_backfill(company: str, from_date: str, to_date: str, mode: str = ADOPT_ONLY, kinds=None) -> str:
	"""Create a Xero Backfill Run and queue it; returns the run's name. Managers only."""
	require_manager()
	run = new_run(company, from_date, to_date, mode, kinds)
	enqueue_run(run.name)
	return run.name


def new_run(company: str, from_date, to_date, mode: str, kinds=None):
	"""Validate and insert a Queued run (no other run of the company may be queued or running)."""
	if mode not in MODES:
		frappe.throw(_("Mode must be '{0}' or '{1}'.").format(ADOPT_ONLY, ADOPT_THEN_CREATE))
	date_from, date_to = getdate(from_date), getdate(to_date)
	if date_from > date_to:
		frappe.throw(_("From Date must not be after To Date."))
	if not adapters.load_config().tenant_for(company):
		frappe.throw(
			_("Company {0} has no Xero organisation. Bind one in Xero Sync Settings first.").format(company)
		)
	busy = frappe.get_all(RUN_DOCTYPE, filters={"company": company, "status": ("in", ACTIVE)}, pluck="name")
	if busy:
		frappe.throw(_("A backfill of {0} is already queued or running ({1}).").format(company, busy[0]))
	return frappe.get_doc(
		{
			"doctype": RUN_DOCTYPE,
			"company": company,
			"mode": mode,
			"kinds": "\n".join(k.value for k in parse_kinds(kinds)),
			"from_date": date_from,
			"to_date": date_to,
			"status": "Queued",
		}
	).insert(ignore_permissions=True)


@frappe.whitelist(methods=["POST"])
def stop_backfill(run: str) -> str:
	"""Ask a queued or running run to stop after the slice in progress. Managers only."""
	require_manager()
	status = frappe.db.get_value(RUN_DOCTYPE, run, "status")
	if status not in ACTIVE:
		frappe.throw(
			_("Backfill {0} is {1}; only a queued or running one can be stopped.").format(run, status)
		)
	frappe.db.set_value(RUN_DOCTYPE, run, "stop_requested", 1)
	return status


@frappe.whitelist(methods=["POST"])
def resume_backfill(run: str) -> None:
	"""Queue a Stopped, Paused or Failed run again; it takes only what is still undecided. Managers only."""
	require_manager()
	status = frappe.db.get_value(RUN_DOCTYPE, run, "status")
	if status not in ("Stopped", "Paused", "Failed"):
		frappe.throw(
			_("Backfill {0} is {1}; only a stopped, paused or failed one can be resumed.").format(run, status)
		)
	frappe.db.set_value(RUN_DOCTYPE, run, {"status": "Queued", "stop_requested": 0, "message": ""})
	enqueue_run(run)


def resume_paused() -> list[str]:
	"""Hourly: queue again the runs the day budget (or an outage) paused; returns their names."""
	paused = frappe.get_all(RUN_DOCTYPE, filters={"status": "Paused"}, pluck="name")
	for name in paused:
		frappe.db.set_value(RUN_DOCTYPE, name, "status", "Queued")
		enqueue_run(name)
	return paused


def enqueue_run(run: str) -> None:
	frappe.enqueue(
		RUN_JOB,
		queue=DRAIN_QUEUE,
		job_id=f"xero-backfill::{run}",
		deduplicate=True,
		enqueue_after_commit=True,
		timeout=6 * 3600,
		run=run,
	)


def run_backfill(run: str, gateway=None, pace: float = PACE_SECONDS) -> BackfillReport:
	"""The job (also called by `bench xero backfill`): decide the run's documents slice by slice."""
	from nexwave_xero_connector.events import enqueue_drain

	doc = frappe.get_doc(RUN_DOCTYPE, run)
	config = adapters.load_config()
	tenant_id = config.tenant_for(doc.company)
	doc.db_set({"status": "Running", "stop_requested": 0, "message": ""}, update_modified=True)
	queued_before = 0

	def progress(report: BackfillReport) -> None:
		nonlocal queued_before
		# the slice is committed: its counts are written now and ride along with the next commit
		frappe.db.set_value(RUN_DOCTYPE, run, counts(report, doc), update_modified=False)
		frappe.publish_realtime(PROGRESS_EVENT, {"run": run, **report.as_dict()}, user=doc.owner)
		if report.queued > queued_before:
			queued_before = report.queued
			enqueue_drain(tenant_id, after_commit=False)

	try:
		report = backfill(
			tenant_id,
			doc.company,
			[Kind(k) for k in (doc.kinds or "").split()] or list(Kind),
			getdate(doc.from_date),
			getdate(doc.to_date),
			doc.mode,
			source=FrappeBackfillSource(),
			gateway=gateway or wiring.make_gateway(),
			db=adapters.FrappeDb(),
			clock=frappe.utils.now_datetime,
			user=doc.owner,
			should_stop=lambda: bool(cint(frappe.db.get_value(RUN_DOCTYPE, run, "stop_requested"))),
			progress=progress,
			resumes=doc.creation if cint(doc.examined) else None,
			min_interval=pace,
		)
	except Exception as exc:
		frappe.db.rollback()
		frappe.db.set_value(
			RUN_DOCTYPE, run, {"status": "Failed", "message": f"{type(exc).__name__}: {exc}"[:1000]}
		)
		frappe.log_error(title=f"Xero backfill {run} failed")
		adapters.FrappeDb().commit("backfill: the run's failure is recorded")
		raise
	if report.stopped_by.startswith("Stopped"):
		status = "Stopped"
	elif report.stopped_by:
		status = "Paused"
	else:
		status = "Done"
	values = {
		**counts(report, doc),
		"status": status,
		"message": report.stopped_by or summary(report, doc.mode),
	}
	frappe.db.set_value(RUN_DOCTYPE, run, values)
	frappe.publish_realtime(
		PROGRESS_EVENT, {"run": run, "status": status, **report.as_dict()}, user=doc.owner
	)
	adapters.FrappeDb().commit("backfill: the run's outcome is recorded")
	return report


def counts(report: BackfillReport, doc) -> dict:
	"""The run's counts: what earlier (stopped) attempts of the run decided, plus this attempt's."""
	return {
		"total": max(cint(doc.total), report.total + cint(doc.examined)),
		"examined": cint(doc.examined) + report.examined,
		"adopted": cint(doc.adopted) + report.adopted,
		"conflicts": cint(doc.conflicts) + report.conflicts,
		"queued": cint(doc.queued) + report.queued,
		"skipped": cint(doc.skipped) + report.skipped,
		"calls": cint(doc.calls) + report.calls,
	}


def summary(report: BackfillReport, mode: str) -> str:
	"""A finished run's message, in its mode's words: what Xero lacked is queued to be created, or left
	alone."""
	if mode == ADOPT_THEN_CREATE:
		return _(
			"Done: {0} adopted, {1} conflicts (see the Failed rows of the Xero Sync Log), {2} not in Xero and "
			"queued to be created (after every live document)."
		).format(report.adopted, report.conflicts, report.queued)
	return _(
		"Done: {0} adopted, {1} conflicts (see the Failed rows of the Xero Sync Log), {2} not in Xero and left "
		"alone (adopt only)."
	).format(report.adopted, report.conflicts, report.skipped)
