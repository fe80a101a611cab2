"""Journal Entry backlog: N new Journal Entries drained as Manual Journals under Xero's limits.

The organisation facts (with Xero's system accounts) are given, as the Frappe layer's cache gives them, so
what is measured is what the drain itself spends: one PUT per fifty entries.

	python -m tests.benchmarks.backlog --journals 1000 [--workers 4] [--time-scale 300]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nexwave_xero_connector.sync.drain import drain
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.sync.preflight import OrgInfo
from tests.benchmarks.rig import REDIS_URL, scaled_rig
from tests.support.db import PyMySqlDb
from tests.support.erp import SqlErp
from tests.support.journal_entries import journal_entry, journals_on, submit_journal_entry
from tests.support.world import NoMasters, World


@dataclass
class JournalsResult:
	journals: int
	calls: int
	synced: int
	xero_seconds: float

	@property
	def calls_per_journal(self) -> float:
		return self.calls / self.journals if self.journals else 0.0

	def last_line_suffix(self) -> str:
		return (
			f"calls_per_journal={self.calls_per_journal:.4f} journals_synced={self.synced}/{self.journals} "
			f"journal_drain_minutes={self.xero_seconds / 60:.2f}"
		)


def run_journals_bench(
	journals: int,
	*,
	workers: int = 4,
	time_scale: float = 300.0,
	day_limit: int = 5000,
	redis_url: str = REDIS_URL,
	log: Callable[[str], None] = lambda s: None,
) -> JournalsResult:
	"""Queue `journals` Journal Entries and drain them with `workers` threads through one rate governor."""
	with scaled_rig("bench_mj", time_scale=time_scale, day_limit=day_limit, redis_url=redis_url) as rig:
		emulator, database, run_id = rig.emulator, rig.database, rig.run_id
		world = journals_on(World(emulator, database, tenant_id=f"mj-{run_id}"))
		try:
			tenant = world.tenant_id
			emulator.tenants[tenant].day_limit = day_limit
			org = OrgInfo(base_currency="NZD", system_accounts=frozenset({"610", "800", "820", "960"}))
			for i in range(journals):
				submit_journal_entry(world, journal_entry(f"JV-{run_id}-{i:05d}"))
			log(f"queued {journals} journal entries; draining with {workers} workers")
			calls0, t0 = emulator.total_calls(tenant), emulator.now()
			synced = [0] * workers
			errors: list[BaseException] = []

			def work(index: int) -> None:
				db = PyMySqlDb(database)
				try:
					journal = SqlJournal(db, datetime.now, worker=f"bench-mj-{index}")
					gateway = rig.gateway()
					while True:
						report = drain(
							tenant,
							journal=journal,
							erp=SqlErp(db, datetime.now),
							masters=NoMasters(),
							gateway=gateway,
							config=world.config,
							org=org,
						)
						synced[index] += report.synced
						if report.claimed and not report.stopped_by:
							continue
						db.rollback()
						left = db.query(
							"SELECT COUNT(*) AS n FROM `tabXero Sync Log` WHERE tenant_id = %(t)s AND status = 'Queued'",
							{"t": tenant},
						)[0]["n"]
						if not left:
							return
						time.sleep(0.05)
				except BaseException as exc:
					errors.append(exc)
				finally:
					db.close()

			threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
			for t in threads:
				t.start()
			for t in threads:
				t.join()
			if errors:
				raise errors[0]
			return JournalsResult(
				journals=journals,
				calls=emulator.total_calls(tenant) - calls0,
				synced=sum(synced),
				xero_seconds=emulator.now() - t0,
			)
		finally:
			world.close()
