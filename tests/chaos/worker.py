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
PID_HEADER = "X-Chaos-Pid"


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


def _gateway(base_url: str):
	"""The real SdkGateway against the emulator, with the chaos run's (short) read timeout."""
	from tests.support.world import emulator_gateway

	gateway = emulator_gateway(base_url, timeout=(2, float(os.environ.get(READ_TIMEOUT_ENV) or 5)))
	# Tell the emulator which process calls, so the harness can freeze this horse at a chosen request.
	gateway.api.api_client.rest_client.pool_manager.session.headers[PID_HEADER] = str(os.getpid())
	return gateway


def drain_job(database: str, base_url: str, tenant_id: str) -> dict:
	"""One drain of the tenant, as jobs.drain_tenant does it, over MariaDB and the emulator."""
	from nexwave_xero_connector.sync import drain as engine
	from nexwave_xero_connector.sync.journal import SqlJournal
	from tests.support.db import PyMySqlDb
	from tests.support.erp import SqlErp
	from tests.support.world import NoMasters

	db = PyMySqlDb(database)
	try:
		report = engine.drain(
			tenant_id,
			journal=SqlJournal(db, worker_clock, worker=f"{socket.gethostname()}:{os.getpid()}"),
			erp=SqlErp(db, worker_clock),
			masters=NoMasters(),
			gateway=_gateway(base_url),
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
		)
		return asdict(report)
	finally:
		db.close()


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
