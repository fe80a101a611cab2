"""One RQ worker process of the chaos run, forking a work horse per job as Frappe's workers do.

The worker (parent) dequeues and watches; the horse (a forked child in its own session) runs the drain and
makes the HTTP calls. A SIGKILL may hit either or both, and a SIGSTOP may freeze either.

Each worker process has its own clock (the journal's and the ERP stand-in's): real time plus a skew in
seconds, plus a daylight-saving jump from a given moment on, all read from the environment at start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta

LEASE_ENV = "NXC_CHAOS_LEASE_SECONDS"
IN_FLIGHT_ENV = "NXC_CHAOS_IN_FLIGHT_SECONDS"
BATCH_ENV = "NXC_CHAOS_BATCH_SIZE"
READ_TIMEOUT_ENV = "NXC_CHAOS_READ_TIMEOUT"
CLOCK_OFFSET_ENV = "NXC_CHAOS_CLOCK_OFFSET"  # seconds this worker's clock is ahead (negative: behind)
DST_AT_ENV = "NXC_CHAOS_DST_AT"  # epoch seconds at which this worker's clock jumps ...
DST_SHIFT_ENV = "NXC_CHAOS_DST_SHIFT"  # ... by this many seconds (+3600 or -3600)
PAYMENTS_ENV = "NXC_CHAOS_PAYMENTS"  # "pull": Xero owns the payments and they are copied; "push": ERPNext's
# The rate governor (all three set, or none): the Redis it keeps its counters in, their key prefix, and
# how many seconds Xero's rate-limit minute lasts in the run (the emulator's is as long).
GOVERNOR_REDIS_ENV = "NXC_CHAOS_GOVERNOR_REDIS"
GOVERNOR_PREFIX_ENV = "NXC_CHAOS_GOVERNOR_PREFIX"
RATE_MINUTE_ENV = "NXC_CHAOS_RATE_MINUTE"
LOCK_WAIT_ENV = "NXC_CHAOS_LOCK_WAIT"  # innodb_lock_wait_timeout (s) of the drains' sessions
LOCK_LOG_ENV = "NXC_CHAOS_LOCK_LOG"  # a file the drains append each lock conflict they re-run to
HELD_LOG_ENV = "NXC_CHAOS_HELD_LOG"  # a file the governor appends the reason of each call it held back to
WAKE_ENV = "NXC_CHAOS_WAKE"  # "app": drains wake as the app's (events.wake_drain, jobs.drain_tenant)
WAKE_TTL_ENV = "NXC_CHAOS_WAKE_TTL"  # seconds a pending wake-up is trusted (events.WAKE_TTL_SECONDS)
PID_HEADER = "X-Chaos-Pid"
DB_HEADER = "X-Chaos-Db"  # the MariaDB connection id of the drain making the call
# A governor slot outlives the call's connect + read timeouts (as the production SLOT_TTL outlives the
# production timeouts), so a killed horse's slot lapses as soon as a live call could no longer hold it.
SLOT_MARGIN = 1.5
DRAIN_JOB = "tests.chaos.worker.drain_job"
DRAIN_TIMEOUT = 1500  # Frappe's "long" queue, where the app's drain runs
# As jobs.py: batches a drain job takes before the back of the line; a holder's steps and key lifetime.
SLICE_BATCHES = 2
HOLD_STEP_SECONDS = 0.5
HOLD_KEY_SECONDS = 10


def worker_clock() -> datetime:
	"""This worker's wall clock: skewed, and shifted by an hour once its daylight-saving moment passed."""
	offset = float(os.environ.get(CLOCK_OFFSET_ENV) or 0)
	dst_at = os.environ.get(DST_AT_ENV)
	if dst_at and time.time() >= float(dst_at):
		offset += float(os.environ.get(DST_SHIFT_ENV) or 0)
	return datetime.now() + timedelta(seconds=offset)


def chaos_config(tenant_id: str, payments: str = "", **overrides):
	"""The run's settings: nz_config, with the company's payments owned by Xero and copied into ERPNext
	(`payments="pull"`, issue 12) or owned by ERPNext and pushed (`"push"`, issue 13; nz_config's owner)."""
	from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO, TenantLink
	from tests.support.payment_entries import BANK
	from tests.support.world import COMPANY, nz_config

	if payments:
		overrides["bank_account_map"] = {(COMPANY, BANK): "090"}
	if payments == "pull":
		overrides["tenants"] = (
			TenantLink(
				COMPANY, tenant_id, COMPANY, "!kTl1", payments_owned_by=PAYMENTS_IN_XERO, pull_payments=True
			),
		)
	return nz_config(tenant_id, **overrides)


def with_journal_entries(tenant_id: str, config):
	"""With --journals, the organisation also takes a company that sends its Journal Entries."""
	from tests.chaos.journals import JOURNALS_ENV
	from tests.support.journal_entries import with_journals

	return with_journals(config, tenant_id) if os.environ.get(JOURNALS_ENV) else config


def governor_hooks(
	redis_url: str, prefix: str, minute_seconds: float, read_timeout: float, connect: float = 2
):
	"""The rate governor's before_request/on_response over the run's Redis, as wiring.make_governor builds
	them: Xero's limits (60 calls a minute, 5 in flight; the day's is out of reach), on a clock that runs as
	much faster as the run's minute is shorter, with a slot TTL scaled to the run's timeouts."""
	from redis import Redis

	from nexwave_xero_connector.sync.errors import XeroError
	from nexwave_xero_connector.xero.governor import RateGovernor
	from tests.support.governor import ScaledGovernorHooks

	scale = 60.0 / minute_seconds
	governor = RateGovernor(
		Redis.from_url(redis_url),
		key_prefix=prefix,
		per_day=10**9,
		clock=lambda: time.time() * scale,
		slot_ttl=(connect + read_timeout + SLOT_MARGIN) * scale,
	)
	scaled = ScaledGovernorHooks(governor, scale)
	held_log = os.environ.get(HELD_LOG_ENV)

	def before_request(tenant_id, method, url):
		try:
			scaled.before_request(tenant_id, method, url)
		except XeroError as exc:
			if held_log:  # "rate governor: minute, retry after 3.0s" or "rate governor unavailable: ..."
				detail = exc.detail or ""
				reason = detail.partition(": ")[2].partition(",")[0]
				if detail.startswith("rate governor unavailable"):
					reason = "unavailable"
				with open(held_log, "a") as log:
					log.write(f"{reason or 'other'}\n")
			raise

	return {"before_request": before_request, "on_response": scaled.on_response}


def _gateway(base_url: str, db_connection: int | None = None):
	"""The real SdkGateway against the emulator, with the chaos run's (short) read timeout, through the
	rate governor when the run has one."""
	from tests.support.world import emulator_gateway

	read_timeout = float(os.environ.get(READ_TIMEOUT_ENV) or 5)
	hooks = {}
	if os.environ.get(RATE_MINUTE_ENV):
		hooks = governor_hooks(
			os.environ[GOVERNOR_REDIS_ENV],
			os.environ[GOVERNOR_PREFIX_ENV],
			float(os.environ[RATE_MINUTE_ENV]),
			read_timeout,
		)
	gateway = emulator_gateway(base_url, timeout=(2, read_timeout), **hooks)
	# Tell the emulator which process calls (and over which database connection), so the harness can
	# freeze this horse, or kill its connection, at a chosen request.
	headers = gateway.api.api_client.rest_client.pool_manager.session.headers
	headers[PID_HEADER] = str(os.getpid())
	if db_connection is not None:
		headers[DB_HEADER] = str(db_connection)
	return gateway


class _ChaosDb:
	"""The drain's PyMySqlDb with the run's short lock-wait timeout, noting each lock conflict the journal
	re-runs (the harness counts them), and closing quietly when the harness killed its connection."""

	def __init__(self, database: str):
		from tests.support.db import PyMySqlDb

		self.db = PyMySqlDb(database)
		wait = os.environ.get(LOCK_WAIT_ENV)
		if wait:
			self.db.execute(f"SET SESSION innodb_lock_wait_timeout = {int(wait)}", {})
		self.log = os.environ.get(LOCK_LOG_ENV)

	def __getattr__(self, name):
		return getattr(self.db, name)

	def is_lock_conflict(self, exc: Exception) -> bool:
		conflict = self.db.is_lock_conflict(exc)
		if conflict and self.log:
			with open(self.log, "a") as log:
				log.write(f"{exc.args[0]}\n")
		return conflict

	def close(self) -> None:
		try:
			self.db.close()
		except Exception:
			pass  # already closed: the harness killed the connection


def drain_job(database: str, base_url: str, tenant_id: str) -> dict:
	"""One drain of the tenant, as jobs.drain_tenant does it, over MariaDB and the emulator: with the app's
	wake-ups (WAKE_ENV "app") it forgets the tenant's wake-up first, takes a slice, lets a small batch
	linger as on a Standard plan, and goes to the back of the line while rows are left."""
	from rq import get_current_job

	from nexwave_xero_connector.sync import batching
	from nexwave_xero_connector.sync import drain as engine
	from nexwave_xero_connector.sync.journal import SqlJournal
	from tests.support.erp import SqlErp
	from tests.support.world import NoMasters

	app_wakes = os.environ.get(WAKE_ENV) == "app"
	job = get_current_job()
	if app_wakes:
		_forget_wake(job.connection, job.origin, tenant_id)
	db = _ChaosDb(database)
	try:
		journal = SqlJournal(db, worker_clock, worker=f"{socket.gethostname()}:{os.getpid()}")
		hold = _Hold(job.connection, job.origin, tenant_id)
		report = engine.drain(
			tenant_id,
			journal=journal,
			erp=SqlErp(db, worker_clock),
			masters=NoMasters(),
			gateway=_gateway(base_url, db.conn.thread_id()),
			config=with_journal_entries(
				tenant_id,
				chaos_config(
					tenant_id,
					os.environ.get(PAYMENTS_ENV) or "",
					batch_size=int(os.environ.get(BATCH_ENV) or 50),
					# Above the worker's read timeout (5 s) plus any late commit the emulator plays: a lookup miss
					# is proof of absence only after this, as Xero's would be after the production default.
					in_flight_seconds=int(os.environ.get(IN_FLIGHT_ENV) or 15),
				),
			),
			max_batches=SLICE_BATCHES if app_wakes else None,
			hold=engine.Hold(window=batching.LINGER_SECONDS, pause=hold.pause)
			if app_wakes
			else engine.SEND_AT_ONCE,
		)
		if app_wakes:
			_forget_wake(job.connection, job.origin, tenant_id)
			if engine.drain_again(report, journal, tenant_id, gave_way=hold.gave_way):
				wake(job.connection, job.origin, tenant_id, (database, base_url, tenant_id))
		return asdict(report)
	finally:
		db.close()


def wake_key(qname: str, tenant_id: str) -> str:
	return f"{qname}:drain-wake:{tenant_id}"


def wake(conn, qname: str, tenant_id: str, args: tuple) -> bool:
	"""events.wake_drain: one SET NX decides; a new job only when no drain of the tenant is pending."""
	job_id = f"{qname}::xero-drain::{tenant_id}::{uuid.uuid4().hex[:10]}"
	ttl = int(os.environ.get(WAKE_TTL_ENV) or 120)
	if not conn.set(wake_key(qname, tenant_id), job_id, nx=True, ex=ttl):
		return False
	try:
		enqueue_drain(conn, qname, job_id, args)
	except Exception:
		_forget_wake(conn, qname, tenant_id)
		raise
	return True


def enqueue_drain(conn, qname: str, job_id: str, args: tuple) -> None:
	from rq import Queue

	Queue(qname, connection=conn).enqueue(
		DRAIN_JOB,
		args=args,
		job_id=job_id,
		job_timeout=DRAIN_TIMEOUT,
		result_ttl=600,  # Frappe's rq_results_ttl
		failure_ttl=7 * 86_400,
	)


def _forget_wake(conn, qname: str, tenant_id: str) -> None:
	from redis.exceptions import RedisError

	try:
		conn.delete(wake_key(qname, tenant_id))
	except RedisError:
		pass  # gone with Redis anyway


class _Hold:
	"""jobs.WorkerHold: keep the tenant's wake key while a small batch lingers, a step at a time; give up
	after a step when another job waits, at once when another drain of the tenant is coming."""

	def __init__(self, conn, qname: str, tenant_id: str):
		self.conn, self.qname, self.key = conn, qname, wake_key(qname, tenant_id)
		self.mark = f"holding::{uuid.uuid4().hex[:12]}"
		self.gave_way = False

	def pause(self, seconds: float) -> bool:
		from redis.exceptions import RedisError
		from rq import Queue

		step = min(seconds, HOLD_STEP_SECONDS)
		try:
			if Queue(self.qname, connection=self.conn).count:
				time.sleep(step)
				return False
			if not self.conn.set(self.key, self.mark, nx=True, ex=HOLD_KEY_SECONDS):
				if (self.conn.get(self.key) or b"").decode() != self.mark:
					self.gave_way = True
					return False
				self.conn.expire(self.key, HOLD_KEY_SECONDS)
		except RedisError:
			pass  # no key to keep: hold on the database's clock alone (extra wake-ups are harmless)
		time.sleep(step)
		return True


def main() -> None:
	"""Serve one queue until killed."""
	from redis import Redis
	from rq import Queue, Worker

	from nexwave_xero_connector.sync.drain import context as drain_context

	parser = argparse.ArgumentParser()
	parser.add_argument("--queue", required=True)
	parser.add_argument("--name", required=True)
	parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
	args = parser.parse_args()
	if os.environ.get(LEASE_ENV):
		drain_context.LEASE_SECONDS = int(os.environ[LEASE_ENV])
	for module in (
		"nexwave_xero_connector.sync.mapping",
		"nexwave_xero_connector.sync.journal",
		"nexwave_xero_connector.xero.gateway",
		"tests.support.world",
		"tests.support.erp",
		"nexwave_xero_connector.sync.kinds.registry",
		"nexwave_xero_connector.sync.payments_from_xero",
	):
		importlib.import_module(module)  # in the worker, so each forked horse starts warm
	conn = Redis.from_url(args.redis)
	worker = Worker([Queue(args.queue, connection=conn)], connection=conn, name=args.name)
	worker.work(logging_level="WARNING")


if __name__ == "__main__":
	main()
