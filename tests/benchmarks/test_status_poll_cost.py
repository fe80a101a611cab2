"""What the status poll costs a 5,000-invoice organisation, counted by the emulator (calls, never time).

Seeds 5,000 AUTHORISED invoices in the emulator (PUT batches of 50) and 5,000 Synced log rows pointing at
them, then polls: once from nothing, quietly, and after a few payments. The numbers are printed for the
README (`python -m pytest tests/benchmarks/test_status_poll_cost.py -s`)."""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.payments_from_xero import poll_payments
from nexwave_xero_connector.sync.status_poll import poll_tenant
from tests.integration.test_status_poll import MemoryWatermarks
from tests.support.world import World, emulator_gateway

INVOICES = 5000
PAID = 30
POLLS_PER_HOUR = 6  # hooks.py: */10


def _seed(world: World, emulator) -> list[str]:
	contact = emulator.add_contact(world.tenant_id, "Tui Hardware Ltd", "CUST-BENCH")
	gateway = world.gateway()
	body = {
		"Contact": {"ContactID": contact},
		"Date": date(2026, 11, 2),
		"DueDate": date(2026, 12, 20),
		"LineAmountTypes": "Exclusive",
		"Status": "AUTHORISED",
		"LineItems": [
			{
				"Description": "Widget",
				"Quantity": 1,
				"UnitAmount": Decimal(100),
				"AccountCode": "200",
				"TaxType": "OUTPUT2",
			}
		],
	}
	ids = []
	for start in range(0, INVOICES, 50):
		bodies = [{**body, "InvoiceNumber": f"BENCH-{i}"} for i in range(start, start + 50)]
		results = gateway.create_documents(world.tenant_id, Kind.SALES_INVOICE, bodies, uuid.uuid4().hex)
		ids += [r.record.xero_id for r in results]
	rows, docs, params = [], [], {"t": world.tenant_id, "now": world.clock()}
	for i, xero_id in enumerate(ids):
		params[f"x{i}"], params[f"n{i}"] = xero_id, f"SINV-BENCH-{i}"
		rows.append(
			f"(%(n{i})s, %(now)s, %(now)s, 'Synced', 'Sales Invoice', %(n{i})s, %(t)s, 'ACCREC', %(x{i})s)"
		)
		docs.append(f"(%(n{i})s, %(now)s, %(now)s, 1, %(x{i})s)")
	world.db.execute(
		"INSERT INTO `tabXero Sync Log` (name, creation, modified, status, reference_doctype, reference_name, "
		"tenant_id, xero_type, xero_id) VALUES " + ", ".join(rows),
		params,
	)
	world.db.execute(
		"INSERT INTO `tabSales Invoice` (name, creation, modified, docstatus, xero_id) VALUES "
		+ ", ".join(docs),
		params,
	)
	world.db.commit("bench seed")
	return ids


def test_status_poll_calls_for_a_5000_invoice_organisation(emulator, database):
	world = World(emulator, database, tenant_id=f"t-{uuid.uuid4().hex[:8]}")
	try:
		_measure(world, emulator)
	finally:
		world.db.rollback()
		world.close()


def _measure(world: World, emulator) -> None:
	ids = _seed(world, emulator)
	marks = MemoryWatermarks()
	gateway = emulator_gateway(emulator.identity_url)

	def poll() -> tuple[int, object]:
		before = emulator.total_calls(world.tenant_id)
		report = poll_tenant(
			world.tenant_id,
			gateway=gateway,
			db=world.db,
			watermarks=marks,
			started=datetime.fromtimestamp(emulator.now(), tz=timezone.utc),  # the emulator's clock is "now"
			now=world.clock(),
		)
		world.db.commit("poll")
		return emulator.total_calls(world.tenant_id) - before, report

	emulator.advance(600)  # the invoices were pushed a while ago
	first_calls, first = poll()
	assert len(first.updated) == INVOICES and first.fetched == 0
	assert (
		first_calls == math.ceil(INVOICES / 1000) + 1
	)  # full pages of 1,000 (Xero says the page count), credit notes

	emulator.advance(600)  # the next poll, ten minutes on
	quiet_calls, quiet = poll()
	assert quiet_calls == 2 and quiet.updated == []

	for xero_id in ids[:PAID]:
		emulator.pay(world.tenant_id, xero_id, Decimal("15.00"))
	busy_calls, busy = poll()
	assert len(busy.updated) == PAID and busy.fetched == PAID
	assert busy_calls == 2 + math.ceil(PAID / 50)

	# A company that takes Xero's payments as Payment Entries: the same poll also lists the payments.
	config = dataclasses.replace(
		world.config,
		tenants=tuple(
			dataclasses.replace(t, payments_owned_by=PAYMENTS_IN_XERO, pull_payments=True)
			for t in world.config.tenants
		),
	)

	def pull() -> tuple[int, object]:
		before = emulator.total_calls(world.tenant_id)
		found = poll_payments(
			world.tenant_id,
			reader=gateway.payments,
			db=world.db,
			watermarks=marks,
			started=datetime.fromtimestamp(emulator.now(), tz=timezone.utc),
			now=world.clock(),
			config=config,
		)
		world.db.commit("poll")
		return emulator.total_calls(world.tenant_id) - before, found

	pulled_calls, pulled = pull()
	assert len(pulled.queued) == PAID and pulled_calls == 1
	emulator.advance(600)
	overlap_calls, overlap = pull()  # inside the next poll's 5-minute overlap: listed again, queued once
	assert overlap.queued == [] and overlap_calls == 1
	emulator.advance(600)
	quiet_pull_calls, quiet_pull = pull()
	assert quiet_pull.listed == 0 and quiet_pull_calls == 1

	print(
		f"\nstatus poll, {INVOICES} invoices: first poll {first_calls} calls; quiet poll {quiet_calls} calls "
		f"({quiet_calls * POLLS_PER_HOUR}/hour at every 10 minutes); after {PAID} payments {busy_calls} calls"
		f"\nwith Payment Entries from Xero: the {PAID} payments listed in {pulled_calls} call; quiet "
		f"{quiet_calls + quiet_pull_calls} calls a poll ({(quiet_calls + quiet_pull_calls) * POLLS_PER_HOUR}/hour)"
	)
