"""Many organisations on one site (issue 20 item 6): a backlog in each of N Xero organisations, drained
by W workers through the Frappe layer's scheduling (tests/benchmarks/drain_jobs.py), sharing one Redis
rate governor as worker hosts share it.

	python -m tests.benchmarks.backlog --orgs 50 --invoices 25000 --workers 4

Every organisation's invoices are queued before the workers start (a backlog each); their wake-ups are in
the queue in organisation order. Fairness is the p95 time-to-Synced (from the start of the drain to each
invoice's creation in Xero, on the emulator's clock) of the slowest organisation over that of the fastest.
The same backlog drained a whole organisation per job (what a drain job did before it took slices) runs
in the same process for the comparison.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.benchmarks.drain_jobs import SLICE_BATCHES, DrainJobs
from tests.benchmarks.rig import REDIS_URL, format_table, percentile, scaled_rig, wait_synced
from tests.support.world import COMPANY, World, clone, nz_config

TEMPLATE = "si_nz_exclusive_discount"
CUSTOMER = "Tui Hardware Ltd"
TIME_SCALE = 60.0  # Xero seconds per real second: the minute limits stay what they are, in real time


@dataclass
class OrgsRun:
	label: str
	orgs: int
	invoices: int
	calls: int = 0
	p95_by_org: dict[str, float] = field(default_factory=dict)  # Xero seconds from the start
	drain_seconds: float = 0.0  # Xero seconds, the whole backlog
	wall_seconds: float = 0.0
	hits_429: int = 0
	created: dict[str, list[float]] = field(default_factory=dict)  # with keep_ledgers: creation times by org

	@property
	def calls_per_invoice(self) -> float:
		return self.calls / self.invoices if self.invoices else 0.0

	@property
	def fairness(self) -> float:
		fastest = min(self.p95_by_org.values())
		return max(self.p95_by_org.values()) / fastest if fastest > 0 else math.inf

	def row(self) -> tuple[str, ...]:
		return (
			self.label,
			str(self.orgs),
			str(self.invoices),
			str(self.calls),
			f"{self.calls_per_invoice:.4f}",
			f"{min(self.p95_by_org.values()):.0f}",
			f"{max(self.p95_by_org.values()):.0f}",
			f"{self.fairness:.2f}",
			f"{self.drain_seconds:.0f}",
			str(self.hits_429),
		)


def run_orgs(
	orgs: int,
	invoices: int,
	*,
	workers: int = 4,
	slice_batches: int | None = SLICE_BATCHES,
	time_scale: float = TIME_SCALE,
	day_limit: int = 5000,
	redis_url: str = REDIS_URL,
	keep_ledgers: bool = False,
	log: Callable[[str], None] = lambda s: None,
) -> OrgsRun:
	"""Queue invoices // orgs new invoices in each of `orgs` organisations, then drain them all."""
	label = f"slices of {slice_batches} batches" if slice_batches else "a whole organisation per job"
	per_org = invoices // orgs
	with scaled_rig("orgs", time_scale=time_scale, day_limit=day_limit, redis_url=redis_url) as rig:
		emulator, run_id = rig.emulator, rig.run_id
		tenants = [f"org{i:02d}-{run_id}" for i in range(orgs)]
		world = World(emulator, rig.database, tenant_id=tenants[0])
		try:
			for tenant_id in tenants:
				if tenant_id != world.tenant_id:
					emulator.add_tenant(
						tenant_id, name=COMPANY, country="NZ", base_currency="NZD", currencies=("NZD", "USD")
					)
				emulator.tenants[tenant_id].day_limit = day_limit
				contact = emulator.add_contact(tenant_id, CUSTOMER)
				world.erp.set_contact_id("Customer", CUSTOMER, tenant_id, contact)
			world.db.commit("bench: contacts known")
			queued = time.monotonic()
			for i in range(per_org):
				for n, tenant_id in enumerate(tenants):
					world.erp.submit(clone(TEMPLATE, f"MO-{run_id}-{n:02d}-{i:05d}"), tenant_id)
			log(
				f"{label}: queued {per_org * orgs} invoices in {orgs} organisations in "
				f"{time.monotonic() - queued:.0f}s"
			)
			emulator.reset_counters()
			jobs = DrainJobs(
				rig.database,
				workers=workers,
				gateway_for=rig.gateway,
				config_for=nz_config,
				slice_batches=slice_batches,
				# a minute of real time, as jobs.sweep runs: the drains' own work is real time too, and a
				# sweep each scaled minute (one real second) would hand the organisations running at that
				# moment an extra turn many times a drain
				sweep_every=60.0,
			)
			start, wall = emulator.now(), time.monotonic()
			for tenant_id in tenants:
				jobs.wake(tenant_id)
			jobs.start()
			try:
				wait_synced(world.db, per_org * orgs, timeout=3600.0)
			finally:
				jobs.stop()
			run = OrgsRun(
				label=label,
				orgs=orgs,
				invoices=per_org * orgs,
				calls=sum(emulator.total_calls(t) for t in tenants),
				drain_seconds=emulator.now() - start,
				wall_seconds=time.monotonic() - wall,
				hits_429=emulator.rate_limit_hits,
			)
			for tenant_id in tenants:
				times = [r["updated"] - start for r in emulator.ledger(tenant_id)]
				run.p95_by_org[tenant_id] = percentile(times, 0.95)
				if keep_ledgers:
					run.created[tenant_id] = times
			return run
		finally:
			world.close()


def table(runs: list[OrgsRun]) -> str:
	rows = [
		(
			"drain jobs",
			"orgs",
			"invoices",
			"API calls",
			"calls/invoice",
			"fastest org p95 s",
			"slowest org p95 s",
			"fairness",
			"drain s",
			"429s",
		),
		*(r.row() for r in runs),
	]
	return format_table(rows)


def last_line(ours: OrgsRun, whole: OrgsRun | None) -> str:
	line = f"orgs={ours.orgs} fairness={ours.fairness:.2f} calls_per_invoice={ours.calls_per_invoice:.4f}"
	if whole is not None:
		line += f" whole_org_fairness={whole.fairness:.2f}"
	return line
