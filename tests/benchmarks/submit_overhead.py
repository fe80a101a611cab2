"""What the connector adds to a Sales Invoice submit, measured on a real bench site (issue 11 item 5).

Run with the bench's Python from its sites directory, with no worker running:

    cd /path/to/frappe-bench/sites && ../env/bin/python /path/to/clone/tests/benchmarks/submit_overhead.py SITE 50

Each round inserts a draft Sales Invoice (not timed), then times submit() plus the after-commit callbacks
(where the drain wake-up runs) and rolls back, so the site keeps nothing. Rounds alternate A (the app's
hooks on) and B (the app's doc events removed), ABAB, after a warm-up of each. The settings are enabled
and _Test Company bound to a tenant inside each round's transaction, so they are rolled back too. The
only trace left is the one drain job the first wake-up puts in the queue, removed at the end.
"""

from __future__ import annotations

import statistics
import sys
import time


def main(site: str, rounds: int) -> None:
	import frappe

	frappe.init(site=site)
	frappe.connect()
	try:
		frappe.set_user("Administrator")
		results = measure(rounds)
	finally:
		frappe.db.rollback()
		frappe.clear_document_cache("Xero Sync Settings", "Xero Sync Settings")  # it cached rolled-back rows
		forget_drain_jobs()
		frappe.destroy()
	a, b = results["A"], results["B"]
	for label, values in (("with connector", a), ("hooks removed", b)):
		print(
			f"{label:15} n={len(values)} mean={statistics.mean(values):.2f} ms "
			f"median={statistics.median(values):.2f} ms"
		)
	print(
		f"ratio mean={statistics.mean(a) / statistics.mean(b):.3f} "
		f"median={statistics.median(a) / statistics.median(b):.3f} "
		f"difference mean={statistics.mean(a) - statistics.mean(b):.2f} ms "
		f"median={statistics.median(a) - statistics.median(b):.2f} ms"
	)
	# each A ran right before its B: the pair's difference cancels the machine's drift under load
	pairs = [x - y for x, y in zip(a, b, strict=True)]
	print(f"paired difference median={statistics.median(pairs):.2f} ms mean={statistics.mean(pairs):.2f} ms")


def measure(rounds: int) -> dict[str, list[float]]:
	import frappe

	with_hooks = frappe.get_doc_hooks()
	without = {
		doctype: {
			event: [m for m in methods if not m.startswith("nexwave_xero_connector.")]
			for event, methods in events.items()
		}
		for doctype, events in with_hooks.items()
	}
	results: dict[str, list[float]] = {"A": [], "B": []}
	for _warm_up in range(3):
		for label in ("A", "B"):
			one_submit(with_hooks if label == "A" else without, queued=label == "A")
	for _round in range(rounds):
		for label in ("A", "B"):
			results[label].append(one_submit(with_hooks if label == "A" else without, queued=label == "A"))
	return results


def one_submit(hooks: dict, *, queued: bool) -> float:
	"""Insert a draft invoice, time submit() and the after-commit callbacks, roll everything back.
	`queued` says whether the connector must have written the invoice's outbox row (checked, untimed)."""
	import frappe
	from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

	configure()
	frappe.local.doc_events_hooks = hooks
	si = create_sales_invoice(do_not_submit=True)
	started = time.perf_counter()
	si.submit()
	frappe.db.after_commit.run()
	elapsed = (time.perf_counter() - started) * 1000
	row = frappe.db.exists("Xero Sync Log", {"reference_doctype": "Sales Invoice", "reference_name": si.name})
	assert bool(row) == queued, f"outbox row {'missing' if queued else 'written with the hooks removed'}"
	frappe.db.rollback()
	return elapsed


def configure() -> None:
	"""Enable the connector for _Test Company inside the current transaction (rolled back after)."""
	import frappe

	settings = frappe.get_single("Xero Sync Settings")
	settings.update({"enabled": 1, "sync_sales_invoices": 1})
	settings.set("tenants", [{"company": "_Test Company", "tenant_id": "tenant-benchmark"}])
	settings.flags.ignore_validate = True
	settings.save(ignore_permissions=True)
	frappe.get_cached_doc("Xero Sync Settings")  # warm, as any earlier request would have


def forget_drain_jobs() -> None:
	"""Remove the drain job(s) the wake-ups enqueued for the benchmark tenant (no worker ran them)."""
	import frappe
	from frappe.utils.background_jobs import get_job

	job_id = frappe.cache.get_value("xero-drain-job:tenant-benchmark")
	job = job_id and get_job(job_id)
	if job:
		job.cancel()
		job.delete()
	frappe.cache.delete_value("xero-drain-job:tenant-benchmark")


if __name__ == "__main__":
	main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50)
