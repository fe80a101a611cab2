"""The reconciliation against the emulator (real SDK over HTTP) and the log on MariaDB.

Copies are made the way they arise: the same request body a drain sent, created a second time in Xero
under another key (what a create committed after its timeout, then retried, leaves behind). Bill and
supplier credit note numbers may repeat in Xero, so those are the copies that can exist.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.untracked_scan import ORPHAN, VOIDED, SqlLedger, reconcile, void_one
from tests.integration.test_push_engine import Crash, CrashAfter
from tests.support.world import COMPANY, SITE_URL, World, clone


def _uid() -> str:
	return uuid.uuid4().hex[:6]


def _now(world: World) -> datetime:
	return datetime.fromtimestamp(world.emulator.now(), tz=timezone.utc)


def _run(world: World, since: datetime | None = None, **kwargs):
	return reconcile(
		world.tenant_id,
		since or _now(world) - timedelta(hours=1),
		gateway=kwargs.pop("gateway", None) or world.gateway(),
		ledger=SqlLedger(world.db, lambda tenant_id: [COMPANY] if tenant_id == world.tenant_id else []),
		site_url=SITE_URL,
		started=_now(world),
		**kwargs,
	)


def _bill(world: World, bill_no: str | None = None) -> str:
	name = f"PINV-{_uid()}"
	world.submit(clone("pi_nz_freight", name, bill_no=bill_no or f"SP-{_uid()}"))
	return name


def _copy(world: World, name: str, **changes) -> str:
	"""Create in Xero, under a new key, the body the drain sent for `name`; return the copy's ID."""
	row = world.log(name)
	body = {**json.loads(row["request"]), **changes}
	body = {k: v for k, v in body.items() if v is not None}
	(result,) = world.gateway().create_documents(
		world.tenant_id, Kind(row["xero_type"]), [body], f"copy-{_uid()}"
	)
	assert result.ok, result.errors
	return result.record.xero_id


def _status(world: World, xero_id: str) -> str:
	(doc,) = [d for d in world.emulator.ledger(world.tenant_id) if d["xero_id"] == xero_id]
	return doc["status"]


def test_an_untracked_copy_of_a_synced_bill_is_voided_and_the_tracked_one_kept(world):
	name = _bill(world)
	assert world.drain().synced == 1
	tracked = world.log(name)["xero_id"]
	copy = _copy(world, name)
	report = _run(world)
	assert [(f.xero_id, f.status, f.reference) for f in report.findings] == [
		(copy, VOIDED, ("Purchase Invoice", name))
	]
	assert (_status(world, copy), _status(world, tracked)) == ("VOIDED", "AUTHORISED")
	assert _run(world).findings == []  # a voided copy is not live any more: nothing to do next time


def test_a_draft_copy_is_deleted(world):
	name = _bill(world)
	world.drain()
	copy = _copy(world, name, Status="DRAFT")
	(finding,) = _run(world).findings
	assert (finding.status, finding.xero_status, _status(world, copy)) == (VOIDED, "DELETED", "DELETED")


def test_a_copy_with_a_payment_is_an_orphan_with_the_reason_and_stays_live(world, emulator):
	name = _bill(world)
	world.drain()
	copy = _copy(world, name)
	emulator.pay(world.tenant_id, copy, Decimal("100.00"))
	(finding,) = _run(world).findings
	assert finding.status == ORPHAN and finding.reference == ("Purchase Invoice", name)
	assert "payments of 100" in finding.reason
	assert _status(world, copy) == "AUTHORISED"


def test_a_row_still_queued_defers_everything_with_its_number(world):
	"""A drain killed after its create: the row is Queued (leased) and the ID not stored yet."""
	name = _bill(world)
	with pytest.raises(Crash):
		world.drain(gateway=CrashAfter(world.gateway(), "create_documents"))
	report = _run(world)
	(deferred,) = report.deferred
	assert report.findings == [] and world.log(name)["status"] == "Queued"
	assert len(world.live(deferred.number)) == 1 and world.live(deferred.number)[0]["status"] == "AUTHORISED"
	# the watermark waits for it, so the next run lists it again
	assert report.next_since <= deferred.updated
	world.clock.advance(LEASE_SECONDS + 1)
	assert world.drain().synced == 1  # the takeover adopts it
	later = _run(world, since=report.next_since)
	assert later.deferred == [] and later.findings == [] and later.untracked == 0


def test_a_bill_of_another_supplier_with_the_same_number_is_not_ours(world, emulator):
	bill_no = f"SP-{_uid()}"
	name = _bill(world, bill_no)
	world.drain()
	other = emulator.add_contact(world.tenant_id, f"Other Supplier {_uid()}")
	foreign = _copy(world, name, Contact={"ContactID": other}, Url=None)
	report = _run(world)
	assert report.findings == [] and report.not_ours == 1
	assert _status(world, foreign) == "AUTHORISED"


def test_a_document_with_our_marker_that_differs_from_the_tracked_one_is_only_shown(world, emulator):
	"""Same bill number and our Url, but another contact: ours, yet not a copy to void blindly."""
	name = _bill(world)
	world.drain()
	other = emulator.add_contact(world.tenant_id, f"Other Supplier {_uid()}")
	odd = _copy(world, name, Contact={"ContactID": other})
	(finding,) = _run(world).findings
	assert (finding.xero_id, finding.status, _status(world, odd)) == (odd, ORPHAN, "AUTHORISED")
	assert "differs" in finding.reason and world.log(name)["xero_id"] in finding.reason


def test_a_copy_is_still_found_after_log_clearing_removed_the_row(world):
	"""Log Settings deleted the row; the ERP document's own xero_id still says which one is tracked."""
	name = _bill(world)
	world.drain()
	copy = _copy(world, name)
	world.db.execute("DELETE FROM `tabXero Sync Log` WHERE reference_name = %(n)s", {"n": name})
	world.db.commit("test: log clearing")
	(finding,) = _run(world).findings
	assert (finding.xero_id, finding.status, _status(world, copy)) == (copy, VOIDED, "VOIDED")


def test_a_copy_of_a_bill_deleted_in_erpnext_is_voided_through_the_row_left_behind(world):
	"""The log keeps the row (and the number it had in Xero) when the document itself is deleted."""
	name = _bill(world)
	world.drain()
	copy = _copy(world, name)
	world.db.execute("DELETE FROM `tabPurchase Invoice` WHERE name = %(n)s", {"n": name})
	world.db.commit("test: document deleted in ERPNext")
	(finding,) = _run(world).findings
	assert (finding.reference, finding.status, _status(world, copy)) == (
		("Purchase Invoice", name),
		VOIDED,
		"VOIDED",
	)


def test_a_copy_of_a_cancelled_and_voided_bill_is_voided_too(world):
	name = _bill(world)
	world.drain()
	world.erp.cancel("Purchase Invoice", name)
	assert world.drain().voided == 1
	copy = _copy(world, name)
	(finding,) = _run(world).findings
	assert (finding.status, _status(world, copy)) == (VOIDED, "VOIDED")


def test_a_copy_of_a_bill_whose_tracked_one_was_voided_in_xero_is_only_shown(world):
	"""The ERP bill is submitted but its tracked Xero bill is void: the copy is the only live one."""
	name = _bill(world)
	world.drain()
	tracked = world.log(name)["xero_id"]
	world.gateway().set_statuses(world.tenant_id, Kind.BILL, [(tracked, "VOIDED")], f"v-{_uid()}")
	copy = _copy(world, name)
	(finding,) = _run(world).findings
	assert finding.status == ORPHAN and "is VOIDED in Xero" in finding.reason
	assert _status(world, copy) == "AUTHORISED"


def test_a_supplier_credit_note_copy_is_shown_never_voided(world):
	"""Xero's credit notes carry no Url and createdByMyApp lists invoices only: nothing proves a credit
	note is ours, so a look-alike is left for a person."""
	bill, ret = f"PINV-{_uid()}", f"PRET-{_uid()}"
	world.submit(clone("pi_nz_freight", bill, bill_no=f"SP-{_uid()}"))
	world.drain()
	world.submit(clone("pi_nz_return", ret, return_against=bill, bill_no=f"SC-{_uid()}"))
	assert world.drain().synced == 1
	copy = _copy(world, ret)
	(finding,) = _run(world).findings
	assert (finding.kind, finding.status, _status(world, copy)) == (Kind.BILL_CREDIT, ORPHAN, "AUTHORISED")
	assert "cannot say which app made a credit note" in finding.reason and "Ignore" in finding.reason


# -- only what is provably ours is voided (issue 18, item 1) -------------------------------------------


def _adopted_bill(world, emulator, bill_no: str, day) -> tuple[str, str, str]:
	"""A bill keyed into Xero by hand before go-live and adopted by a Backfill: (name, Xero ID, contact)."""
	from tests.support.seeding import keyed_and_adopted

	name = f"PINV-OCT-{_uid()}"
	doc = clone("pi_nz_freight", name, bill_no=bill_no, posting_date=day.isoformat())
	supplier = emulator.add_contact(world.tenant_id, "Southern Packaging Ltd")  # keyed by hand too
	xero_id = keyed_and_adopted(world, doc, Kind.BILL, bill_no, supplier)
	return name, xero_id, supplier


def test_next_months_bill_keyed_by_hand_like_an_adopted_one_is_never_touched(world, emulator):
	"""The bench's reproduction: October's bill adopted (no Url), November's keyed in Xero with the same
	supplier, reference and amount on another date. It used to be voided as an untracked copy."""
	import datetime

	from tests.support.seeding import hand_key

	bill_no = f"ACCT-{_uid()}"
	name, october, supplier = _adopted_bill(world, emulator, bill_no, datetime.date(2026, 10, 5))
	total = world.live(bill_no)[0]["total"]
	november = hand_key(
		world.gateway(), world.tenant_id, Kind.BILL, bill_no, supplier, total, datetime.date(2026, 11, 5)
	)
	report = _run(world)
	assert report.findings == [] and report.not_ours == 1
	assert (_status(world, november), _status(world, october)) == ("AUTHORISED", "AUTHORISED")
	# the same once the adopted bill's ERPNext document is cancelled
	world.erp.cancel("Purchase Invoice", name)
	assert _run(world).findings == [] and _status(world, november) == "AUTHORISED"


def test_a_same_day_look_alike_keyed_by_a_person_is_shown_with_both_documents_never_voided(world, emulator):
	import datetime

	from tests.support.seeding import hand_key

	bill_no = f"ACCT-{_uid()}"
	day = datetime.date(2026, 10, 5)
	name, october, supplier = _adopted_bill(world, emulator, bill_no, day)
	total = world.live(bill_no)[0]["total"]
	twin = hand_key(world.gateway(), world.tenant_id, Kind.BILL, bill_no, supplier, total, day)
	(finding,) = _run(world).findings
	assert (finding.xero_id, finding.status, finding.reference) == (twin, ORPHAN, ("Purchase Invoice", name))
	assert october in finding.reason and "keyed in Xero by a person" in finding.reason
	assert (_status(world, twin), _status(world, october)) == ("AUTHORISED", "AUTHORISED")


def test_a_bill_copy_without_our_marker_is_never_touched(world):
	"""Made by this app, but its Url does not name the ERP document: a bill number proves nothing."""
	name = _bill(world)
	world.drain()
	copy = _copy(world, name, Url=None)
	report = _run(world)
	assert (report.findings, report.not_ours, _status(world, copy)) == ([], 1, "AUTHORISED")


def test_a_look_alike_a_person_keyed_with_our_marker_is_shown_not_voided(world):
	"""Our Url, copied by hand into Xero: Xero does not list it as created by this app."""
	from tests.support.seeding import person_in_xero

	name = _bill(world)
	world.drain()
	row = world.log(name)
	body = json.loads(row["request"])
	(made,) = person_in_xero(world.gateway()).create_documents(
		world.tenant_id, Kind.BILL, [body], f"p-{_uid()}"
	)
	(finding,) = _run(world).findings
	assert (finding.xero_id, finding.status, _status(world, made.record.xero_id)) == (
		made.record.xero_id,
		ORPHAN,
		"AUTHORISED",
	)
	assert "not list it as created by this app" in finding.reason


def test_automatic_voiding_off_records_orphans_and_void_one_voids_on_request(world):
	name = _bill(world)
	world.drain()
	copy = _copy(world, name)
	(finding,) = _run(world, auto_void=False).findings
	assert finding.status == ORPHAN and _status(world, copy) == "AUTHORISED"
	done = void_one(world.tenant_id, Kind.BILL, copy, gateway=world.gateway(), attempt=1)
	assert (done.status, _status(world, copy)) == (VOIDED, "VOIDED")


def test_one_failing_kind_does_not_stop_the_others(world):
	bill, ret = f"PINV-{_uid()}", f"PRET-{_uid()}"
	world.submit(clone("pi_nz_freight", bill, bill_no=f"SP-{_uid()}"))
	world.drain()
	world.submit(clone("pi_nz_return", ret, return_against=bill, bill_no=f"SC-{_uid()}"))
	world.drain()
	bill_copy, note_copy = _copy(world, bill), _copy(world, ret)
	world.emulator.inject(
		"500", method="GET", endpoint="CreditNotes/{id}", tenant_id=world.tenant_id, times=None
	)
	report = _run(world)
	assert [f.xero_id for f in report.voided] == [bill_copy] and report.errors
	assert _status(world, note_copy) == "AUTHORISED"


def test_calls_per_run_for_five_hundred_documents(world, emulator):
	"""Two listing GETs of up to 1000 documents each, then one read and one void per kind with copies."""
	for i in range(500):
		world.submit(clone("si_nz_exclusive_discount", f"SINV-R-{_uid()}-{i}"))
	bills = [_bill(world) for _ in range(3)]
	world.drain()
	emulator.reset_counters()
	quiet = _run(world)
	assert (quiet.listed, quiet.untracked, quiet.findings) == (503, 0, [])
	assert (emulator.total_calls(world.tenant_id), quiet.calls) == (2, 1)  # HTTP requests, gateway calls
	copies = [_copy(world, name) for name in bills]
	emulator.reset_counters()
	report = _run(world)
	assert sorted(f.xero_id for f in report.voided) == sorted(copies)
	# listing (2 HTTP requests), the full read, Xero's createdByMyApp proof, the void
	assert (emulator.total_calls(world.tenant_id), report.calls) == (5, 4)


def test_a_hand_keyed_copy_of_a_document_posted_before_go_live_is_not_ours(world, emulator):
	"""Before go-live the accountant keyed invoices into Xero by hand; the net must not call them copies."""
	import datetime

	from tests.support.seeding import hand_key, insert_document

	name = f"SINV-{_uid()}"
	insert_document(world, clone("si_nz_inclusive", name, posting_date="2026-03-02"))
	contact = emulator.add_contact(world.tenant_id, f"Tui Hardware {_uid()}")
	hand_key(
		world.gateway(),
		world.tenant_id,
		Kind.SALES_INVOICE,
		name,
		contact,
		"115.00",
		datetime.date(2026, 3, 2),
	)

	def before_go_live(company, posting_date):
		return company == COMPANY and posting_date < datetime.date(2026, 4, 1)

	ledger = SqlLedger(world.db, lambda tenant_id: [COMPANY], before_go_live)
	since = _now(world) - timedelta(hours=1)
	report = reconcile(
		world.tenant_id, since, gateway=world.gateway(), ledger=ledger, site_url=SITE_URL, started=_now(world)
	)
	assert (report.findings, report.not_ours) == ([], 1)
	# without a go-live date the same document is shown as an Orphan (never voided: no Xero ID to compare),
	# and the advice never tells anyone to void what may be the real document
	(finding,) = _run(world, since).findings
	assert finding.status == ORPHAN and "may be the real document" in finding.reason
	assert "void it" not in finding.reason.lower()
