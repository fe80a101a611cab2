"""Backlog benchmark: our batched drain against the naive lookup-then-create path, under Xero's limits.

Runs the emulator with Xero's rate limits on a scaled clock, queues N new invoices (contact already known)
in a fresh MariaDB database, drains them with several workers sharing one Redis rate governor, then pushes
the same N invoices one at a time (GET by number, then PUT) through the same governor. Call counts come
from the emulator's counters; drain time is emulator-clock time in Xero minutes.

	python -m tests.benchmarks.backlog --invoices 2000 [--workers 4] [--time-scale 300] [--day-limit 5000]
	python -m tests.benchmarks.backlog --backfill 5000   # adds the backfill scenario (tests/benchmarks/backfill.py)
	python -m tests.benchmarks.backlog --journals 1000   # adds Journal Entries (tests/benchmarks/journals_backlog.py)
	python -m tests.benchmarks.backlog --invoices 500 --lines 500   # big invoices: batches under 3.5 MB
	python -m tests.benchmarks.backlog --trickle 2000 --rate 4 --plan starter   # tests/benchmarks/trickle.py
	python -m tests.benchmarks.backlog --orgs 50 --invoices 25000 --workers 4  # tests/benchmarks/many_orgs.py

--trickle and --orgs run their scenario (and its comparison) instead of the one-organisation backlog;
with --orgs, --invoices is the total over all organisations.

--lines N gives every invoice N lines with descriptions of about 400 characters (tests/support/
big_invoices.py); the last line then says the largest request body Xero received, how many requests it
refused as too large (413) and the byte floor: the fewest PUTs a claim of fifty such invoices can take
under the 3,000,000-byte budget.
"""

from __future__ import annotations

import argparse
import logging
import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from xero_python.accounting import AccountingApi

from nexwave_xero_connector.sync import batching
from nexwave_xero_connector.sync.drain import drain
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.sync.mapping import build_payload
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.xero.gateway import SdkGateway
from tests.benchmarks.rig import REDIS_URL, format_table, gateway_for, scaled_rig
from tests.emulator import XeroEmulator
from tests.support.big_invoices import big_invoice
from tests.support.db import PyMySqlDb
from tests.support.erp import SqlErp
from tests.support.governor import ScaledGovernorHooks
from tests.support.world import COMPANY, NoMasters, World, clone, nz_config

log = logging.getLogger(__name__)
TEMPLATE = "si_nz_exclusive_discount"
CUSTOMER = "Tui Hardware Ltd"
BATCH = 50


@dataclass
class PathResult:
	"""What one path cost."""

	invoices: int
	calls: int = 0
	hits_429: int = 0
	xero_seconds: float = 0.0
	synced: int = 0

	@property
	def calls_per_invoice(self) -> float:
		return self.calls / self.invoices if self.invoices else 0.0

	@property
	def drain_minutes(self) -> float:
		return self.xero_seconds / 60


@dataclass
class Result:
	"""The whole run."""

	ours: PathResult
	naive: PathResult
	lone: PathResult
	calls_for_5000: int = field(default=math.ceil(5000 / BATCH))
	max_request_bytes: int = 0
	too_large: int = 0
	byte_floor: float | None = None  # PUTs per invoice the byte budget allows (with --lines)

	def last_line(self) -> str:
		line = (
			f"calls_per_invoice={self.ours.calls_per_invoice:.4f} "
			f"naive_calls_per_invoice={self.naive.calls_per_invoice:.4f} "
			f"ours_429={self.ours.hits_429} drain_minutes={self.ours.drain_minutes:.2f}"
		)
		if self.byte_floor is not None:
			line += f" byte_floor_calls_per_invoice={self.byte_floor:.4f}"
		return line + f" max_request_bytes={self.max_request_bytes} 413s={self.too_large}"

	def table(self) -> str:
		rows = [
			("path", "invoices", "API calls", "calls/invoice", "429s", "drain (Xero min)"),
			*(
				(
					name,
					str(p.invoices),
					str(p.calls),
					f"{p.calls_per_invoice:.4f}",
					str(p.hits_429),
					f"{p.drain_minutes:.2f}",
				)
				for name, p in (("ours", self.ours), ("ours, lone invoice", self.lone), ("naive", self.naive))
			),
		]
		return format_table(rows)


def _queued(db: PyMySqlDb, tenant_id: str) -> tuple[int, datetime | None]:
	"""Rows still to push, and the earliest time one becomes claimable."""
	db.rollback()  # REPEATABLE READ: start a fresh snapshot
	row = db.query(
		"SELECT COUNT(*) AS n, MIN(next_attempt_at) AS nxt FROM `tabXero Sync Log` "
		"WHERE tenant_id = %(t)s AND status = 'Queued'",
		{"t": tenant_id},
	)[0]
	return int(row["n"]), row["nxt"]


def drain_with_workers(
	emulator: XeroEmulator, database: str, tenant_id: str, scaled: ScaledGovernorHooks, workers: int
) -> int:
	"""Drain the tenant's queue with `workers` threads, each with its own DB connection and gateway."""
	config = nz_config(tenant_id)
	synced = [0] * workers
	errors: list[BaseException] = []
	stops: list[str] = []

	def work(index: int) -> None:
		db = PyMySqlDb(database)
		try:
			journal = SqlJournal(db, datetime.now, worker=f"bench-{index}")
			erp = SqlErp(db, datetime.now)
			gateway = gateway_for(emulator, scaled)
			while True:
				report = drain(
					tenant_id,
					journal=journal,
					erp=erp,
					masters=NoMasters(),
					gateway=gateway,
					config=config,
				)
				synced[index] += report.synced
				if report.stopped_by:
					stops.append(report.stopped_by)
				if report.claimed and not report.stopped_by:
					continue
				left, next_at = _queued(db, tenant_id)
				if not left:
					return
				# Nothing claimable: rows are leased by another worker, or wait for their retry time.
				wait = (next_at - datetime.now()).total_seconds() if next_at else 0.02
				time.sleep(min(max(wait, 0.02), 5.0))
		except BaseException as exc:
			log.exception("benchmark worker %s failed", index)
			errors.append(exc)
		finally:
			db.close()

	_run_workers(work, workers, "bench", errors)
	if stops:
		log.warning("drain: stops %s", sorted(set(stops)))
	return sum(synced)


def naive_push(
	emulator: XeroEmulator, tenant_id: str, contact_id: str, docs: list[dict], scaled, workers: int
) -> int:
	"""One GET /Invoices?InvoiceNumbers=<n> then one PUT of that single invoice, per document."""
	config = nz_config(tenant_id)
	work: queue.Queue = queue.Queue()
	for doc in docs:
		work.put(doc)
	created = [0] * workers
	errors: list[BaseException] = []

	def call(fn: Callable, *args):
		while True:
			try:
				return fn(*args)
			except XeroError as exc:
				if exc.error_class != ErrorClass.RATE_LIMITED:
					raise
				time.sleep(max(0.01, exc.retry_after or 1.0))

	def run(index: int) -> None:
		gateway = gateway_for(emulator, scaled)
		try:
			while True:
				try:
					doc = work.get_nowait()
				except queue.Empty:
					return
				payload = build_payload(doc, config=config, masters=NoMasters(), contact_id=contact_id)
				found = call(gateway.find_documents, tenant_id, Kind.SALES_INVOICE, [payload.number])
				if any(r.number == payload.number and r.is_live for r in found):
					continue
				key = f"naive-{tenant_id}-{payload.number}"
				results = call(gateway.create_documents, tenant_id, Kind.SALES_INVOICE, [payload.body], key)
				created[index] += sum(1 for r in results if r.ok)
		except BaseException as exc:
			errors.append(exc)

	_run_workers(run, workers, "naive", errors)
	return sum(created)


def _run_workers(target: Callable[[int], None], workers: int, name: str, errors: list[BaseException]) -> None:
	"""Run target(0..workers-1) on threads, wait for all, and re-raise the first error any of them kept."""
	threads = [threading.Thread(target=target, args=(i,), name=f"{name}-{i}") for i in range(workers)]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	if errors:
		raise errors[0]


def _measure(emulator: XeroEmulator, tenant_id: str, invoices: int, fn: Callable[[], int]) -> PathResult:
	"""Run fn and read its cost off the emulator's counters (429s are counted for the whole emulator)."""
	calls0, hits0, t0 = emulator.total_calls(tenant_id), emulator.rate_limit_hits, emulator.now()
	done = fn()
	return PathResult(
		invoices=invoices,
		calls=emulator.total_calls(tenant_id) - calls0,
		hits_429=emulator.rate_limit_hits - hits0,
		xero_seconds=emulator.now() - t0,
		synced=done,
	)


def run(
	invoices: int = 2000,
	*,
	workers: int = 4,
	time_scale: float = 300.0,
	day_limit: int = 5000,
	redis_url: str = REDIS_URL,
	lines: int = 0,
	log: Callable[[str], None] = lambda s: None,
) -> Result:
	"""Run both paths in one emulator (one organisation each) and return their costs."""
	with scaled_rig("bench", time_scale=time_scale, day_limit=day_limit, redis_url=redis_url) as rig:
		emulator, database, scaled, run_id = rig.emulator, rig.database, rig.scaled, rig.run_id
		world = World(emulator, database, tenant_id=f"ours-{run_id}")
		try:
			ours_tenant = world.tenant_id
			emulator.tenants[ours_tenant].day_limit = day_limit
			# The contact is already known (as after the first invoice to this customer).
			contact = emulator.add_contact(ours_tenant, CUSTOMER)
			world.erp.set_contact_id("Customer", CUSTOMER, ours_tenant, contact)
			world.db.commit("bench: contact known")

			world.submit(clone(TEMPLATE, f"LONE-{run_id}"))
			lone = _measure(
				emulator,
				ours_tenant,
				1,
				lambda: drain_with_workers(emulator, database, ours_tenant, scaled, 1),
			)
			log(f"lone invoice: {lone.calls} call(s)")

			if lines:
				docs = [big_invoice(f"BL-{run_id}-{i:05d}", lines) for i in range(invoices)]
			else:
				docs = [clone(TEMPLATE, f"BL-{run_id}-{i:05d}") for i in range(invoices)]
			for doc in docs:
				world.submit(doc)
			log(f"queued {invoices} invoices; draining with {workers} workers")
			emulator.too_large = emulator.max_request_bytes = 0
			ours = _measure(
				emulator,
				ours_tenant,
				invoices,
				lambda: drain_with_workers(emulator, database, ours_tenant, scaled, workers),
			)
			log(f"ours: {ours.calls} calls, {ours.synced} synced")
			max_request_bytes, too_large = emulator.max_request_bytes, emulator.too_large
			floor = _byte_floor(docs, contact) if lines else None

			naive_tenant = f"naive-{run_id}"
			emulator.add_tenant(
				naive_tenant,
				name=COMPANY,
				country="NZ",
				base_currency="NZD",
				currencies=("NZD", "USD"),
				short_code="!kTl1",
				day_limit=day_limit,
			)
			naive_contact = emulator.add_contact(naive_tenant, CUSTOMER)
			log(f"naive: pushing {invoices} invoices one at a time")
			naive = _measure(
				emulator,
				naive_tenant,
				invoices,
				lambda: naive_push(emulator, naive_tenant, naive_contact, docs, scaled, workers),
			)
			return Result(
				ours=ours,
				naive=naive,
				lone=lone,
				max_request_bytes=max_request_bytes,
				too_large=too_large,
				byte_floor=floor,
			)
		finally:
			world.close()


def _byte_floor(docs: list[dict], contact_id: str) -> float:
	"""PUTs per invoice at the byte budget: each claim of fifty in as few requests as its bytes allow
	(sizes of the first claim's invoices, as the gateway measures them, stand for all: they are alike)."""
	config = nz_config("floor")
	gateway = SdkGateway(AccountingApi())
	sample = docs[:BATCH]
	bodies = [
		build_payload(d, config=config, masters=NoMasters(), contact_id=contact_id).body for d in sample
	]
	mean = batching.request_bytes(gateway.wire_sizes(Kind.SALES_INVOICE, bodies)) / len(bodies)
	claims = [min(BATCH, len(docs) - start) for start in range(0, len(docs), BATCH)]
	return sum(math.ceil(n * mean / batching.MAX_REQUEST_BYTES) for n in claims) / len(docs)


def main(argv: list[str] | None = None) -> Result:
	logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
	parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.backlog", description=__doc__)
	parser.add_argument("--invoices", type=int, default=2000)
	parser.add_argument("--workers", type=int, default=4)
	parser.add_argument("--time-scale", type=float, default=300.0, help="emulator seconds per real second")
	parser.add_argument("--day-limit", type=int, default=5000, help="the organisation's daily call budget")
	parser.add_argument(
		"--backfill", type=int, default=0, help="also run an adopt-only backfill of N documents"
	)
	parser.add_argument(
		"--lines", type=int, default=0, help="lines per invoice, with descriptions of about 400 characters"
	)
	parser.add_argument(
		"--journals", type=int, default=0, help="also drain N Journal Entries as Manual Journals"
	)
	parser.add_argument("--trickle", type=int, default=0, help="submit N invoices one at a time instead")
	parser.add_argument("--rate", type=float, default=4.0, help="--trickle: invoices per Xero second")
	parser.add_argument("--plan", choices=("starter", "standard"), default="starter", help="--trickle: plan")
	parser.add_argument("--orgs", type=int, default=0, help="spread --invoices over N organisations instead")
	args = parser.parse_args(argv)
	started = time.monotonic()
	if args.trickle:
		return _trickle(args)
	if args.orgs:
		return _orgs(args)
	result = run(
		args.invoices,
		workers=args.workers,
		time_scale=args.time_scale,
		day_limit=args.day_limit,
		lines=args.lines,
		log=lambda s: print(s, flush=True),
	)
	print()
	print(result.table())
	print(
		f"5,000-invoice backlog: {result.calls_for_5000} creates (one PUT per {BATCH}) "
		f"against a 1,000-call daily budget; wall time {time.monotonic() - started:.1f}s"
	)
	last_line = result.last_line()
	if args.backfill:
		from tests.benchmarks.backfill import run_backfill_bench

		backfilled = run_backfill_bench(
			args.backfill,
			time_scale=min(args.time_scale, 60.0),
			day_limit=max(args.day_limit, 2 * args.backfill),
			log=lambda s: print(s, flush=True),
		)
		print()
		print(backfilled.table())
		last_line += " " + backfilled.last_line_suffix()
	if args.journals:
		from tests.benchmarks.journals_backlog import run_journals_bench

		journals = run_journals_bench(
			args.journals,
			workers=args.workers,
			time_scale=args.time_scale,
			day_limit=args.day_limit,
			log=lambda s: print(s, flush=True),
		)
		last_line += " " + journals.last_line_suffix()
	print(last_line)
	return result


def _trickle(args) -> object:
	from tests.benchmarks import trickle

	scale = args.time_scale if "--time-scale" in sys.argv else trickle.TIME_SCALE
	ours, at_once = trickle.run_trickle_bench(
		args.trickle,
		rate=args.rate,
		plan=args.plan,
		time_scale=scale,
		workers=args.workers,
		log=lambda s: print(s, flush=True),
	)
	print()
	print(trickle.table([ours, at_once]))
	print(trickle.last_line(args.plan, ours, at_once))
	return ours


def _orgs(args) -> object:
	from tests.benchmarks import many_orgs

	def log(text: str) -> None:
		print(text, flush=True)

	scale = args.time_scale if "--time-scale" in sys.argv else many_orgs.TIME_SCALE
	ours = many_orgs.run_orgs(args.orgs, args.invoices, workers=args.workers, time_scale=scale, log=log)
	whole = many_orgs.run_orgs(
		args.orgs, args.invoices, workers=args.workers, slice_batches=None, time_scale=scale, log=log
	)
	print()
	print(many_orgs.table([ours, whole]))
	print(many_orgs.last_line(ours, whole))
	return ours


if __name__ == "__main__":
	main()
