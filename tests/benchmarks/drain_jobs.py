"""The Frappe layer's drain jobs, on threads: how events.wake_drain and jobs.drain_tenant schedule drains,
for benchmarks that measure what that scheduling costs and how fair it is.

RQ is a FIFO list that workers pop; here a queue.Queue of tenant ids. The wake key (one Redis SET NX in
events.wake_drain) is a set of tenants with a drain pending: a wake-up adds the tenant and enqueues a job
only if it was absent; a job removes it when it starts and when it ends. A job takes a slice of
SLICE_BATCHES batches (jobs.SLICE_BATCHES) and goes to the back of the line while rows remain; a drain
holding for its batch to fill (jobs.WorkerHold) keeps the tenant's key, sleeps a little at a time, and
gives way when another job waits for a worker or another drain of the tenant is coming.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

from nexwave_xero_connector.sync.drain import Hold, drain, drain_again
from nexwave_xero_connector.sync.journal import SqlJournal
from tests.support.db import PyMySqlDb
from tests.support.erp import SqlErp
from tests.support.world import NoMasters

log = logging.getLogger(__name__)

SLICE_BATCHES = 2  # as jobs.SLICE_BATCHES


class DrainJobs:
	"""Workers popping drain jobs off one FIFO queue, each with its own connection and gateway."""

	def __init__(
		self,
		database: str,
		*,
		workers: int,
		gateway_for: Callable[[], object],
		config_for: Callable[[str], object],
		window_for: Callable[[str], float] = lambda tenant_id: 0.0,
		hold_step: float = 1.0,
		slice_batches: int | None = SLICE_BATCHES,
		sweep_every: float = 60.0,
	):
		self.database = database
		self.gateway_for, self.config_for, self.window_for = gateway_for, config_for, window_for
		self.hold_step, self.slice_batches, self.sweep_every = hold_step, slice_batches, sweep_every
		self.jobs: queue.Queue[str] = queue.Queue()
		self.pending: dict[str, str] = {}  # tenant -> who holds its wake key ("job" or a holder's mark)
		self.lock = threading.Lock()
		self.stopping = threading.Event()
		self.errors: list[BaseException] = []
		self.synced = 0
		self.threads = [
			threading.Thread(target=self._work, args=(i,), name=f"drain-job-{i}") for i in range(workers)
		]
		self.threads.append(threading.Thread(target=self._sweep, name="drain-sweep"))

	def start(self) -> None:
		for thread in self.threads:
			thread.start()

	def stop(self) -> None:
		self.stopping.set()
		for thread in self.threads:
			thread.join()
		if self.errors:
			raise self.errors[0]

	def wake(self, tenant_id: str) -> None:
		"""events.wake_drain: enqueue a job unless a drain of the tenant is pending."""
		with self.lock:
			if tenant_id in self.pending:
				return
			self.pending[tenant_id] = "job"
		self.jobs.put(tenant_id)

	def _sweep(self) -> None:
		"""jobs.sweep, every `sweep_every` seconds: wake tenants with claimable rows (retries come due)."""
		db = PyMySqlDb(self.database)
		try:
			journal = SqlJournal(db, datetime.now, worker="sweep")
			while not self.stopping.wait(self.sweep_every):
				db.rollback()
				for tenant_id in journal.tenants_with_work():
					self.wake(tenant_id)
		except BaseException as exc:
			self.errors.append(exc)
		finally:
			db.close()

	def _forget(self, tenant_id: str) -> None:
		with self.lock:
			self.pending.pop(tenant_id, None)

	def _work(self, index: int) -> None:
		db = PyMySqlDb(self.database)
		try:
			journal = SqlJournal(db, datetime.now, worker=f"job-{index}")
			erp = SqlErp(db, datetime.now)
			gateway = self.gateway_for()
			while not self.stopping.is_set():
				try:
					tenant_id = self.jobs.get(timeout=0.05)
				except queue.Empty:
					continue
				self._job(tenant_id, journal, erp, gateway, f"hold-{index}")
		except BaseException as exc:
			log.exception("drain job worker %s failed", index)
			self.errors.append(exc)
		finally:
			db.close()

	def _job(self, tenant_id: str, journal, erp, gateway, mark: str) -> None:
		"""jobs.drain_tenant."""
		self._forget(tenant_id)
		gave_way = False

		def pause(seconds: float) -> bool:
			nonlocal gave_way
			if self.jobs.qsize():
				time.sleep(min(seconds, self.hold_step))
				return False  # another job waits for a worker: a step, then to the back of the line
			with self.lock:
				holder = self.pending.setdefault(tenant_id, mark)
			if holder != mark:
				gave_way = True  # a drain of the tenant is coming: it takes over
				return False
			time.sleep(min(seconds, self.hold_step))
			return True

		report = drain(
			tenant_id,
			journal=journal,
			erp=erp,
			masters=NoMasters(),
			gateway=gateway,
			config=self.config_for(tenant_id),
			max_batches=self.slice_batches,
			hold=Hold(window=self.window_for(tenant_id), pause=pause),
		)
		with self.lock:
			self.synced += report.synced
		self._forget(tenant_id)
		if drain_again(report, journal, tenant_id, gave_way=gave_way):
			self.wake(tenant_id)
