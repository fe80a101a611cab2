"""Trickle benchmark (issue 20 item 5): invoices submitted one at a time at a steady rate, drained by the
Frappe layer's scheduling (tests/benchmarks/drain_jobs.py) with the batch-fill policy (sync/batching.py).

	python -m tests.benchmarks.backlog --trickle 2000 --rate 4 --plan starter [--time-scale 5] [--workers 4]

The rate is per Xero second: on the emulator's scaled clock the submitter runs `time-scale` times faster
in real time, and so do the fill window, the hold's steps and the sweep. Latency is from each invoice's
submit to its creation in Xero, both on the emulator's clock (Xero seconds). The same trickle sent at once
(no batch filling, what a drain did before) runs in the same process for the comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nexwave_xero_connector.sync.batching import fill_window
from tests.benchmarks.drain_jobs import DrainJobs
from tests.benchmarks.rig import REDIS_URL, format_table, percentile, scaled_rig, wait_synced
from tests.support.world import World, clone, nz_config

PLANS = {"starter": 1000, "standard": 5000}
# Real seconds are this many times shorter than Xero's: slow enough that a drain's own work (a PUT of
# fifty and its journal writes, about half a second on a laptop-class machine) stays small against the
# 30-second window it is measured by.
TIME_SCALE = 5.0
TEMPLATE = "si_nz_exclusive_discount"
CUSTOMER = "Tui Hardware Ltd"


@dataclass
class TrickleRun:
	label: str
	invoices: int
	calls: int = 0
	latencies: list[float] = field(default_factory=list)  # Xero seconds, submit to creation in Xero

	@property
	def calls_per_invoice(self) -> float:
		return self.calls / self.invoices if self.invoices else 0.0

	def latency(self, share: float) -> float:
		return percentile(self.latencies, share)

	def row(self) -> tuple[str, ...]:
		return (
			self.label,
			str(self.invoices),
			str(self.calls),
			f"{self.calls_per_invoice:.4f}",
			f"{self.latency(0.5):.1f}",
			f"{self.latency(0.95):.1f}",
			f"{max(self.latencies, default=0):.1f}",
		)


def run_trickle(
	invoices: int,
	*,
	rate: float,
	plan: str,
	fill: bool = True,
	time_scale: float = TIME_SCALE,
	workers: int = 4,
	redis_url: str = REDIS_URL,
	log: Callable[[str], None] = lambda s: None,
) -> TrickleRun:
	"""Submit `invoices` at `rate` a Xero second into one organisation on `plan` and drain them as they
	come; with `fill`, small batches wait for more as the policy says (else every drain sends at once)."""
	limit = PLANS[plan]
	label = f"{plan}, {'batches fill' if fill else 'sent at once'}"
	with scaled_rig("trickle", time_scale=time_scale, day_limit=limit, redis_url=redis_url) as rig:
		emulator, run_id = rig.emulator, rig.run_id
		world = World(emulator, rig.database, tenant_id=f"trickle-{run_id}")
		tenant_id = world.tenant_id
		try:
			emulator.tenants[tenant_id].day_limit = limit
			contact = emulator.add_contact(tenant_id, CUSTOMER)
			world.erp.set_contact_id("Customer", CUSTOMER, tenant_id, contact)
			world.db.commit("bench: contact known")
			emulator.reset_counters()

			def window(tenant: str) -> float:
				return fill_window(limit, rig.governor.day_remaining(tenant)) / time_scale if fill else 0.0

			jobs = DrainJobs(
				rig.database,
				workers=workers,
				gateway_for=rig.gateway,
				config_for=nz_config,
				window_for=window,
				hold_step=1.0 / time_scale,
				sweep_every=60.0 / time_scale,
			)
			jobs.start()
			submitted: dict[str, float] = {}
			interval = 1.0 / (rate * time_scale)
			started = time.monotonic()
			try:
				for i in range(invoices):
					delay = started + i * interval - time.monotonic()
					if delay > 0:
						time.sleep(delay)
					name = f"TR-{run_id}-{i:05d}"
					world.submit(clone(TEMPLATE, name))
					submitted[name] = emulator.now()
					jobs.wake(tenant_id)  # after the submit's commit, as events.queue_row's wake-up
				log(f"{label}: {invoices} submitted in {time.monotonic() - started:.1f}s; draining the rest")
				wait_synced(world.db, invoices, tenant_id)
			finally:
				jobs.stop()
			created = {r["number"]: r["updated"] for r in emulator.ledger(tenant_id)}
			return TrickleRun(
				label=label,
				invoices=invoices,
				calls=emulator.total_calls(tenant_id),
				latencies=[created[name] - at for name, at in submitted.items()],
			)
		finally:
			world.close()


def table(runs: list[TrickleRun]) -> str:
	rows = [
		("run", "invoices", "API calls", "calls/invoice", "p50 latency s", "p95 latency s", "max latency s"),
		*(r.row() for r in runs),
	]
	return format_table(rows)


def run_trickle_bench(
	invoices: int, *, rate: float, plan: str, time_scale: float, workers: int, log=lambda s: None
) -> tuple[TrickleRun, TrickleRun]:
	"""The policy's run and, for the comparison, the same trickle sent at once."""
	ours = run_trickle(invoices, rate=rate, plan=plan, time_scale=time_scale, workers=workers, log=log)
	at_once = run_trickle(
		invoices, rate=rate, plan=plan, fill=False, time_scale=time_scale, workers=workers, log=log
	)
	return ours, at_once


def last_line(plan: str, ours: TrickleRun, at_once: TrickleRun) -> str:
	return (
		f"plan={plan} calls_per_invoice={ours.calls_per_invoice:.4f} p95_latency_s={ours.latency(0.95):.1f} "
		f"max_latency_s={max(ours.latencies, default=0):.1f} "
		f"at_once_calls_per_invoice={at_once.calls_per_invoice:.4f} "
		f"at_once_p95_latency_s={at_once.latency(0.95):.1f}"
	)
