"""The folded background read against the emulator (real SDK over HTTP) and the log on MariaDB: one
listing serves the status write-back, the drift scan and the untracked-copy scan; the credit notes are
listed only while one of ours is in play."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from nexwave_xero_connector.sync.background import ListedOnce, credit_notes_in_play, read_organisation
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.untracked_scan import VOIDED, SqlLedger, reconcile
from tests.integration.test_reconcile import _bill, _copy, _status
from tests.integration.test_status_poll import MemoryWatermarks
from tests.support.world import COMPANY, SITE_URL, World, clone


def _uid() -> str:
	return uuid.uuid4().hex[:6]


def _now(world: World) -> datetime:
	return datetime.fromtimestamp(world.emulator.now(), tz=timezone.utc)


def _read(world: World, marks: MemoryWatermarks, *, scan_since=None):
	gateway = world.gateway()
	calls = world.emulator.total_calls(world.tenant_id)
	folded = read_organisation(
		world.tenant_id,
		gateway=gateway,
		db=world.db,
		watermarks=marks,
		started=_now(world),
		now=world.clock(),
		credit_notes=credit_notes_in_play(world.db, world.tenant_id),
		scan_since=scan_since,
	)
	scan = reconcile(
		world.tenant_id,
		scan_since or _now(world) - timedelta(hours=1),
		gateway=ListedOnce(gateway, folded.live, folded.since),
		ledger=SqlLedger(world.db, lambda tenant_id: [COMPANY]),
		site_url=SITE_URL,
		started=_now(world),
	)
	world.db.commit("read")
	return folded, scan, world.emulator.total_calls(world.tenant_id) - calls


def test_one_listing_serves_status_drift_and_untracked_copies(world, emulator):
	paid, voided = f"SINV-{_uid()}", f"SINV-{_uid()}"
	world.submit(clone("si_nz_exclusive_discount", paid))
	world.submit(clone("si_nz_exclusive_discount", voided))
	bill = _bill(world)
	assert world.drain().synced == 3
	marks = MemoryWatermarks()
	emulator.advance(400)  # past the poll's overlap, so the next read lists nothing old
	first, _scan, calls = _read(world, marks)
	assert first.listings == 1 and calls == 1, "no credit note of ours: invoices and bills only"

	emulator.advance(600)
	quiet, scan, calls = _read(world, marks, scan_since=marks.get(world.tenant_id))
	assert (quiet.report.listed, scan.listed, calls) == (0, 0, 1)

	emulator.advance(600)
	since = marks.get(world.tenant_id)
	emulator.pay(world.tenant_id, world.log(paid)["xero_id"], D("50.00"))
	gateway = world.gateway()
	gateway.set_statuses(
		world.tenant_id, Kind.SALES_INVOICE, [(world.log(voided)["xero_id"], "VOIDED")], _uid()
	)
	copy = _copy(world, bill)
	emulator.advance(60)
	busy, scan, calls = _read(world, marks, scan_since=since)
	assert sorted(busy.report.updated) == sorted([paid, voided])
	assert busy.report.flagged == [voided]
	assert [(f.xero_id, f.status) for f in scan.findings] == [(copy, VOIDED)]
	assert _status(world, copy) == "VOIDED"
	# the listing (1), the paid invoice by ID (1); the copy read, checked and voided: no listing of its own
	assert calls == 2 + scan.calls - 1


def test_credit_notes_are_listed_while_one_of_ours_is_in_play(world, emulator):
	marks = MemoryWatermarks()
	assert not credit_notes_in_play(world.db, world.tenant_id)
	world.db.execute(
		"INSERT INTO `tabXero Sync Log` (name, creation, modified, status, reference_doctype, reference_name, "
		"tenant_id, xero_type) VALUES (%(n)s, NOW(), NOW(), 'Queued', 'Sales Invoice', %(n)s, %(t)s, %(k)s)",
		{"n": f"CN-{_uid()}", "t": world.tenant_id, "k": Kind.SALES_CREDIT.value},
	)
	assert credit_notes_in_play(world.db, world.tenant_id)
	folded, _scan, calls = _read(world, marks)
	assert folded.listings == 2 and calls == 2
	world.db.execute(
		"UPDATE `tabXero Sync Log` SET status = 'Synced', xero_status = 'VOIDED' "
		"WHERE tenant_id = %(t)s AND xero_type = %(k)s",
		{"t": world.tenant_id, "k": Kind.SALES_CREDIT.value},
	)
	assert not credit_notes_in_play(world.db, world.tenant_id)
