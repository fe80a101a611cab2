"""Bench commands: `bench --site SITE xero status | push DOCTYPE NAME | retry-failed | scan-orphans | backfill`.

frappe.utils.bench_helper imports `<app>.commands` and registers every click command in its module-level
`commands` list. Each command connects to the site as Administrator (like frappe's own site commands) and,
since a command is not a request, commits its changes explicitly through FrappeDb, which also fires the
after-commit drain wake-ups.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import frappe
from frappe.commands import get_site, pass_context

from nexwave_xero_connector.constants import LOG_DOCTYPE, LOG_STATUSES


@contextmanager
def site_connection(context) -> Iterator[None]:
	"""Connect to the command's site for the block; a refusal (frappe.throw) ends the command with its
	message and exit code 1 instead of a traceback."""
	frappe.init(site=get_site(context))
	frappe.connect()
	try:
		yield
	except (frappe.ValidationError, frappe.PermissionError) as exc:
		raise click.ClickException(str(exc)) from exc
	finally:
		frappe.destroy()


def commit(reason: str) -> None:
	"""Commit the command's work (the app's one commit point names why)."""
	from nexwave_xero_connector.adapters import FrappeDb

	FrappeDb().commit(reason)


@click.group("xero")
def xero():
	"""Xero sync: status, push a document, retry failures, scan for orphans."""


@xero.command("status")
@pass_context
def status(context):
	"""Count the Xero Sync Log's rows by status."""
	from nexwave_xero_connector.api import status_summary

	with site_connection(context):
		summary = status_summary()
	for label in (*LOG_STATUSES, "Stuck", "Total"):
		click.echo(f"{label:<8} {summary.get(label, 0)}")


@xero.command("push")
@click.argument("doctype")
@click.argument("name")
@pass_context
def push(context, doctype, name):
	"""Queue a submitted Sales/Purchase Invoice or Payment Entry that was never sent (or whose push failed)."""
	from nexwave_xero_connector.api import push as push_document

	with site_connection(context):
		row = push_document(doctype, name)
		commit(f"bench xero push: queue {doctype} {name}")
	click.echo(f"{doctype} {name}: {row.status} ({LOG_DOCTYPE} {row.name})")


@xero.command("retry-failed")
@pass_context
def retry_failed(context):
	"""Put every Failed row back in the queue."""
	from nexwave_xero_connector.api import retry

	with site_connection(context):
		names = frappe.get_all(LOG_DOCTYPE, filters={"status": "Failed"}, pluck="name")
		result = retry(names)
		commit("bench xero retry-failed: Failed rows queued again")
	click.echo(f"Queued again: {result['requeued']}")


@xero.command("scan-orphans")
@pass_context
def scan_orphans(context):
	"""Flag documents cancelled here but still live in Xero, so the drain voids them."""
	from nexwave_xero_connector.api import scan_orphans as flag_orphans

	with site_connection(context):
		found = flag_orphans()
		commit("bench xero scan-orphans: cancelled documents flagged for voiding")
	for ref in found:
		click.echo(f"{ref['doctype']} {ref['name']}")
	click.echo(f"Flagged: {len(found)}")


@xero.command("backfill")
@click.option("--company", required=True, help="The ERPNext company.")
@click.option("--from", "from_date", required=True, help="First posting date (YYYY-MM-DD).")
@click.option("--to", "to_date", required=True, help="Last posting date (YYYY-MM-DD).")
@click.option("--create", is_flag=True, help="Create what Xero does not have (default: adopt only).")
@click.option("--kinds", default="", help="Xero types, comma-separated (default: all four).")
@pass_context
def backfill(context, company, from_date, to_date, create, kinds):
	"""Adopt documents Xero already has, report conflicts and (with --create) queue the missing ones."""
	from nexwave_xero_connector.backfill_job import new_run, run_backfill
	from nexwave_xero_connector.sync.backfill import ADOPT_ONLY, ADOPT_THEN_CREATE

	with site_connection(context):
		run = new_run(
			company, from_date, to_date, ADOPT_THEN_CREATE if create else ADOPT_ONLY, kinds.replace(",", " ")
		)
		commit(f"bench xero backfill: run {run.name} recorded")
		report = run_backfill(run.name)
	click.echo(
		f"Backfill {run.name}: decided {report.examined}/{report.total}, adopted {report.adopted}, "
		f"conflicts {report.conflicts}, queued {report.queued}, not in Xero {report.skipped}, "
		f"lookups {report.calls}. {report.stopped_by or 'Done.'}"
	)


commands = [xero]
