"""What the connector adds to a Sales Invoice submit, measured on a real bench site (issue 20 item 3).

Run with the bench's Python from its sites directory, with no worker running:

    cd /path/to/frappe-bench/sites && ../env/bin/python /path/to/clone/tests/benchmarks/submit_overhead.py SITE 30

The method is the one a user sees: the connector **enabled** (A) against **disabled** (B) in Xero Sync
Settings, each round timing `submit()` **and its commit** (the commit runs the after-commit wake-up),
interleaved ABAB after three warm-up rounds of each. The draft invoice of each round is inserted and
committed before the clock starts; the settings switch between rounds is committed and its cache warmed,
untimed. _Test Company is bound to a benchmark organisation for the run.

The submitted invoices stay on the site (use a test site). At the end the settings are put back as they
were, the benchmark organisation's outbox rows are deleted and its wake-up and drain job are dropped.
"""

from __future__ import annotations

import statistics
import sys
import time

TENANT = "tenant-benchmark"
COMPANY = "_Test Company"
SETTINGS = "Xero Sync Settings"


def main(site: str, rounds: int) -> None:
	import frappe

	frappe.init(site=site)
	frappe.connect()
	try:
		frappe.set_user("Administrator")
		saved = bind()
		try:
			results = measure(rounds)
		finally:
			restore(saved)
	finally:
		frappe.destroy()
	report(results)


def report(results: dict[str, list[float]]) -> None:
	a, b = results["A"], results["B"]
	for label, values in (("enabled", a), ("disabled", b)):
		print(
			f"{label:9} n={len(values)} mean={statistics.mean(values):.2f} ms "
			f"median={statistics.median(values):.2f} ms"
		)
	# each A ran right before its B: the pair's difference cancels the machine's drift under load
	pairs = [x - y for x, y in zip(a, b, strict=True)]
	print(f"paired difference median={statistics.median(pairs):.2f} ms mean={statistics.mean(pairs):.2f} ms")
	print(
		f"ratio mean={statistics.mean(a) / statistics.mean(b):.3f} "
		f"median={statistics.median(a) / statistics.median(b):.3f}"
	)


def bind() -> dict:
	"""Bind _Test Company to the benchmark organisation (committed); return what to put back."""
	import frappe

	settings = frappe.get_single(SETTINGS)
	saved = {
		"enabled": settings.enabled,
		"sync_sales_invoices": settings.sync_sales_invoices,
		"tenants": [row.as_dict(no_default_fields=True) for row in settings.tenants],
	}
	settings.update({"enabled": 1, "sync_sales_invoices": 1})
	settings.set("tenants", [{"company": COMPANY, "tenant_id": TENANT}])
	settings.flags.ignore_validate = True
	settings.save(ignore_permissions=True)
	frappe.db.commit()
	return saved


def restore(saved: dict) -> None:
	import frappe

	frappe.db.rollback()
	settings = frappe.get_single(SETTINGS)
	settings.update({"enabled": saved["enabled"], "sync_sales_invoices": saved["sync_sales_invoices"]})
	settings.set("tenants", saved["tenants"])
	settings.flags.ignore_validate = True
	settings.save(ignore_permissions=True)
	frappe.db.delete("Xero Sync Log", {"tenant_id": TENANT})
	frappe.db.commit()
	forget_drain_jobs()


def switch(enabled: bool) -> None:
	"""Turn the connector on or off, committed, and warm the cached settings as any request would."""
	import frappe

	frappe.db.set_single_value(SETTINGS, "enabled", int(enabled))
	frappe.db.commit()
	frappe.clear_document_cache(SETTINGS, SETTINGS)
	frappe.get_cached_doc(SETTINGS)


def measure(rounds: int) -> dict[str, list[float]]:
	results: dict[str, list[float]] = {"A": [], "B": []}
	for _warm_up in range(3):
		for label in ("A", "B"):
			one_submit(enabled=label == "A")
	for _round in range(rounds):
		for label in ("A", "B"):
			results[label].append(one_submit(enabled=label == "A"))
	return results


def one_submit(*, enabled: bool) -> float:
	"""Insert and commit a draft invoice, then time submit() and its commit; check the outbox row
	(untimed) is there exactly when the connector is enabled."""
	import frappe
	from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

	switch(enabled)
	si = create_sales_invoice(do_not_submit=True)
	frappe.db.commit()
	started = time.perf_counter()
	si.submit()
	frappe.db.commit()
	elapsed = (time.perf_counter() - started) * 1000
	row = frappe.db.exists("Xero Sync Log", {"reference_doctype": "Sales Invoice", "reference_name": si.name})
	assert bool(row) == enabled, f"outbox row {'missing' if enabled else 'written while disabled'}"
	return elapsed


def forget_drain_jobs() -> None:
	"""Drop the benchmark organisation's pending wake-up and the drain jobs it enqueued (no worker ran)."""
	import frappe
	from frappe.utils.background_jobs import get_queue

	from nexwave_xero_connector.constants import DRAIN_QUEUE
	from nexwave_xero_connector.events import forget_wake

	forget_wake(TENANT)
	queue = get_queue(DRAIN_QUEUE)
	for job in queue.jobs:
		if (job.kwargs.get("kwargs") or {}).get("tenant_id") == TENANT:
			job.cancel()
			job.delete()
	frappe.db.commit()


if __name__ == "__main__":
	main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
