"""Backfill against the emulator (real SDK over HTTP) and the log on MariaDB.

Xero is seeded the way a company that keyed its year by hand leaves it: some documents with the same
numbers and totals (adopted), some with other totals or voided (conflicts), bills whose numbers other
suppliers reuse (not ours), and documents that are simply missing (created, or left Skipped).
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.backfill import ADOPT_ONLY, ADOPT_THEN_CREATE, backfill
from nexwave_xero_connector.sync.mapping import owed_total
from nexwave_xero_connector.sync.model import Kind
from tests.support.seeding import StandInBackfillSource, hand_key, insert_document
from tests.support.world import COMPANY, clone

ALL_KINDS = tuple(Kind)
START, END = datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)


class Seeded:
	"""One year's documents in the stand-in ERP, and what a person keyed into Xero by hand."""

	def __init__(self, world, emulator):
		self.world = world
		u = uuid.uuid4().hex[:5]
		self.docs: dict[str, dict] = {}
		gw, t = world.gateway(), world.tenant_id
		customer = emulator.add_contact(t, "Tui Hardware Ltd")  # keyed by hand: no ContactNumber
		supplier = emulator.add_contact(t, "Southern Packaging Ltd")
		other = emulator.add_contact(t, f"Other Supplier {u}")
		stranger = emulator.add_contact(t, f"Someone Else {u}")

		def sales(role, template="si_nz_inclusive", **changes):
			self.docs[role] = clone(template, f"{role}-{u}", **changes)
			insert_document(world, self.docs[role])
			return self.docs[role]

		def bill(role, bill_no, template="pi_nz_freight", **changes):
			self.docs[role] = clone(template, f"{role}-{u}", bill_no=f"{bill_no}-{u}", **changes)
			insert_document(world, self.docs[role])
			return self.docs[role]

		def total(doc):
			return abs(owed_total(doc))

		day = datetime.date(2026, 11, 16)
		d = sales("SI-SAME")
		hand_key(gw, t, Kind.SALES_INVOICE, d["name"], customer, total(d), day)
		d = sales("SI-DIFF")
		hand_key(gw, t, Kind.SALES_INVOICE, d["name"], customer, total(d) + 10, day)
		d = sales("SI-OTHER-CONTACT")
		hand_key(gw, t, Kind.SALES_INVOICE, d["name"], stranger, total(d), day)
		d = sales("SI-VOIDED")
		hand_key(gw, t, Kind.SALES_INVOICE, d["name"], customer, total(d), day, status="VOIDED")
		sales("SI-MISSING")
		d = sales("SC-SAME", "si_nz_return", return_against=f"SI-MISSING-{u}")
		hand_key(gw, t, Kind.SALES_CREDIT, d["name"], customer, total(d), datetime.date(2026, 11, 24))
		bill_day = datetime.date(2026, 11, 19)
		d = bill("PI-SAME", "INV-100")
		hand_key(gw, t, Kind.BILL, d["bill_no"], supplier, total(d), bill_day)
		hand_key(gw, t, Kind.BILL, d["bill_no"], other, Decimal("50.00"), bill_day)  # another supplier's
		d = bill("PI-REUSED", "INV-200")
		hand_key(gw, t, Kind.BILL, d["bill_no"], other, total(d), bill_day)  # same number, other supplier
		d = bill("PI-DIFF", "INV-300")
		hand_key(gw, t, Kind.BILL, d["bill_no"], supplier, total(d) + Decimal("0.50"), bill_day)
		self.day_before = len(emulator.ledger(t))

	def name(self, role):
		return self.docs[role]["name"]

	def rows(self) -> dict[str, tuple[str, str | None]]:
		"""role -> (status, error class) of its log row."""
		out = {}
		for role in self.docs:
			rows = self.world.db.query(
				"SELECT status, error_class FROM `tabXero Sync Log` WHERE reference_name = %(n)s",
				{"n": self.name(role)},
			)
			out[role] = (rows[0]["status"], rows[0]["error_class"]) if rows else None
		return out


ADOPT_ONLY_RESULT = {
	"SI-SAME": ("Synced", None),
	"SI-DIFF": ("Failed", "Conflict"),
	"SI-OTHER-CONTACT": ("Failed", "Conflict"),
	"SI-VOIDED": ("Failed", "Conflict"),
	"SI-MISSING": ("Skipped", None),
	"SC-SAME": ("Synced", None),
	"PI-SAME": ("Synced", None),
	"PI-REUSED": ("Skipped", None),
	"PI-DIFF": ("Failed", "Conflict"),
}
CREATED = {"SI-MISSING": ("Synced", None), "PI-REUSED": ("Synced", None)}


def _run(world, mode, **kwargs):
	return backfill(
		world.tenant_id,
		COMPANY,
		kwargs.pop("kinds", ALL_KINDS),
		START,
		END,
		mode,
		source=StandInBackfillSource(world),
		gateway=kwargs.pop("gateway", None) or world.gateway(),
		db=world.db,
		clock=world.clock,
		**kwargs,
	)


@pytest.fixture
def seeded(world, emulator) -> Seeded:
	return Seeded(world, emulator)


def _our_live(world, seeded: Seeded, role: str) -> list[dict]:
	doc = seeded.docs[role]
	number = doc.get("bill_no") or doc["name"]
	return world.live(number)


def test_adopt_only_adopts_equal_documents_reports_every_conflict_and_creates_nothing(
	world, emulator, seeded
):
	report = _run(world, ADOPT_ONLY)
	assert seeded.rows() == ADOPT_ONLY_RESULT
	assert (report.adopted, report.conflicts, report.skipped, report.queued) == (3, 4, 2, 0)
	assert len(emulator.ledger(world.tenant_id)) == seeded.day_before  # nothing created in Xero
	same = world.log(seeded.name("SI-SAME"))
	assert same["error_message"].startswith("Adopted: already in Xero")
	assert (
		same["xero_id"] and world.erp.xero_id_of("Sales Invoice", seeded.name("SI-SAME")) == same["xero_id"]
	)
	diff = world.log(seeded.name("SI-DIFF"))["error_message"]
	erp_total = abs(owed_total(seeded.docs["SI-DIFF"]))
	assert f"total {erp_total + 10:.2f} in Xero, {erp_total} in ERPNext" in diff
	assert "status VOIDED in Xero" in world.log(seeded.name("SI-VOIDED"))["error_message"]
	assert "contact" in world.log(seeded.name("SI-OTHER-CONTACT"))["error_message"]
	assert "total" in world.log(seeded.name("PI-DIFF"))["error_message"]
	assert world.log(seeded.name("SI-MISSING"))["error_message"].startswith("Not in Xero (adopt only)")
	# adopt-only is cheap: one lookup per kind present (3) and two for contacts, for the whole slice
	assert report.calls == 5


def test_adopt_then_create_creates_only_what_is_missing_and_no_duplicate(world, emulator, seeded):
	report = _run(world, ADOPT_THEN_CREATE)
	assert (report.adopted, report.conflicts, report.queued) == (3, 4, 2)
	queued = world.log(seeded.name("SI-MISSING"))
	assert (queued["status"], queued["backfill"]) == ("Queued", 1)
	world.drain()
	assert seeded.rows() == {**ADOPT_ONLY_RESULT, **CREATED}
	for role in seeded.docs:
		assert len(_our_live(world, seeded, role)) <= (2 if role in ("PI-SAME", "PI-REUSED") else 1), role
	# the bill number another supplier also uses: theirs stays, ours is created once
	reused = _our_live(world, seeded, "PI-REUSED")
	assert len(reused) == 2 and len({r["contact_id"] for r in reused}) == 2
	assert len(emulator.ledger(world.tenant_id)) == seeded.day_before + 2
	# a second run finds nothing left to do
	again = _run(world, ADOPT_THEN_CREATE)
	assert (again.total, again.calls) == (0, 0)


def test_adopt_only_then_adopt_then_create_takes_the_skipped_rows(world, seeded):
	_run(world, ADOPT_ONLY)
	report = _run(world, ADOPT_THEN_CREATE)
	assert (report.total, report.queued, report.adopted) == (2, 2, 0)
	world.drain()
	assert seeded.rows() == {**ADOPT_ONLY_RESULT, **CREATED}


class CrashingGateway:
	"""The worker dies (a non-Xero exception) at the n-th document lookup."""

	def __init__(self, gateway, at: int):
		self.gateway, self.at, self.seen = gateway, at, 0

	def find_documents(self, *args, **kwargs):
		self.seen += 1
		if self.seen == self.at:
			raise SystemExit("worker killed")
		return self.gateway.find_documents(*args, **kwargs)

	def __getattr__(self, name):
		return getattr(self.gateway, name)


@pytest.mark.parametrize("at", [1, 3, 5])
def test_a_crash_during_the_backfill_and_a_resume_give_the_same_result(world, emulator, seeded, at):
	with pytest.raises(SystemExit):
		_run(world, ADOPT_THEN_CREATE, gateway=CrashingGateway(world.gateway(), at), slice_size=3)
	world.db.rollback()  # the dead worker's open transaction is gone
	_run(world, ADOPT_THEN_CREATE)
	world.drain()
	assert seeded.rows() == {**ADOPT_ONLY_RESULT, **CREATED}
	assert len(emulator.ledger(world.tenant_id)) == seeded.day_before + 2


def test_stop_requested_stops_between_slices_and_resume_finishes(world, seeded):
	calls = []
	began = world.clock()
	first = _run(world, ADOPT_ONLY, slice_size=4, should_stop=lambda: len(calls) >= 1, progress=calls.append)
	assert first.stopped_by == "Stopped on request." and first.examined == 4
	second = _run(world, ADOPT_ONLY, slice_size=4, resumes=began)
	assert second.examined == second.total == 5 and second.done
	assert seeded.rows() == ADOPT_ONLY_RESULT


def test_a_document_posted_before_go_live_is_taken_through_its_skipped_row(world, seeded):
	"""The hook left a Skipped row; the backfill reuses it instead of adding a second row."""
	from nexwave_xero_connector.sync.journal import insert_row
	from nexwave_xero_connector.sync.model import Status

	name = seeded.name("SI-SAME")
	insert_row(
		world.db,
		doctype="Sales Invoice",
		name=name,
		company=COMPANY,
		tenant_id="",
		xero_type="ACCREC",
		now=world.clock(),
		status=Status.SKIPPED,
		message="posted before the go-live date",
	)
	world.db.commit("test: the hook's Skipped row")
	_run(world, ADOPT_ONLY, kinds=(Kind.SALES_INVOICE,))
	rows = world.db.query(
		"SELECT status, tenant_id FROM `tabXero Sync Log` WHERE reference_name = %(n)s", {"n": name}
	)
	assert rows == [{"status": "Synced", "tenant_id": world.tenant_id}]


def test_running_adopt_only_again_looks_up_what_it_left_not_in_xero(world, emulator, seeded):
	"""The README says Skipped rows are looked up again: a document keyed into Xero after an adopt-only run
	left it 'not in Xero' is adopted by the next run (it used to be decided 0 of 0)."""
	_run(world, ADOPT_ONLY)
	missing = seeded.docs["SI-MISSING"]
	customer = next(
		c["contact_id"] for c in emulator.contacts(world.tenant_id) if c["name"] == "Tui Hardware Ltd"
	)
	xero_id = hand_key(
		world.gateway(),
		world.tenant_id,
		Kind.SALES_INVOICE,
		missing["name"],
		customer,
		abs(owed_total(missing)),
		datetime.date(2026, 11, 16),
	)
	again = _run(world, ADOPT_ONLY)
	assert (again.total, again.adopted, again.skipped) == (2, 1, 1)  # SI-MISSING and PI-REUSED re-checked
	assert (world.log(missing["name"])["status"], world.log(missing["name"])["xero_id"]) == (
		"Synced",
		xero_id,
	)


def test_cancelling_documents_whose_xero_copies_were_adopted_leaves_them_to_a_person(world, seeded):
	"""An adopted invoice (no Url marker) and an adopted credit note (Xero gives it no Url: the row's
	Backfill flag is the proof) are Orphans after a cancel, never voided by the drain."""
	_run(world, ADOPT_ONLY)
	for role in ("SI-SAME", "SC-SAME"):
		world.erp.cancel("Sales Invoice", seeded.name(role))
	world.drain()
	for role in ("SI-SAME", "SC-SAME"):
		log = world.log(seeded.name(role))
		assert (log["status"], "this app did not make it" in log["error_message"]) == ("Orphan", True), role
		assert len(_our_live(world, seeded, role)) == 1, role
