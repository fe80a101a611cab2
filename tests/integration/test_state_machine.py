"""Every status guard in the journal's SQL agrees with the one table in sync/states.py.

Each statement an actor runs is executed on the real MariaDB against a row in every status (with and
without a pending cancel, leased or not), and the status it leaves behind must be a transition that the
table allows that actor. Conversely every transition the table lists must be made by some statement, so
the table is not wider than the code.
"""

from __future__ import annotations

import itertools
import pathlib
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync import journal as j
from nexwave_xero_connector.sync import payments_from_xero as pull
from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO, SyncConfig, TenantLink
from nexwave_xero_connector.sync.model import Kind, Outcome, Status, Write, XeroRecord
from nexwave_xero_connector.sync.states import NEW, TRANSITIONS, Actor, allowed
from tests.support.db import PyMySqlDb
from tests.support.erp import SqlErp

TENANT = "tenant-sm"
LOG = "`tabXero Sync Log`"


@pytest.fixture
def db(database, clock):
	conn = PyMySqlDb(database, offset=clock.seconds)
	yield conn
	conn.rollback()
	conn.close()


def _doc(name: str) -> dict:
	return {"doctype": "Sales Invoice", "name": name, "company": "Kiwi Test Ltd", "customer": "Tui"}


def _paid(payment_id: str, status: str) -> pull.PaidInXero:
	return pull.PaidInXero(
		payment_id, status, "ACCRECPAYMENT", Decimal("10"), None, None, "", "090", "", "inv-1", "ACCREC"
	)


def _status_of(db, row: str) -> Status | None:
	rows = db.query(f"SELECT status FROM {LOG} WHERE name = %(n)s", {"n": row})
	return Status(rows[0]["status"]) if rows else None


def _row_in(
	db, erp, n: int, status: Status, cancelled: bool, leased: bool, docstatus: int
) -> tuple[str, str]:
	"""A document and its row in the given state; returns (row name, document name)."""
	name = f"SINV-SM-{n:04d}"
	row = erp.submit(_doc(name), TENANT)
	db.execute(
		f"UPDATE {LOG} SET status = %(s)s, cancel_requested = %(c)s, xero_id = 'x-' , "
		"lease_owner = %(o)s, lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL 60 SECOND WHERE name = %(n)s",
		{"s": status.value, "c": int(cancelled), "o": "owner" if leased else None, "n": row},
	)
	db.execute(
		"UPDATE `tabSales Invoice` SET docstatus = %(d)s, xero_id = 'x-1', xero_status = 'AUTHORISED' "
		"WHERE name = %(n)s",
		{"d": docstatus, "n": name},
	)
	db.commit("state machine: row prepared")
	return row, name


def _row_actions(db, erp, clock):
	"""(actor, label, action(row, doc)) for every statement that can change an existing row's status."""
	journal = j.SqlJournal(db, clock)
	now = clock

	def finish(status):
		def run(row, doc):
			claimed = j.read_row(db, row)
			journal.finish("owner", claimed, Outcome(status, "test"))

		return run

	def retake(status):
		def run(row, doc):
			db.execute(
				j.RETAKE_SKIPPED_SQL,
				{
					"name": row,
					"status": status.value,
					"error_class": None,
					"message": "m",
					"title": "t",
					"tenant_id": TENANT,
					"xero_id": None,
					"xero_number": None,
					"xero_status": None,
					"now": now(),
				},
			)

		return run

	def drift(row, doc):
		j.flag_removed_in_xero(db, TENANT, [XeroRecord(Kind.SALES_INVOICE, "x-", doc, "VOIDED")], now())

	yield (
		Actor.SUBMIT,
		"requeue_on_submit",
		lambda row, doc: j.requeue_on_submit(
			db, row, tenant_id=TENANT, company="Kiwi Test Ltd", user="u", now=now()
		),
	)
	yield Actor.CANCEL, "request_cancel", lambda row, doc: j.request_cancel(db, "Sales Invoice", doc, now())
	yield Actor.DELETE, "detach_deleted", lambda row, doc: j.detach_deleted(db, "Sales Invoice", doc, now())
	for status in Status:
		yield Actor.DRAIN, f"finish {status.value}", finish(status)
	yield Actor.RETRY, "requeue", lambda row, doc: j.requeue(db, [row], now())
	yield Actor.RETRY, "release_stuck", lambda row, doc: j.release_stuck(db, [row], now(), 0)
	yield Actor.VOID, "confirm_void", lambda row, doc: j.confirm_void(db, [row], now())
	yield (
		Actor.ORPHAN_SCAN,
		"flag_cancelled_but_synced",
		lambda row, doc: j.flag_cancelled_but_synced(db, now()),
	)
	yield Actor.DRIFT_SCAN, "flag_removed_in_xero", drift

	def payment_deleted(row, doc):
		db.execute(f"UPDATE {LOG} SET xero_type = %(t)s WHERE name = %(n)s", {"t": pull.PULLED, "n": row})
		pull.flag_deleted(db, row, _paid("p-1", "DELETED"), now())

	yield Actor.PAYMENT_POLL, "flag_deleted", payment_deleted

	def adopted(row, doc):
		db.execute(
			f"UPDATE {LOG} SET xero_type = %(t)s, response = %(r)s WHERE name = %(n)s",
			{"t": pull.PULLED, "r": '{"target_id": "inv-1"}', "n": row},
		)
		pull.retake_untracked(db, TENANT, ["inv-1"], now())

	yield Actor.BACKFILL, "retake_untracked", adopted
	for status in (Status.SYNCED, Status.FAILED, Status.QUEUED):
		yield Actor.BACKFILL, f"retake skipped as {status.value}", retake(status)
	yield Actor.CLEAR, "clear_old_rows", lambda row, doc: j.clear_old_rows(db, now() + timedelta(days=1))


def test_every_status_guard_agrees_with_the_transition_table(db, clock):
	erp = SqlErp(db, clock)
	made: set[tuple[Actor, Status | None, Status | None]] = set()
	refused: list[str] = []
	counter = itertools.count()
	actions = list(_row_actions(db, erp, clock))
	for (actor, label, action), status, cancelled, leased, docstatus in itertools.product(
		actions, Status, (False, True), (False, True), (1, 2)
	):
		row, doc = _row_in(db, erp, next(counter), status, cancelled, leased, docstatus)
		action(row, doc)
		db.commit("state machine: action")
		after = _status_of(db, row)
		made.add((actor, status, after))
		if not allowed(actor, status, after, cancelled):
			refused.append(f"{actor.value} ({label}) moved {status.value} -> {after} (cancel={cancelled})")
	# Inserts: the actors that create rows.
	now = clock()
	insert = {"doctype": "Sales Invoice", "company": "Kiwi Test Ltd", "tenant_id": TENANT, "now": now}
	for actor, status in ((Actor.SUBMIT, Status.QUEUED), (Actor.SUBMIT, Status.SKIPPED)):
		row = j.insert_row(db, name=f"NEW-{next(counter)}", xero_type="ACCREC", status=status, **insert)
		made.add((actor, NEW, _status_of(db, row)))
	for status in (Status.SYNCED, Status.FAILED, Status.QUEUED, Status.SKIPPED):
		row = j.insert_row(
			db, name=f"NEW-{next(counter)}", xero_type="ACCREC", status=status, backfill=True, **insert
		)
		made.add((Actor.BACKFILL, NEW, _status_of(db, row)))
	for actor, deleted in ((Actor.CANCEL, False), (Actor.DELETE, True)):
		row = j.queue_void_of_cleared(
			db,
			name=f"NEW-{next(counter)}",
			xero_type="ACCREC",
			xero_id="x-9",
			xero_status="AUTHORISED",
			deleted=deleted,
			**insert,
		)
		made.add((actor, NEW, _status_of(db, row)))
	config = SyncConfig(
		tenants=(TenantLink("Kiwi Test Ltd", TENANT, payments_owned_by=PAYMENTS_IN_XERO, pull_payments=True),)
	)
	pull.discover(db, TENANT, [_paid("p-new", "AUTHORISED")], config=config, now=now)
	made.add((Actor.PAYMENT_POLL, NEW, _status_of(db, pull.row_name("p-new"))))
	_, doc = _row_in(db, erp, next(counter), Status.SYNCED, False, False, 2)
	db.execute(f"DELETE FROM {LOG} WHERE reference_name = %(n)s", {"n": doc})  # the log was cleared
	j.flag_cancelled_without_row(db, now, lambda company: TENANT, lambda doctype, is_return: "ACCREC")
	(after,) = db.query(f"SELECT status FROM {LOG} WHERE reference_name = %(n)s", {"n": doc})
	made.add((Actor.ORPHAN_SCAN, NEW, Status(after["status"])))
	db.commit("state machine: inserts")
	assert refused == []
	missing = {
		(actor, before, after)
		for actor, pairs in TRANSITIONS.items()
		for before, after in pairs
		if (actor, before, after) not in made
	}
	assert missing == set(), "transitions the table allows but no statement makes"


def test_a_drain_write_on_a_row_it_does_not_hold_changes_nothing(db, clock):
	erp = SqlErp(db, clock)
	row, _ = _row_in(db, erp, 9000, Status.QUEUED, False, False, 1)
	claimed = j.read_row(db, row)
	assert (
		j.SqlJournal(db, clock).finish("someone-else", claimed, Outcome(Status.SYNCED, "x"))
		is Write.LEASE_LOST
	)
	assert _status_of(db, row) is Status.QUEUED


def test_every_status_statement_lives_in_the_journal():
	"""The guards above are only proof for the statements they run: a core module writing the log's status
	with its own SQL would escape them. Every statement that sets or inserts a status is the journal's."""
	core = pathlib.Path(j.__file__).parent
	log_write = re.compile(r"(UPDATE|INSERT[^;]*?INTO)\s+\{LOG_TABLE\}(.*?)\"\"\"", re.S)
	outside = []
	for path in sorted(core.rglob("*.py")):
		if path.name == "journal.py":
			continue
		for match in log_write.finditer(path.read_text()):
			verb, statement = match.group(1), match.group(2)
			columns = statement.split("WHERE")[0]
			if re.search(r"(?<![\w.])status\b", columns):
				outside.append(f"{path.relative_to(core)}: {verb} {statement.strip()[:60]}")
	assert outside == []
