"""The Xero Sync Log as the sync journal: outbox rows, leases, write-ahead marker, outcomes.

The SQL here is the only SQL that touches the log's lease columns. The Frappe layer runs it through
frappe.db (`FrappeDb` in nexwave_xero_connector/adapters.py); the tests run the very same statements on
the local MariaDB through PyMySQL. One row per ERP document: push, retries and the void after a cancel
all go through that row, so a single lease serialises everything that can happen to one document.
"""

from __future__ import annotations

import functools
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from .model import Outcome, Status, SyncRow, XeroRecord

LOG_TABLE = "`tabXero Sync Log`"
ATTEMPT_TABLE = "`tabXero Sync Attempt`"
# Frappe's ERP tables the log writes the Xero ID back to (custom fields added on install).
XERO_FIELDS_TABLES = {"Sales Invoice": "`tabSales Invoice`", "Purchase Invoice": "`tabPurchase Invoice`"}

# How many times a journal transaction is re-run after a deadlock or lock-wait timeout.
LOCK_RETRIES = 5

# Longest text kept for request/response/message columns (Code/Text columns are LONGTEXT/TEXT).
MAX_TEXT = 60_000

ROW_COLUMNS = (
	"name, reference_doctype, reference_name, company, tenant_id, status, attempts, send_started, "
	"key_generation, cancel_requested, void_confirmed, xero_id, xero_number, xero_status, xero_type"
)

# One compare-and-set claims the batch: only rows nobody holds (or whose lease ran out) match, and each
# matched row gets this claim's unique owner, so the SELECT that follows returns exactly what we won.
CLAIM_SQL = f"""
UPDATE {LOG_TABLE}
SET lease_owner = %(owner)s, lease_expires_at = %(expires)s, attempts = attempts + 1,
	last_attempt_at = %(now)s, modified = %(now)s
WHERE status = 'Queued' AND tenant_id = %(tenant_id)s
	AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)
	AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
ORDER BY creation
LIMIT %(limit)s
"""

CLAIMED_SQL = f"SELECT {ROW_COLUMNS} FROM {LOG_TABLE} WHERE lease_owner = %(owner)s AND status = 'Queued'"

RENEW_SQL = f"""
UPDATE {LOG_TABLE} SET lease_expires_at = %(expires)s
WHERE lease_owner = %(owner)s AND status = 'Queued' AND name IN %(names)s
"""

HELD_SQL = f"""
SELECT name FROM {LOG_TABLE}
WHERE lease_owner = %(owner)s AND status = 'Queued' AND name IN %(names)s AND lease_expires_at >= %(now)s
"""

MARK_SENDING_SQL = f"""
UPDATE {LOG_TABLE} SET send_started = 1, key_generation = %(generation)s, modified = %(now)s
WHERE name = %(name)s AND lease_owner = %(owner)s AND status = 'Queued' AND lease_expires_at >= %(now)s
	AND cancel_requested = 0
"""

STORE_ID_SQL = f"""
UPDATE {LOG_TABLE}
SET xero_id = %(xero_id)s, xero_number = %(xero_number)s, xero_status = %(xero_status)s, modified = %(now)s
WHERE name = %(name)s AND lease_owner = %(owner)s
"""

# A Synced outcome must not overwrite a cancel that committed while we were pushing: the UPDATE's
# current read sees the cancel's committed flag (or waits for its row lock), so the race is decided here.
FINISH_SQL = f"""
UPDATE {LOG_TABLE}
SET status = %(status)s, error_class = %(error_class)s, error_message = %(message)s,
	xero_id = COALESCE(%(xero_id)s, xero_id), xero_number = COALESCE(%(xero_number)s, xero_number),
	xero_status = COALESCE(%(xero_status)s, xero_status), next_attempt_at = %(retry_at)s,
	synced_at = CASE WHEN %(status)s = 'Synced' THEN %(now)s ELSE synced_at END,
	request = COALESCE(%(request)s, request), response = COALESCE(%(response)s, response),
	title = %(title)s, lease_owner = NULL, lease_expires_at = NULL, stuck = 0, modified = %(now)s
WHERE name = %(name)s AND lease_owner = %(owner)s
	AND NOT (%(status)s = 'Synced' AND cancel_requested = 1)
"""

# idx = the claim's attempt number: no MAX(idx) read, whose next-key locks deadlocked concurrent finishes.
ATTEMPT_SQL = f"""
INSERT INTO {ATTEMPT_TABLE}
	(name, creation, modified, owner, modified_by, docstatus, parent, parentfield, parenttype, idx,
	attempt, started_at, finished_at, worker, action, outcome, message, calls)
VALUES (%(name)s, %(now)s, %(now)s, 'Administrator', 'Administrator', 0, %(parent)s, 'attempt_log',
	'Xero Sync Log', %(attempt)s, %(attempt)s, %(started)s, %(now)s, %(worker)s, %(action)s, %(outcome)s,
	%(message)s, %(calls)s)
"""

WRITE_BACK_SQL = """
UPDATE {table} SET xero_id = %(xero_id)s, xero_status = %(xero_status)s, xero_last_synced = %(now)s
WHERE name = %(name)s
"""

# Run by on_cancel inside the cancel's own transaction. A Synced/Failed/Orphan row goes back to the queue
# so the drain voids it (or skips it when it never reached Xero); a row being pushed right now keeps its
# lease and the flag makes that push's Synced outcome refuse itself (FINISH_SQL).
REQUEST_CANCEL_SQL = f"""
UPDATE {LOG_TABLE}
SET cancel_requested = 1, next_attempt_at = NULL, modified = %(now)s,
	status = CASE WHEN status IN ('Synced', 'Failed', 'Orphan') THEN 'Queued' ELSE status END
WHERE reference_doctype = %(doctype)s AND reference_name = %(name)s AND status NOT IN ('Voided', 'Skipped')
"""

TENANTS_WITH_WORK_SQL = f"""
SELECT DISTINCT tenant_id FROM {LOG_TABLE}
WHERE status = 'Queued' AND tenant_id IS NOT NULL AND tenant_id != ''
	AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)
	AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
"""


class SqlDb(Protocol):
	"""The three things the journal needs from a database connection."""

	def query(self, sql: str, params: dict) -> list[dict]:
		"""Run a SELECT and return rows as dicts."""

	def execute(self, sql: str, params: dict) -> int:
		"""Run a write and return the number of rows it changed."""

	def commit(self, reason: str) -> None:
		"""Make everything so far durable; `reason` says why this is a commit point."""

	def rollback(self) -> None:
		"""Undo the open transaction (the database already did, after a deadlock)."""

	def is_lock_conflict(self, exc: Exception) -> bool:
		"""Whether `exc` is a deadlock or lock-wait timeout, after which the transaction may be re-run."""


def _rerun_on_lock_conflict(method):
	"""Each journal write is one short transaction, so when InnoDB picks it as a deadlock victim (a claim's
	range scan crossing a finish's index update, seen under 4 workers) it is simply run again."""

	@functools.wraps(method)
	def rerun(self, *args, **kwargs):
		for attempt in range(1, LOCK_RETRIES + 1):
			try:
				return method(self, *args, **kwargs)
			except Exception as exc:
				if attempt == LOCK_RETRIES or not self.db.is_lock_conflict(exc):
					raise
				self.db.rollback()
				time.sleep(random.uniform(0.005, 0.03) * attempt)

	return rerun


class SqlJournal:
	"""Journal over SQL. Each public method is one transaction ending in one commit named by its reason."""

	def __init__(self, db: SqlDb, clock: Callable[[], datetime], worker: str = ""):
		self.db = db
		self.clock = clock
		self.worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
		self._claimed_at: dict[str, datetime] = {}

	def now(self) -> datetime:
		return self.clock()

	@_rerun_on_lock_conflict
	def claim(self, tenant_id: str, owner: str, limit: int, lease_seconds: int) -> list[SyncRow]:
		"""Lease up to `limit` claimable rows of the tenant to `owner`."""
		now = self.now()
		self.db.execute(
			CLAIM_SQL,
			{
				"owner": owner,
				"expires": now + timedelta(seconds=lease_seconds),
				"now": now,
				"tenant_id": tenant_id,
				"limit": limit,
			},
		)
		self.db.commit("claim: the lease must be visible to every other worker before we work")
		rows = [_to_row(r) for r in self.db.query(CLAIMED_SQL, {"owner": owner})]
		for row in rows:
			self._claimed_at[row.name] = now
		return rows

	@_rerun_on_lock_conflict
	def renew(self, owner: str, names: Sequence[str], lease_seconds: int) -> set[str]:
		"""Extend the lease of `names`; return those still held."""
		if not names:
			return set()
		now = self.now()
		params = {"owner": owner, "names": tuple(names), "now": now}
		held = {r["name"] for r in self.db.query(HELD_SQL, params)}
		if held:
			self.db.execute(
				RENEW_SQL,
				{"owner": owner, "names": tuple(held), "expires": now + timedelta(seconds=lease_seconds)},
			)
		self.db.commit("renew: a longer lease keeps other workers off rows we are still pushing")
		return held

	@_rerun_on_lock_conflict
	def mark_sending(self, owner: str, generations: dict[str, int]) -> set[str]:
		"""Commit the write-ahead marker; only the rows it returns may be sent."""
		now = self.now()
		marked = {
			name
			for name, generation in generations.items()
			if self.db.execute(
				MARK_SENDING_SQL, {"name": name, "owner": owner, "generation": generation, "now": now}
			)
		}
		self.db.commit("write-ahead: from here on a retry must look in Xero before creating again")
		return marked

	@_rerun_on_lock_conflict
	def store_xero_ids(self, owner: str, records: dict[str, XeroRecord]) -> None:
		"""Store Xero IDs on the log rows and on the ERP documents, in one transaction."""
		if not records:
			return
		now = self.now()
		refs = self._refs(records)
		for name, record in records.items():
			changed = self.db.execute(
				STORE_ID_SQL,
				{
					"name": name,
					"owner": owner,
					"xero_id": record.xero_id,
					"xero_number": record.number,
					"xero_status": record.status,
					"now": now,
				},
			)
			if changed and name in refs:
				self._write_back(refs[name], record.xero_id, record.status, now)
		self.db.commit("xero id: a crash after this point must not lose the ID Xero gave us")

	@_rerun_on_lock_conflict
	def finish(self, owner: str, row: SyncRow, outcome: Outcome) -> bool:
		"""Record the outcome, release the lease, append the attempt; False if refused or lease lost."""
		now = self.now()
		changed = self.db.execute(
			FINISH_SQL,
			{
				"name": row.name,
				"owner": owner,
				"status": outcome.status.value,
				"error_class": outcome.error_class.value if outcome.error_class else None,
				"message": _clip(outcome.message),
				"xero_id": outcome.xero_id,
				"xero_number": outcome.xero_number,
				"xero_status": outcome.xero_status,
				"retry_at": outcome.retry_at,
				"now": now,
				"request": _json(outcome.request),
				"response": _json(outcome.response),
				"title": title_for(row, outcome),
			},
		)
		if changed:
			self._append_attempt(row, outcome, now)
			if outcome.xero_status and row.reference_doctype in XERO_FIELDS_TABLES:
				self._write_back(row.ref, outcome.xero_id or row.xero_id, outcome.xero_status, now)
		self.db.commit("outcome: the row's new status and its attempt are one fact")
		self._claimed_at.pop(row.name, None)
		return bool(changed)

	def tenants_with_work(self) -> list[str]:
		"""Tenants whose queue has rows a drain could claim now."""
		return [r["tenant_id"] for r in self.db.query(TENANTS_WITH_WORK_SQL, {"now": self.now()})]

	def _refs(self, records: dict[str, XeroRecord]) -> dict[str, tuple[str, str]]:
		rows = self.db.query(
			f"SELECT name, reference_doctype, reference_name FROM {LOG_TABLE} WHERE name IN %(names)s",
			{"names": tuple(records)},
		)
		return {r["name"]: (r["reference_doctype"], r["reference_name"]) for r in rows}

	def _write_back(self, ref: tuple[str, str], xero_id: str | None, xero_status: str, now: datetime) -> None:
		table = XERO_FIELDS_TABLES.get(ref[0])
		if table and xero_id:
			self.db.execute(
				WRITE_BACK_SQL.format(table=table),
				{"name": ref[1], "xero_id": xero_id, "xero_status": xero_status, "now": now},
			)

	def _append_attempt(self, row: SyncRow, outcome: Outcome, now: datetime) -> None:
		self.db.execute(
			ATTEMPT_SQL,
			{
				"name": uuid.uuid4().hex[:10],
				"now": now,
				"parent": row.name,
				"attempt": row.attempts,
				"started": self._claimed_at.get(row.name, now),
				"worker": self.worker,
				"action": outcome.action,
				"outcome": outcome.status.value,
				"message": _clip(outcome.message, 2000),
				"calls": outcome.calls,
			},
		)


def title_for(row: SyncRow, outcome: Outcome) -> str:
	"""Say what happened in words, for the list view."""
	verb = {
		Status.SYNCED: "sent to Xero",
		Status.VOIDED: "voided in Xero",
		Status.FAILED: "failed",
		Status.SKIPPED: "skipped",
		Status.ORPHAN: "is live in Xero but cancelled here",
		Status.QUEUED: "will be retried",
	}[outcome.status]
	number = f" as {outcome.xero_number or row.xero_number}" if outcome.status == Status.SYNCED else ""
	return f"{row.reference_name} {verb}{number}"[:140]


def _to_row(r: dict) -> SyncRow:
	return SyncRow(
		name=r["name"],
		reference_doctype=r["reference_doctype"],
		reference_name=r["reference_name"],
		company=r["company"] or "",
		tenant_id=r["tenant_id"],
		status=Status(r["status"]),
		attempts=int(r["attempts"] or 0),
		send_started=bool(r["send_started"]),
		key_generation=int(r["key_generation"] or 0),
		cancel_requested=bool(r["cancel_requested"]),
		void_confirmed=bool(r["void_confirmed"]),
		xero_id=r["xero_id"] or None,
		xero_number=r["xero_number"] or None,
		xero_status=r["xero_status"] or None,
		xero_type=r["xero_type"] or None,
	)


def _json(value) -> str | None:
	if value is None:
		return None
	return _clip(json.dumps(value, indent=1, sort_keys=True, default=str))


def _clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
	if text is None:
		return None
	return text if len(text) <= limit else text[: limit - 20] + "\n…(truncated)"


REQUEUE_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', next_attempt_at = NULL, error_class = NULL, modified = %(now)s
WHERE name IN %(names)s AND status IN %(from_statuses)s
"""


def request_cancel(db: SqlDb, doctype: str, name: str, now: datetime) -> int:
	"""Flag the document's row for voiding; runs inside the cancel's transaction, so it does not commit."""
	return db.execute(REQUEST_CANCEL_SQL, {"doctype": doctype, "name": name, "now": now})


def requeue(
	db: SqlDb, names: Sequence[str], now: datetime, from_statuses: Sequence[str] = ("Failed",)
) -> int:
	"""Put rows back in the queue (a human's Retry); a compare-and-set, so two clicks requeue once."""
	if not names:
		return 0
	return db.execute(REQUEUE_SQL, {"names": tuple(names), "now": now, "from_statuses": tuple(from_statuses)})


CONFIRM_VOID_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', void_confirmed = 1, cancel_requested = 1, next_attempt_at = NULL, modified = %(now)s
WHERE name IN %(names)s AND status = 'Orphan'
"""

# Rows nobody has moved for a while: still claimable (status stays Queued), only flagged for people. A row
# waiting out a back-off is not stuck: the clock starts when it became claimable again.
MARK_STUCK_SQL = f"""
UPDATE {LOG_TABLE} SET stuck = 1
WHERE status = 'Queued' AND stuck = 0 AND GREATEST(modified, COALESCE(next_attempt_at, modified)) < %(before)s
"""

# A person's Retry on a stuck row: drop its back-off so the next drain claims it at once.
RELEASE_STUCK_SQL = f"""
UPDATE {LOG_TABLE} SET next_attempt_at = NULL, modified = %(now)s
WHERE name IN %(names)s AND status = 'Queued' AND stuck = 1
"""

CANCELLED_BUT_SYNCED_SQL = """
SELECT l.reference_doctype, l.reference_name FROM `tabXero Sync Log` l
JOIN {table} d ON d.name = l.reference_name
WHERE l.reference_doctype = %(doctype)s AND l.status = 'Synced' AND l.cancel_requested = 0 AND d.docstatus = 2
"""


def confirm_void(db: SqlDb, names: Sequence[str], now: datetime) -> int:
	"""A person pressed Void in Xero on Orphan rows: queue them to be voided whatever the setting says."""
	if not names:
		return 0
	return db.execute(CONFIRM_VOID_SQL, {"names": tuple(names), "now": now})


def mark_stuck(db: SqlDb, now: datetime, minutes: int) -> int:
	"""Flag Queued rows that have not moved for `minutes` (the sweep keeps trying them regardless)."""
	return db.execute(MARK_STUCK_SQL, {"before": now - timedelta(minutes=minutes)})


def release_stuck(db: SqlDb, names: Sequence[str], now: datetime) -> int:
	"""Retry pressed on stuck rows: claimable now, whatever back-off they were waiting out."""
	if not names:
		return 0
	return db.execute(RELEASE_STUCK_SQL, {"names": tuple(names), "now": now})


def flag_cancelled_but_synced(db: SqlDb, now: datetime) -> list[tuple[str, str]]:
	"""The orphan scan: Synced rows whose document was cancelled without the hook (connector off, data
	fix) get the same flag on_cancel sets, so the drain voids them or shows them as Orphans."""
	found = []
	for doctype, table in XERO_FIELDS_TABLES.items():
		for r in db.query(CANCELLED_BUT_SYNCED_SQL.format(table=table), {"doctype": doctype}):
			if request_cancel(db, r["reference_doctype"], r["reference_name"], now):
				found.append((r["reference_doctype"], r["reference_name"]))
	return found


# Someone voided or deleted in Xero a document that is still submitted here. The row fails with the
# reason; its Xero ID moves into the message and the write-ahead marker stays set, so a Retry looks in
# Xero first and, finding nothing live, sends the document again.
REMOVED_IN_XERO_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Failed', error_class = 'Conflict', error_message = %(message)s, title = %(title)s,
	xero_status = %(xero_status)s, xero_id = NULL, send_started = 1, modified = %(now)s
WHERE tenant_id = %(tenant_id)s AND xero_id = %(xero_id)s AND status = 'Synced' AND cancel_requested = 0
"""


def flag_removed_in_xero(
	db: SqlDb, tenant_id: str, records: Sequence[XeroRecord], now: datetime
) -> list[str]:
	"""The drift scan: Synced rows whose Xero document was voided or deleted there are failed with the
	reason, and the invoice's Xero status says so; returns the ERP document names. Does not commit."""
	flagged = []
	for record in records:
		rows = db.query(
			f"SELECT name, reference_doctype, reference_name FROM {LOG_TABLE} WHERE tenant_id = %(t)s "
			"AND xero_id = %(x)s AND status = 'Synced' AND cancel_requested = 0",
			{"t": tenant_id, "x": record.xero_id},
		)
		for row in rows:
			state = record.status.lower()
			message = (
				f"{row['reference_name']} is submitted in ERPNext but was {state} in Xero "
				f"({record.number or record.xero_id}). Cancel it in ERPNext if that was right; otherwise press "
				"Retry to send it again (if Xero refuses the number, rename or delete its copy in Xero first)."
			)
			changed = db.execute(
				REMOVED_IN_XERO_SQL,
				{
					"message": message,
					"title": f"{row['reference_name']} was {state} in Xero"[:140],
					"xero_status": record.status,
					"now": now,
					"tenant_id": tenant_id,
					"xero_id": record.xero_id,
				},
			)
			table = XERO_FIELDS_TABLES.get(row["reference_doctype"])
			if changed and table:
				db.execute(
					f"UPDATE {table} SET xero_status = %(s)s WHERE name = %(n)s",
					{"s": record.status, "n": row["reference_name"]},
				)
				flagged.append(row["reference_name"])
	return flagged
