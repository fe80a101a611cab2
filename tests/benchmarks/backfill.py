"""Backfill benchmark: adopt-only over N older invoices, ours (batched lookups, paced) against the naive path
(one GET per document), while live invoices keep being submitted and pushed by a drain.

Half the older invoices are already in Xero (keyed by hand: same number and total), a few with another
total (conflicts), the rest missing. Both paths share one Redis rate governor with the live drain, as on a
site. Calls are counted at the HTTP hook of the backfill's own gateway; 429s are the emulator's; live-push
latency is from submit to Synced, in Xero seconds (emulator clock; at a high time scale the database's own
real-time work is magnified, so compare the paths with each other and with the no-backfill baseline).
"""

from __future__ import annotations

import datetime
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import redis

from nexwave_xero_connector.sync.backfill import ADOPT_ONLY, backfill
from nexwave_xero_connector.sync.drain import drain
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.sync.mapping import build_payload, owed_total
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.xero.governor import RateGovernor
from tests.benchmarks.backlog import CUSTOMER, TEMPLATE
from tests.benchmarks.rig import REDIS_URL, format_table
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb, create_database, drop_database
from tests.support.erp import SqlErp
from tests.support.governor import ScaledGovernorHooks
from tests.support.seeding import StandInBackfillSource, insert_document
from tests.support.world import COMPANY, NoMasters, World, clone, emulator_gateway, nz_config

PACE_XERO_SECONDS = 2.0  # the job's pace: half of the 60-a-minute budget


@dataclass
class BackfillPath:
	documents: int
	calls: int = 0
	hits_429: int = 0
	adopted: int = 0
	conflicts: int = 0
	missing: int = 0
	latencies: list[float] = field(default_factory=list)  # live pushes during the run, Xero seconds
	xero_seconds: float = 0.0

	@property
	def calls_per_doc(self) -> float:
		return self.calls / self.documents if self.documents else 0.0

	def latency(self) -> str:
		if not self.latencies:
			return "-"
		values = sorted(self.latencies)
		p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
		return (
			f"median {statistics.median(values):.1f}s p95 {p95:.1f}s max {values[-1]:.1f}s (n={len(values)})"
		)


@dataclass
class BackfillResult:
	ours: BackfillPath
	naive: BackfillPath
	baseline: BackfillPath  # live pushes with no backfill running

	def table(self) -> str:
		rows = [
			(
				"backfill path",
				"docs",
				"calls",
				"calls/doc",
				"429s",
				"adopted",
				"conflicts",
				"missing",
				"live push latency",
			),
			*(
				(
					name,
					str(p.documents),
					str(p.calls),
					f"{p.calls_per_doc:.4f}",
					str(p.hits_429),
					str(p.adopted),
					str(p.conflicts),
					str(p.missing),
					p.latency(),
				)
				for name, p in (("ours (adopt only)", self.ours), ("naive (GET per doc)", self.naive))
			),
			("no backfill", "-", "-", "-", "-", "-", "-", "-", self.baseline.latency()),
		]
		return format_table(rows)

	def last_line_suffix(self) -> str:
		return f"backfill_calls_per_doc={self.ours.calls_per_doc:.4f} backfill_429={self.ours.hits_429}"


class CountingHooks:
	"""The governor's hooks, counting the HTTP requests one gateway lets out."""

	def __init__(self, scaled: ScaledGovernorHooks):
		self.scaled = scaled
		self.requests = 0

	def before_request(self, tenant_id, method, url):
		self.scaled.before_request(tenant_id, method, url)
		self.requests += 1

	def on_response(self, tenant_id, status, headers):
		self.scaled.on_response(tenant_id, status, headers)


def _gateway(emulator, hooks):
	return emulator_gateway(
		emulator.identity_url,
		timeout=(5, 30),
		before_request=hooks.before_request,
		on_response=hooks.on_response,
	)


def _seed(world: World, emulator: XeroEmulator, documents: int, tag: str) -> None:
	"""N older invoices without rows; half keyed into Xero by hand (1 in 25 of those with another total)."""
	contact = emulator.add_contact(world.tenant_id, CUSTOMER)  # keyed by hand: unnumbered
	config = nz_config(world.tenant_id)
	seeder = emulator_gateway(emulator.identity_url, timeout=(5, 30))
	bodies = []
	for i in range(documents):
		doc = clone(TEMPLATE, f"OLD-{tag}-{i:05d}", posting_date="2026-11-10")
		insert_document(world, doc)
		if i % 2 == 0:
			payload = build_payload(doc, config=config, masters=NoMasters(), contact_id=contact)
			body = {k: v for k, v in payload.body.items() if k != "Url"}
			if i % 50 == 0:  # keyed with a typo in the amount: a conflict
				line = dict(body["LineItems"][0])
				line["UnitAmount"] = Decimal(line["UnitAmount"]) + 1
				body["LineItems"] = [line, *body["LineItems"][1:]]
			bodies.append(body)
	for start in range(0, len(bodies), 50):
		chunk = bodies[start : start + 50]
		while True:
			try:
				results = seeder.create_documents(
					world.tenant_id, Kind.SALES_INVOICE, chunk, f"seed-{tag}-{start}"
				)
				break
			except XeroError as exc:
				if exc.error_class != ErrorClass.RATE_LIMITED:
					raise
				time.sleep(0.05)
		assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:3]
	assert owed_total(clone(TEMPLATE, "x")) > 0


class LivePushes:
	"""Submits a live invoice every `every` real seconds and drains the tenant, like a busy site."""

	def __init__(self, world, database, scaled, tag, every):
		self.world, self.database, self.scaled, self.tag, self.every = world, database, scaled, tag, every
		self.stop = threading.Event()
		self.names: list[str] = []
		self.errors: list[BaseException] = []

	def __enter__(self):
		self.threads = [threading.Thread(target=self._submit), threading.Thread(target=self._drain)]
		for t in self.threads:
			t.start()
		return self

	def __exit__(self, *exc):
		self.stop.set()
		for t in self.threads:
			t.join()
		if self.errors:
			raise self.errors[0]

	def _submit(self):
		db = PyMySqlDb(self.database)
		erp = SqlErp(db, datetime.datetime.now)
		try:
			i = 0
			while not self.stop.is_set():
				name = f"LIVE-{self.tag}-{i:05d}"
				erp.submit(clone(TEMPLATE, name), self.world.tenant_id)
				self.names.append(name)
				i += 1
				self.stop.wait(self.every)
		except BaseException as exc:
			self.errors.append(exc)
		finally:
			db.close()

	def _drain(self):
		db = PyMySqlDb(self.database)
		try:
			journal = SqlJournal(db, datetime.datetime.now, worker="live")
			erp = SqlErp(db, datetime.datetime.now)
			hooks = CountingHooks(self.scaled)
			gateway = _gateway(self.world.emulator, hooks)
			config = nz_config(self.world.tenant_id)
			while True:
				report = drain(
					self.world.tenant_id,
					journal=journal,
					erp=erp,
					masters=NoMasters(),
					gateway=gateway,
					config=config,
				)
				if self.stop.is_set() and not report.claimed and not self._left(db):
					return
				if not report.claimed:
					time.sleep(0.01)
		except BaseException as exc:
			self.errors.append(exc)
		finally:
			db.close()

	def _left(self, db) -> int:
		db.rollback()
		return db.query(
			"SELECT COUNT(*) AS n FROM `tabXero Sync Log` WHERE tenant_id = %(t)s AND status = 'Queued'",
			{"t": self.world.tenant_id},
		)[0]["n"]

	def latencies(self, time_scale: float) -> list[float]:
		self.world.db.rollback()  # a fresh snapshot: the drain committed on its own connection
		rows = self.world.db.query(
			"SELECT TIMESTAMPDIFF(MICROSECOND, creation, synced_at) AS us FROM `tabXero Sync Log` "
			"WHERE reference_name IN %(n)s AND status = 'Synced'",
			{"n": tuple(self.names) or ("",)},
		)
		return [int(r["us"]) / 1e6 * time_scale for r in rows]


def _naive_adopt_only(world, gateway, source) -> tuple[int, int, int]:
	"""One GET by number per document, retried when the governor refuses; nothing written but counts."""
	adopted = conflicts = missing = 0
	for c in source.candidates(
		COMPANY, [Kind.SALES_INVOICE], datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)
	):
		while True:
			try:
				found = gateway.find_documents(world.tenant_id, Kind.SALES_INVOICE, [c.number])
				break
			except XeroError as exc:
				if exc.error_class != ErrorClass.RATE_LIMITED:
					raise
				time.sleep(max(0.005, exc.retry_after or 0.05))
		live = [r for r in found if r.is_live]
		if not live:
			missing += 1
		elif live[0].total == c.total:
			adopted += 1
		else:
			conflicts += 1
	return adopted, conflicts, missing


def run_backfill_bench(
	documents: int = 5000,
	*,
	time_scale: float = 60.0,
	day_limit: int = 5000,
	live_every_xero_seconds: float = 10.0,
	baseline_seconds: float = 3.0,
	redis_url: str = REDIS_URL,
	log=lambda s: None,
) -> BackfillResult:
	run_id = uuid.uuid4().hex[:8]
	emulator = XeroEmulator(rate_limits=True, time_scale=time_scale)
	emulator.start(port=0)
	databases = []
	client = redis.Redis.from_url(redis_url)
	prefix = f"nxc-bfbench-{run_id}"
	results = {}
	worlds = []
	try:
		for path in ("ours", "naive"):
			database = create_database("nxc_bfbench")  # each path its own ERP: the other's rows stay out
			databases.append(database)
			governor = RateGovernor(
				client, key_prefix=f"{prefix}-{path}", per_day=day_limit, clock=emulator.now
			)
			scaled = ScaledGovernorHooks(governor, time_scale)
			world = World(emulator, database, tenant_id=f"{path}-{run_id}")
			worlds.append(world)
			emulator.tenants[world.tenant_id].day_limit = day_limit
			tag = f"{path}-{run_id}"
			_seed(world, emulator, documents, tag)
			log(f"{path}: seeded {documents} older invoices, half of them keyed into Xero")
			hooks = CountingHooks(scaled)
			gateway = _gateway(emulator, hooks)
			source = StandInBackfillSource(world)
			result = BackfillPath(documents)
			if path == "ours":
				with LivePushes(
					world, database, scaled, f"{tag}-alone", live_every_xero_seconds / time_scale
				) as alone:
					time.sleep(baseline_seconds)
				baseline = alone.latencies(time_scale)
			hits0, t0 = emulator.rate_limit_hits, emulator.now()
			with LivePushes(world, database, scaled, tag, live_every_xero_seconds / time_scale) as live:
				if path == "ours":
					report = backfill(
						world.tenant_id,
						COMPANY,
						[Kind.SALES_INVOICE],
						datetime.date(2026, 1, 1),
						datetime.date(2026, 12, 31),
						ADOPT_ONLY,
						source=source,
						gateway=gateway,
						db=world.db,
						clock=datetime.datetime.now,
						min_interval=PACE_XERO_SECONDS / time_scale,
						max_wait=3600,
					)
					assert not report.stopped_by, report.stopped_by
					result.adopted, result.conflicts, result.missing = (
						report.adopted,
						report.conflicts,
						report.skipped,
					)
				else:
					result.adopted, result.conflicts, result.missing = _naive_adopt_only(
						world, gateway, source
					)
			result.calls = hooks.requests
			result.hits_429 = emulator.rate_limit_hits - hits0
			result.xero_seconds = emulator.now() - t0
			result.latencies = live.latencies(time_scale)
			log(f"{path}: {result.calls} calls, live pushes {result.latency()}")
			results[path] = result
		return BackfillResult(
			ours=results["ours"], naive=results["naive"], baseline=BackfillPath(0, latencies=baseline)
		)
	finally:
		for world in worlds:
			world.close()
		emulator.stop()
		for database in databases:
			drop_database(database)
		for key in client.scan_iter(f"{prefix}*"):
			client.delete(key)
		client.close()
