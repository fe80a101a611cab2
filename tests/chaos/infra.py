"""Infrastructure faults of the chaos run: its own Redis, killed and restarted empty, and its database's
connections killed and locked.

- `RedisServer`: a redis-server of the run's own (a free port, no persistence) for the RQ queues, the rate
  governor's counters and slots and the wake-up keys; `crash()` SIGKILLs it and `tick()` starts it again
  EMPTY on the same port when its time came, as a Redis without persistence comes back after an OOM kill
  or a host restart.
- `DbFaults`: `KILL CONNECTION` of the workers' connections to the run's database (found in
  information_schema.PROCESSLIST by the database's name, never any other), at random or aimed at a drain
  between a create Xero applied and the commit that records it; and a lock storm, a thread that takes row
  locks on the log rows the drains hold and keeps them past the drains' lock-wait timeout, sometimes
  crossing a drain's lock order so that InnoDB has a deadlock to break.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pymysql
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.db import connect

LOG = "`tabXero Sync Log`"
BALLAST = "`chaos_ballast`"
# A lock storm's transaction first changes this many rows of a table of its own: InnoDB then picks the
# drain, not the storm, as a deadlock's victim (it rolls back the transaction that changed fewer rows).
BALLAST_ROWS = 64


def fail_fast() -> Retry:
	"""No retries: the harness's own Redis calls fail at once while its Redis is down (redis-py retries a
	refused connection for about 4 s by default, which would hold the whole run up)."""
	return Retry(NoBackoff(), 0)


def free_port() -> int:
	with socket.socket() as sock:
		sock.bind(("127.0.0.1", 0))
		return sock.getsockname()[1]


class RedisServer:
	"""A redis-server owned by the run: started, SIGKILLed and restarted empty, stopped at the end."""

	def __init__(self, workdir: Path, preexec_fn: Callable[[], None] | None = None):
		binary = shutil.which("redis-server")
		if not binary:
			raise RuntimeError(
				"--redis-restarts needs the redis-server binary on PATH (apt install redis-server)"
			)
		self.binary = binary
		self.workdir = workdir
		self.preexec_fn = preexec_fn
		self.port = free_port()
		self.url = f"redis://127.0.0.1:{self.port}/0"
		self.proc: subprocess.Popen | None = None
		self.crashes = 0
		self.back_at: float | None = None  # a crashed server's restart is due then
		self.down_s = 0.0
		self.crashed_at: list[float] = []  # time.monotonic() of each SIGKILL
		self.came_back: list[float] = []  # time.monotonic() of each restart's first answered PING

	def start(self) -> None:
		log = open(self.workdir / "redis.log", "ab")
		self.proc = subprocess.Popen(
			[
				self.binary,
				"--port",
				str(self.port),
				"--bind",
				"127.0.0.1",
				"--save",
				"",
				"--appendonly",
				"no",
				"--dir",
				str(self.workdir),
				"--loglevel",
				"warning",
			],
			stdout=log,
			stderr=subprocess.STDOUT,
			preexec_fn=self.preexec_fn,
		)
		log.close()
		client = Redis(port=self.port, socket_connect_timeout=0.2, retry=fail_fast())
		deadline = time.monotonic() + 10
		while True:
			try:
				client.ping()
				break
			except Exception:
				if self.proc.poll() is not None or time.monotonic() > deadline:
					raise RuntimeError(f"redis-server on port {self.port} did not start") from None
				time.sleep(0.02)
			finally:
				client.close()

	@property
	def down(self) -> bool:
		return self.back_at is not None

	def crash(self, down_for: float) -> None:
		"""SIGKILL: queues, jobs, worker registrations, governor counters and slots are gone. `tick()`
		brings it back, empty, once `down_for` seconds passed."""
		if self.proc and self.proc.poll() is None:
			self.proc.send_signal(signal.SIGKILL)
			self.proc.wait()
		self.crashes += 1
		self.crashed_at.append(time.monotonic())
		self.back_at = time.monotonic() + down_for

	def tick(self) -> None:
		"""Restart a crashed server whose time came, on the same port. Called from the harness's main thread:
		the server dies with the thread that started it (PR_SET_PDEATHSIG), so never from a passing one."""
		if self.back_at is None or time.monotonic() < self.back_at:
			return
		down_since = self.crashed_at[-1]
		self.start()
		now = time.monotonic()
		self.down_s += now - down_since
		self.came_back.append(now)
		self.back_at = None

	def stop(self) -> None:
		if self.proc and self.proc.poll() is None:
			self.proc.send_signal(signal.SIGKILL)
			self.proc.wait()
		self.proc = None


class DbFaults:
	"""Kills the workers' MariaDB connections to `database` and runs the lock storm against its log rows."""

	def __init__(self, database: str, own: set[int], lock_wait: int, seed: int):
		self.database = database
		self.rng = random.Random(seed)
		self.admin = connect(database)
		self.admin_lock = threading.Lock()
		# connections of the harness itself (its own session, this one, the storm's): never killed
		self.own = set(own) | {self.admin.thread_id()}
		self.lock_wait = lock_wait
		self.stats: Counter[str] = Counter()
		self.stop_storm = threading.Event()
		self.storm: threading.Thread | None = None

	# -- kills ----------------------------------------------------------------------------------

	def worker_connections(self) -> list[dict]:
		"""The run database's connections that are not the harness's, with whether a transaction is open."""
		with self.admin_lock:
			with self.admin.cursor() as cur:
				cur.execute(
					"SELECT p.ID AS id, p.COMMAND AS command, t.trx_id IS NOT NULL AS in_trx "
					"FROM information_schema.PROCESSLIST p "
					"LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID "
					"WHERE p.DB = %s",
					(self.database,),
				)
				rows = list(cur.fetchall())
			self.admin.rollback()
		return [r for r in rows if r["id"] not in self.own]

	def _kill(self, connection_id: int) -> bool:
		"""KILL CONNECTION, only for a connection of the run's database that is not the harness's."""
		if connection_id in self.own:
			return False
		with self.admin_lock:
			with self.admin.cursor() as cur:
				cur.execute(
					"SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s AND DB = %s",
					(connection_id, self.database),
				)
				if not cur.fetchall():
					self.admin.rollback()
					return False
				try:
					cur.execute(f"KILL CONNECTION {int(connection_id)}")
				except pymysql.err.OperationalError as exc:
					if exc.args[0] != 1094:  # unknown thread id: it closed meanwhile
						raise
					return False
			self.admin.rollback()
		return True

	def kill_random(self) -> bool:
		"""Kill one worker connection, most often one in the middle of a transaction."""
		conns = self.worker_connections()
		if not conns:
			return False
		busy = [c for c in conns if c["in_trx"]]
		pool = busy if busy and self.rng.random() < 0.7 else conns
		target = self.rng.choice(pool)
		if not self._kill(target["id"]):
			return False
		self.stats["db_kills"] += 1
		self.stats["db_kills_in_trx" if target["in_trx"] else "db_kills_idle"] += 1
		return True

	def kill_aimed(self, connection_id: int) -> bool:
		"""Kill the connection of a drain whose create Xero just applied, before the answer reaches it: the
		drain's next statement (storing the Xero ID) finds its connection gone."""
		if not self._kill(connection_id):
			return False
		self.stats["db_kills"] += 1
		self.stats["db_kills_aimed"] += 1
		return True

	# -- the lock storm -------------------------------------------------------------------------

	def start_storm(self) -> None:
		conn = connect(self.database)
		with conn.cursor() as cur:
			cur.execute(f"SET SESSION innodb_lock_wait_timeout = {int(self.lock_wait)}")
			cur.execute(
				f"CREATE TABLE IF NOT EXISTS {BALLAST} (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB"
			)
			cur.executemany(
				f"INSERT IGNORE INTO {BALLAST} VALUES (%s, 0)", [(i,) for i in range(BALLAST_ROWS)]
			)
		conn.commit()
		self.own.add(conn.thread_id())
		self.storm = threading.Thread(target=self._storm, args=(conn,), name="lock-storm", daemon=True)
		self.storm.start()

	def end_storm(self) -> None:
		self.stop_storm.set()
		if self.storm:
			self.storm.join(timeout=self.lock_wait + 10)

	def _storm(self, conn) -> None:
		try:
			while not self.stop_storm.wait(self.rng.uniform(0.3, 1.5)):
				try:
					self._hold(conn)
				except pymysql.err.OperationalError as exc:
					conn.rollback()
					if exc.args[0] == 1213:
						self.stats["storm_deadlock_victim"] += 1
					elif exc.args[0] == 1205:
						self.stats["storm_lock_timeouts"] += 1
					else:
						raise
		finally:
			conn.close()

	def _hold(self, conn) -> None:
		"""One storm transaction: lock a few leased log rows one by one in random order (a drain locking
		the same rows in another order deadlocks with it), hold them past the lock-wait timeout, let go."""
		with conn.cursor() as cur:
			cur.execute(
				f"SELECT name FROM {LOG} WHERE status = 'Queued' AND lease_owner IS NOT NULL "
				"ORDER BY RAND() LIMIT %s",
				(self.rng.randint(1, 4),),
			)
			names = [r["name"] for r in cur.fetchall()]
			conn.commit()
			if not names:
				return
			cur.execute(f"UPDATE {BALLAST} SET n = n + 1")
			for name in names:
				cur.execute(f"SELECT name FROM {LOG} WHERE name = %s FOR UPDATE", (name,))
				self.stats["storm_rows_locked"] += 1
				time.sleep(self.rng.uniform(0.0, 0.3))
			self.stats["storm_holds"] += 1
			time.sleep(self.lock_wait + self.rng.uniform(0.2, 1.2))
		conn.rollback()

	def close(self) -> None:
		self.end_storm()
		try:
			self.admin.close()
		except Exception:
			pass
