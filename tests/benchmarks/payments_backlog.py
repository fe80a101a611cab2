"""Payment backlog benchmark: API calls per Xero payment when a backlog of Payment Entries drains.

Queues N invoices and drains them (not counted), then queues Payment Entries paying them (each entry pays
`--refs` invoices, so N / refs entries) and drains those with one worker against the emulator. Call counts
come from the emulator's counters and repeat run to run.

	python -m tests.benchmarks.payments_backlog --invoices 500 [--refs 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import uuid
from dataclasses import dataclass

from tests.emulator import XeroEmulator
from tests.support.db import create_database, drop_database
from tests.support.payment_entries import BANK, COMPANY, payment_entry
from tests.support.world import World, clone

TEMPLATE = "si_nz_exclusive_discount"


@dataclass
class PaymentBacklog:
	payments: int
	entries: int
	calls: int
	synced: int
	by_endpoint: dict

	@property
	def calls_per_payment(self) -> float:
		return self.calls / self.payments if self.payments else 0.0


def run(invoices: int, refs: int = 1) -> PaymentBacklog:
	emulator = XeroEmulator()
	emulator.start(port=0)
	database = create_database()
	world = World(emulator, database, tenant_id=f"bench-{uuid.uuid4().hex[:8]}")
	try:
		world.config = dataclasses.replace(
			world.config,
			bank_account_map={(COMPANY, BANK): "090"},  # payments are ERPNext's by default
		)
		names = [f"SINV-B-{i:05d}" for i in range(invoices)]
		for name in names:
			world.submit(clone(TEMPLATE, name))
		world.drain()
		entries = 0
		for start in range(0, invoices, refs):
			group = names[start : start + refs]
			pe = payment_entry(
				f"ACC-PAY-B-{start:05d}", refs=[("Sales Invoice", n, "1052.00") for n in group]
			)
			world.erp.submit_payment(pe, world.tenant_id)
			entries += 1
		emulator.reset_counters()
		report = world.drain()
		by_endpoint = {f"{m} {e}": n for (m, e), n in emulator.calls.items() if n}
		return PaymentBacklog(
			payments=invoices,
			entries=entries,
			calls=emulator.total_calls(world.tenant_id),
			synced=report.synced,
			by_endpoint=by_endpoint,
		)
	finally:
		world.close()
		drop_database(database)
		emulator.stop()


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--invoices", type=int, default=500)
	parser.add_argument("--refs", type=int, default=1, help="invoices paid by each Payment Entry")
	args = parser.parse_args()
	result = run(args.invoices, args.refs)
	print(f"entries={result.entries} payments={result.payments} synced={result.synced} calls={result.calls}")
	print(f"calls by endpoint: {result.by_endpoint}")
	print(f"calls_per_payment={result.calls_per_payment:.4f}")


if __name__ == "__main__":
	main()
