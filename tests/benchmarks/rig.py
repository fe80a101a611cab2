"""What the drain benchmarks share: an emulator with Xero's limits on a scaled clock, a fresh database and
a Redis rate governor on the emulator's clock (all removed afterwards), gateways through that governor,
waiting for rows to sync, a percentile and the tables they print."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from nexwave_xero_connector.xero.gateway import SdkGateway
from nexwave_xero_connector.xero.governor import RateGovernor
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb, create_database, drop_database
from tests.support.governor import ScaledGovernorHooks
from tests.support.world import emulator_gateway

REDIS_URL = os.environ.get("NXC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def gateway_for(emulator: XeroEmulator, scaled: ScaledGovernorHooks) -> SdkGateway:
	"""A gateway of our own (SDK clients are not shared across threads) going through the governor."""
	return emulator_gateway(
		emulator.identity_url,
		timeout=(5, 30),
		before_request=scaled.before_request,
		on_response=scaled.on_response,
	)


@dataclass
class Rig:
	run_id: str
	emulator: XeroEmulator
	database: str
	governor: RateGovernor
	scaled: ScaledGovernorHooks

	def gateway(self) -> SdkGateway:
		return gateway_for(self.emulator, self.scaled)


@contextmanager
def scaled_rig(name: str, *, time_scale: float, day_limit: int, redis_url: str = REDIS_URL) -> Iterator[Rig]:
	"""The emulator (Xero's limits, `time_scale` Xero seconds a real second), database `nxc_<name>_…` and a
	governor allowing `day_limit` calls a day, under keys of this run only."""
	run_id = uuid.uuid4().hex[:8]
	emulator = XeroEmulator(rate_limits=True, time_scale=time_scale)
	emulator.start(port=0)
	database = create_database(f"nxc_{name}")
	client = redis.Redis.from_url(redis_url)
	prefix = f"nxc-{name}-{run_id}"
	governor = RateGovernor(client, key_prefix=prefix, per_day=day_limit, clock=emulator.now)
	try:
		yield Rig(run_id, emulator, database, governor, ScaledGovernorHooks(governor, emulator.time_scale))
	finally:
		emulator.stop()
		drop_database(database)
		for key in client.scan_iter(f"{prefix}:*"):
			client.delete(key)
		client.close()


def wait_synced(db: PyMySqlDb, expected: int, tenant_id: str | None = None, timeout: float = 600.0) -> None:
	"""Until `expected` rows (of the tenant, or of all) are Synced; TimeoutError after `timeout` seconds."""
	where, params = ("AND tenant_id = %(t)s", {"t": tenant_id}) if tenant_id else ("", {})
	deadline = time.monotonic() + timeout
	done = 0
	while time.monotonic() < deadline:
		db.rollback()  # REPEATABLE READ: a fresh snapshot
		done = db.query(
			f"SELECT COUNT(*) AS n FROM `tabXero Sync Log` WHERE status = 'Synced' {where}", params
		)[0]["n"]
		if done >= expected:
			return
		time.sleep(0.1)
	raise TimeoutError(f"only {done} of {expected} invoices synced")


def percentile(values: Sequence[float], share: float) -> float:
	"""The nearest-rank percentile (`share` 0.95 for p95); 0 for no values."""
	ordered = sorted(values)
	return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def format_table(rows: Sequence[Sequence[str]]) -> str:
	"""Rows of cells, right-aligned in columns two spaces apart (the first row is the header)."""
	widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
	return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
