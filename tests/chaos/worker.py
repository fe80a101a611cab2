"""One RQ worker process of the chaos run: a SimpleWorker, so SIGKILL stops the drain mid-flight."""

from __future__ import annotations

import argparse
import importlib
import os
import socket
from dataclasses import asdict
from datetime import datetime

LEASE_ENV = "NXC_CHAOS_LEASE_SECONDS"
IN_FLIGHT_ENV = "NXC_CHAOS_IN_FLIGHT_SECONDS"
BATCH_ENV = "NXC_CHAOS_BATCH_SIZE"
_gateways: dict[str, object] = {}


def _gateway(base_url: str):
	"""The real SdkGateway against the emulator at base_url, built as World.gateway() does."""
	if base_url not in _gateways:
		from tests.support.world import emulator_gateway

		_gateways[base_url] = emulator_gateway(base_url)
	return _gateways[base_url]


def drain_job(database: str, base_url: str, tenant_id: str) -> dict:
	"""One drain of the tenant, as jobs.drain_tenant does it, over MariaDB and the emulator."""
	from nexwave_xero_connector.sync import engine
	from nexwave_xero_connector.sync.journal import SqlJournal
	from tests.support.db import PyMySqlDb
	from tests.support.erp import SqlErp
	from tests.support.world import NoMasters, nz_config

	db = PyMySqlDb(database)
	try:
		report = engine.drain(
			tenant_id,
			journal=SqlJournal(db, datetime.now, worker=f"{socket.gethostname()}:{os.getpid()}"),
			erp=SqlErp(db, datetime.now),
			masters=NoMasters(),
			gateway=_gateway(base_url),
			config=nz_config(
				tenant_id,
				batch_size=int(os.environ.get(BATCH_ENV) or 50),
				# Above the worker's read timeout (5 s) plus any late commit the emulator plays: a lookup miss
				# is proof of absence only after this, as Xero's would be after the production default.
				in_flight_seconds=int(os.environ.get(IN_FLIGHT_ENV) or 15),
			),
		)
		return asdict(report)
	finally:
		db.close()


def main() -> None:
	"""Serve one queue until killed."""
	from redis import Redis
	from rq import Queue, SimpleWorker

	from nexwave_xero_connector.sync import engine

	parser = argparse.ArgumentParser()
	parser.add_argument("--queue", required=True)
	parser.add_argument("--name", required=True)
	parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
	args = parser.parse_args()
	if os.environ.get(LEASE_ENV):
		engine.LEASE_SECONDS = int(os.environ[LEASE_ENV])
	for module in ("nexwave_xero_connector.sync.mapping", "nexwave_xero_connector.xero.gateway"):
		importlib.import_module(module)  # before the first job, not during it
	conn = Redis.from_url(args.redis)
	worker = SimpleWorker([Queue(args.queue, connection=conn)], connection=conn, name=args.name)
	worker.work(logging_level="WARNING")


if __name__ == "__main__":
	main()
