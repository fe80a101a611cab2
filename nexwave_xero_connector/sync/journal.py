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

from .batching import Pending
from .model import Outcome, Status, SyncRow, Write, XeroRecord
from .payment_mapping import PAYMENT, PAYMENT_ENTRY, PULLED, WAITING_PREFIX
from .ports import SqlDb
from .states import CLEARABLE, Actor, sources, sql_list

LOG_TABLE = "`tabXero Sync Log`"
ATTEMPT_TABLE = "`tabXero Sync Attempt`"
# Frappe's ERP tables the log writes the Xero ID back to (custom fields added on install).
XERO_FIELDS_TABLES = {"Sales Invoice": "`tabSales Invoice`", "Purchase Invoice": "`tabPurchase Invoice`"}
# Documents the orphan scan checks for a cancel the hook never saw: the invoices, and Payment Entries (whose
# Xero payments are then deleted, as an invoice is voided).
CANCEL_SCANNED_TABLES = {**XERO_FIELDS_TABLES, "Payment Entry": "`tabPayment Entry`"}

# How many times a journal transaction is re-run after a deadlock or lock-wait timeout.
LOCK_RETRIES = 5

# Longest text kept for request/response/message columns (Code/Text columns are LONGTEXT/TEXT).
MAX_TEXT = 60_000

# Leases, send times and retry times are read and written with the DATABASE's clock, in UTC, inside the
# statements, never with a worker's: skewed workers and a daylight-saving jump (of a worker or of the
# database server's own zone) cannot shorten, lengthen or expire a lease. Those columns hold UTC; `modified`
# and the other display columns keep the site's clock, as Frappe does.
DB_NOW = "UTC_TIMESTAMP(6)"

ROW_COLUMNS = (
	"name, reference_doctype, reference_name, company, tenant_id, status, attempts, send_started, "
	"key_generation, cancel_requested, void_confirmed, xero_id, xero_number, xero_status, xero_type, "
	"sent_identity, deleted_reference, backfill, TIMESTAMPDIFF(MICROSECOND, sent_at, UTC_TIMESTAMP(6)) AS sent_age_us"
)

# One compare-and-set claims the batch: only rows nobody holds (or whose lease ran out) match, and each
# matched row gets this claim's unique owner, so the SELECT that follows returns exactly what we won.
CLAIM_SQL = f"""
UPDATE {LOG_TABLE}
SET lease_owner = %(owner)s, lease_expires_at = {DB_NOW} + INTERVAL %(lease)s SECOND,
	attempts = attempts + 1, last_attempt_at = %(now)s, modified = %(now)s
WHERE status = 'Queued' AND tenant_id = %(tenant_id)s
	AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW})
	AND (next_attempt_at IS NULL OR next_attempt_at <= {DB_NOW})
ORDER BY backfill, creation
LIMIT %(limit)s
"""

CLAIMED_SQL = f"SELECT {ROW_COLUMNS} FROM {LOG_TABLE} WHERE lease_owner = %(owner)s AND status = 'Queued'"

# A lease is renewed only while it is still ours and unexpired: a row whose lease ran out may already be
# in another worker's hands, so it is given up rather than taken back.
RENEW_SQL = f"""
UPDATE {LOG_TABLE} SET lease_expires_at = {DB_NOW} + INTERVAL %(lease)s SECOND
WHERE lease_owner = %(owner)s AND status = 'Queued' AND name IN %(names)s AND lease_expires_at >= {DB_NOW}
"""

HELD_SQL = f"""
SELECT name FROM {LOG_TABLE}
WHERE lease_owner = %(owner)s AND status = 'Queued' AND name IN %(names)s AND lease_expires_at >= {DB_NOW}
"""

# The gate a create passes right before its request leaves: still ours, not cancelled, lease renewed to
# cover the request; it records when (database clock) and what was sent, so a later lookup miss can tell
# "absent" from "maybe still in flight" and looks for what was really sent.
MARK_SENDING_SQL = f"""
UPDATE {LOG_TABLE}
SET send_started = 1, key_generation = %(generation)s, sent_at = {DB_NOW}, sent_identity = %(identity)s,
	lease_expires_at = {DB_NOW} + INTERVAL %(lease)s SECOND, modified = %(now)s
WHERE name = %(name)s AND lease_owner = %(owner)s AND status = 'Queued' AND lease_expires_at >= {DB_NOW}
	AND cancel_requested = 0
"""

# The call that was gated failed before anything left (refused locally, connection refused, 429): no
# request of this row can be in flight, so the next attempt needs no lookup.
UNMARK_SENDING_SQL = f"""
UPDATE {LOG_TABLE} SET send_started = 0, sent_at = NULL, sent_identity = NULL
WHERE name IN %(names)s AND lease_owner = %(owner)s AND status = 'Queued' AND xero_id IS NULL
"""

STORE_ID_SQL = f"""
UPDATE {LOG_TABLE}
SET xero_id = %(xero_id)s, xero_number = %(xero_number)s, xero_status = %(xero_status)s, sent_at = NULL,
	modified = %(now)s
WHERE name = %(name)s AND lease_owner = %(owner)s
"""

# Xero answered the create for these rows (a created element, an adopted one, or an element error): none
# of their requests is in flight any more, so a later lookup miss is proof of absence at once.
ANSWERED_SQL = f"""
UPDATE {LOG_TABLE} SET sent_at = NULL WHERE name IN %(names)s AND lease_owner = %(owner)s
"""

# A Synced outcome must not overwrite a cancel that committed while we were pushing: the UPDATE's
# current read sees the cancel's committed flag (or waits for its row lock), so the race is decided here.
FINISH_SQL = f"""
UPDATE {LOG_TABLE}
SET status = %(status)s, error_class = %(error_class)s, error_message = %(message)s,
	xero_id = COALESCE(%(xero_id)s, xero_id), xero_number = COALESCE(%(xero_number)s, xero_number),
	xero_status = COALESCE(%(xero_status)s, xero_status),
	next_attempt_at = CASE WHEN %(retry_us)s IS NULL THEN NULL
		ELSE {DB_NOW} + INTERVAL %(retry_us)s MICROSECOND END,
	synced_at = CASE WHEN %(status)s = 'Synced' THEN %(now)s ELSE synced_at END,
	request = COALESCE(%(request)s, request), response = COALESCE(%(response)s, response),
	error_log = %(error_log)s, attempts = attempts - %(uncounted)s,
	title = %(title)s, lease_owner = NULL, lease_expires_at = NULL, modified = %(now)s,
	reference_name = COALESCE(%(reference)s, reference_name)
WHERE name = %(name)s AND lease_owner = %(owner)s AND status = 'Queued'
	AND NOT (%(status)s = 'Synced' AND cancel_requested = 1)
"""

# Why a fenced write changed nothing: read under the row lock, in the same transaction.
WHY_REFUSED_SQL = (
	f"SELECT lease_owner, cancel_requested, status FROM {LOG_TABLE} WHERE name = %(name)s FOR UPDATE"
)

# idx = the claim's attempt number: no MAX(idx) read, whose next-key locks deadlocked concurrent finishes.
ATTEMPT_SQL = f"""
INSERT INTO {ATTEMPT_TABLE}
	(name, creation, modified, owner, modified_by, docstatus, parent, parentfield, parenttype, idx,
	attempt, started_at, finished_at, worker, action, outcome, message, calls, error_log)
VALUES (%(name)s, %(now)s, %(now)s, 'Administrator', 'Administrator', 0, %(parent)s, 'attempt_log',
	'Xero Sync Log', %(attempt)s, %(attempt)s, %(started)s, %(now)s, %(worker)s, %(action)s, %(outcome)s,
	%(message)s, %(calls)s, %(error_log)s)
"""

WRITE_BACK_SQL = """
UPDATE {table} SET xero_id = %(xero_id)s, xero_status = %(xero_status)s, xero_last_synced = %(now)s
WHERE name = %(name)s
"""

# The drain writes a Xero ID back through the row's CURRENT link (read under lock in the statement), never
# through the name it claimed: a row detached by a delete must not write its old copy's ID onto the new
# document that reused the name meanwhile.
ROW_WRITE_BACK_SQL = f"""
UPDATE {{table}} d JOIN {LOG_TABLE} l ON l.reference_doctype = %(doctype)s AND l.reference_name = d.name
SET d.xero_id = %(xero_id)s, d.xero_status = %(xero_status)s, d.xero_last_synced = %(now)s
WHERE l.name = %(row)s
"""

# Run by on_cancel inside the cancel's own transaction. A Synced/Failed/Orphan row goes back to the queue
# so the drain voids it (or skips it when it never reached Xero); a row being pushed right now keeps its
# lease and the flag makes that push's Synced outcome refuse itself (FINISH_SQL).
REQUEST_CANCEL_SQL = f"""
UPDATE {LOG_TABLE}
SET cancel_requested = 1, next_attempt_at = NULL, modified = %(now)s,
	status = CASE WHEN status IN {sql_list(sources(Actor.CANCEL, Status.QUEUED))} THEN 'Queued' ELSE status END
WHERE reference_doctype = %(doctype)s AND reference_name = %(name)s
"""

# Run by on_trash inside the delete's transaction, before Frappe checks links: the row lets go of the
# name (kept in deleted_reference, with all its history), so the delete is not refused, a document that
# later reuses the name gets a row of its own, and whatever may still be live in Xero is settled like a
# cancel, from the row's Xero ID or sent identity.
DETACH_SQL = f"""
UPDATE {LOG_TABLE}
SET deleted_reference = reference_name, reference_name = NULL, cancel_requested = 1, next_attempt_at = NULL,
	modified = %(now)s,
	status = CASE WHEN status IN {sql_list(sources(Actor.DELETE, Status.QUEUED))} THEN 'Queued' ELSE status END
WHERE reference_doctype = %(doctype)s AND reference_name = %(name)s
"""

INSERT_ROW_SQL = f"""
INSERT INTO {LOG_TABLE}
	(name, creation, modified, owner, modified_by, docstatus, idx, title, status, reference_doctype,
	reference_name, deleted_reference, company, tenant_id, xero_type, xero_id, xero_number, xero_status,
	cancel_requested, queued_by, error_message, error_class, backfill, synced_at)
VALUES (%(name)s, %(now)s, %(now)s, %(user)s, %(user)s, 0, 0, %(title)s, %(status)s, %(doctype)s,
	%(reference_name)s, %(deleted_reference)s, %(company)s, %(tenant_id)s, %(xero_type)s, %(xero_id)s,
	%(xero_number)s, %(xero_status)s, %(cancel_requested)s, %(user)s, %(message)s, %(error_class)s,
	%(backfill)s, CASE WHEN %(status)s = 'Synced' THEN %(now)s END)
"""

# Rows waiting for their invoice (the kinds that say so: payments) wait out a back-off; once a drain has synced invoices of the
# organisation they are claimable at once (a re-check that finds the invoice still missing costs no call).
WAKE_WAITING_SQL = f"""
UPDATE {LOG_TABLE} SET next_attempt_at = NULL
WHERE tenant_id = %(tenant_id)s AND status = 'Queued' AND xero_type IN %(xero_types)s
	AND next_attempt_at > {DB_NOW} AND error_message LIKE %(waiting)s
	AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW})
"""

# What a drain would claim now, before it claims (sync/batching.py: letting a batch fill). The age is on
# the site's clock, like the row's creation.
PENDING_SQL = f"""
SELECT COUNT(*) AS n, COALESCE(MAX(attempts), 0) AS tried,
	TIMESTAMPDIFF(MICROSECOND, MIN(creation), %(now)s) AS age_us
FROM {LOG_TABLE}
WHERE status = 'Queued' AND tenant_id = %(tenant_id)s
	AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW})
	AND (next_attempt_at IS NULL OR next_attempt_at <= {DB_NOW})
"""

TENANTS_WITH_WORK_SQL = f"""
SELECT DISTINCT tenant_id FROM {LOG_TABLE}
WHERE status = 'Queued' AND tenant_id IS NOT NULL AND tenant_id != ''
	AND (lease_expires_at IS NULL OR lease_expires_at < {DB_NOW})
	AND (next_attempt_at IS NULL OR next_attempt_at <= {DB_NOW})
"""


def _rerun_on_lock_conflict(method):
	"""Each journal write is one short transaction, so when InnoDB picks it as a deadlock victim (a claim's
	range scan crossing a finish's index update, seen under 4 workers) it is simply run again.

	The transaction is rolled back after every lock conflict, the last one included: a lock-wait timeout
	undoes only the statement that waited, and what the transaction wrote before it must not be made
	durable by the next commit on the connection (the drain's put-back of its rows)."""

	@functools.wraps(method)
	def rerun(self, *args, **kwargs):
		for attempt in range(1, LOCK_RETRIES + 1):
			try:
				return method(self, *args, **kwargs)
			except Exception as exc:
				if not self.db.is_lock_conflict(exc):
					raise
				self.db.rollback()
				if attempt == LOCK_RETRIES:
					raise
				time.sleep(random.uniform(0.005, 0.03) * attempt)

	return rerun


class SqlJournal:
	"""Journal over SQL. Each public method is one transaction ending in one commit named by its reason.

	`clock` gives the site's time for display columns (modified, attempt times); leases use the
	database's clock. `trace_sink(title, trace, row_name)` records an unexpected failure's traceback where
	people can read it (Frappe's Error Log) and returns its name, which the row and its attempt link to.
	"""

	def __init__(
		self,
		db: SqlDb,
		clock: Callable[[], datetime],
		worker: str = "",
		trace_sink: Callable[[str, str, str], str | None] | None = None,
	):
		self.db = db
		self.clock = clock
		self.worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
		self.trace_sink = trace_sink
		self._claimed_at: dict[str, datetime] = {}

	def now(self) -> datetime:
		return self.clock()

	@_rerun_on_lock_conflict
	def claim(self, tenant_id: str, owner: str, limit: int, lease_seconds: int) -> list[SyncRow]:
		"""Lease up to `limit` claimable rows of the tenant to `owner`."""
		now = self.now()
		self.db.execute(
			CLAIM_SQL,
			{"owner": owner, "lease": int(lease_seconds), "now": now, "tenant_id": tenant_id, "limit": limit},
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
		params = {"owner": owner, "names": tuple(names), "lease": int(lease_seconds)}
		self.db.execute(RENEW_SQL, params)
		held = {r["name"] for r in self.db.query(HELD_SQL, params)}
		self.db.commit("renew: a longer lease keeps other workers off rows we are still pushing")
		return held

	@_rerun_on_lock_conflict
	def mark_sending(self, owner: str, sends: dict[str, tuple[int, dict]], lease_seconds: int) -> set[str]:
		"""The gate before a create: commit the write-ahead marker, key generation and sent identity of
		each row still ours and not cancelled; only the rows it returns may be sent, right away."""
		now = self.now()
		marked = {
			name
			for name, (generation, identity) in sends.items()
			if self.db.execute(
				MARK_SENDING_SQL,
				{
					"name": name,
					"owner": owner,
					"generation": generation,
					"identity": json.dumps(identity, sort_keys=True),
					"lease": int(lease_seconds),
					"now": now,
				},
			)
		}
		self.db.commit("write-ahead: from here on a retry must look in Xero before creating again")
		return marked

	@_rerun_on_lock_conflict
	def unmark_sending(self, owner: str, names: Sequence[str]) -> None:
		"""The gated create never left: clear the marker so the next attempt needs no lookup."""
		if names:
			self.db.execute(UNMARK_SENDING_SQL, {"owner": owner, "names": tuple(names)})
		self.db.commit("write-ahead undone: the request provably never reached Xero")

	@_rerun_on_lock_conflict
	def store_xero_ids(
		self, owner: str, records: dict[str, XeroRecord], answered: Sequence[str] = ()
	) -> None:
		"""Store Xero IDs on the log rows and on the ERP documents, in one transaction; `answered` rows
		(and every stored one) no longer have a request in flight."""
		if answered:
			self.db.execute(ANSWERED_SQL, {"owner": owner, "names": tuple(answered)})
		if not records:
			if answered:
				self.db.commit("answered: Xero replied, so no request of these rows is in flight")
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
				self._write_back(name, refs[name][0], record.xero_id, record.status, now)
		self.db.commit("xero id: a crash after this point must not lose the ID Xero gave us")

	def finish(self, owner: str, row: SyncRow, outcome: Outcome, *, reference: str | None = None) -> Write:
		"""Record the outcome, release the lease, append the attempt.

		Returns DONE, or why nothing was written: CANCELLED (a Synced outcome met a committed cancel: the
		caller undoes) or LEASE_LOST (another worker owns the row: the caller must leave it alone).
		`reference` links the row to the ERP document the outcome is about (a Payment Entry made from a
		Xero payment)."""
		return self._finish_rerun(owner, row, outcome, reference)

	def unit_of_work(self) -> ErpChange:
		"""The outcome of a row whose ERP change the caller made in this same open transaction (created or
		cancelled a Payment Entry): committed with the outcome, or rolled back when the write is refused or
		fails. Never re-run: after a deadlock the database undid it, after a lock-wait timeout only the
		statement that waited, so the journal rolls the rest back, and the error goes up."""
		return ErpChange(self._finish_erp_change)

	def _finish_erp_change(self, owner: str, row: SyncRow, outcome: Outcome, reference: str | None) -> Write:
		try:
			return self._finish(owner, row, outcome, reference, erp_change=True)
		except Exception:
			self._rollback_quietly()
			raise

	def _rollback_quietly(self) -> None:
		"""Undo the open transaction; a connection that is gone has nothing left to undo."""
		try:
			self.db.rollback()
		except Exception:
			pass

	def _finish(
		self, owner: str, row: SyncRow, outcome: Outcome, reference: str | None, erp_change: bool = False
	) -> Write:
		now = self.now()
		error_log = None
		if outcome.trace and self.trace_sink:
			error_log = self.trace_sink(outcome.title or title_for(row, outcome), outcome.trace, row.name)
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
				"retry_us": None if outcome.retry_in is None else int(max(0.0, outcome.retry_in) * 1_000_000),
				"now": now,
				"request": _json(outcome.request),
				"response": _json(outcome.response),
				"error_log": error_log,
				"uncounted": 0 if outcome.counted else 1,
				"title": outcome.title or title_for(row, outcome, reference),
				"reference": reference,
			},
		)
		if changed:
			self._append_attempt(row, outcome, now, error_log)
			if outcome.xero_status and row.reference_name and row.reference_doctype in XERO_FIELDS_TABLES:
				self._write_back(
					row.name, row.reference_doctype, outcome.xero_id or row.xero_id, outcome.xero_status, now
				)
			result = Write.DONE
		else:
			why = self.db.query(WHY_REFUSED_SQL, {"name": row.name})
			mine = bool(why) and why[0]["lease_owner"] == owner and why[0]["status"] == "Queued"
			result = Write.CANCELLED if mine and why[0]["cancel_requested"] else Write.LEASE_LOST
		if erp_change and not changed:
			self.db.rollback()  # the ERP change belonged to the refused outcome: it goes with it
		else:
			self.db.commit("outcome: the row's new status and its attempt are one fact")
		self._claimed_at.pop(row.name, None)
		return result

	_finish_rerun = _rerun_on_lock_conflict(_finish)

	def rows_holding(self, xero_ids: Sequence[str]) -> set[str]:
		"""Which of these Xero IDs a log row already holds (a document another row adopted or created)."""
		ids = tuple(i for i in xero_ids if i)
		if not ids:
			return set()
		return {
			r["xero_id"]
			for r in self.db.query(f"SELECT xero_id FROM {LOG_TABLE} WHERE xero_id IN %(ids)s", {"ids": ids})
		}

	@_rerun_on_lock_conflict
	def wake_waiting(self, tenant_id: str, xero_types: Sequence[str]) -> int:
		"""Make the organisation's rows of these kinds that wait for their invoice claimable now."""
		if not xero_types:
			return 0
		woken = self.db.execute(
			WAKE_WAITING_SQL,
			{"tenant_id": tenant_id, "xero_types": tuple(xero_types), "waiting": f"{WAITING_PREFIX}%"},
		)
		self.db.commit("wake: invoices were synced, so payments waiting for them may go")
		return woken

	def pending(self, tenant_id: str) -> Pending:
		"""The tenant's claimable rows: how many, whether one was tried before, the oldest one's age."""
		self.db.commit("pending: a fresh snapshot, to see rows queued since the last look")
		row = self.db.query(PENDING_SQL, {"tenant_id": tenant_id, "now": self.now()})[0]
		return Pending(
			count=int(row["n"] or 0),
			retried=int(row["tried"] or 0) > 0,
			age_seconds=max(0.0, float(row["age_us"] or 0) / 1_000_000),
		)

	def tenants_with_work(self) -> list[str]:
		"""Tenants whose queue has rows a drain could claim now."""
		return [r["tenant_id"] for r in self.db.query(TENANTS_WITH_WORK_SQL, {})]

	def _refs(self, records: dict[str, XeroRecord]) -> dict[str, tuple[str, str]]:
		rows = self.db.query(
			f"SELECT name, reference_doctype, reference_name FROM {LOG_TABLE} WHERE name IN %(names)s",
			{"names": tuple(records)},
		)
		return {r["name"]: (r["reference_doctype"], r["reference_name"]) for r in rows if r["reference_name"]}

	def _write_back(
		self, row: str, doctype: str, xero_id: str | None, xero_status: str, now: datetime
	) -> None:
		table = XERO_FIELDS_TABLES.get(doctype)
		if table and xero_id:
			self.db.execute(
				ROW_WRITE_BACK_SQL.format(table=table),
				{"row": row, "doctype": doctype, "xero_id": xero_id, "xero_status": xero_status, "now": now},
			)

	def _append_attempt(self, row: SyncRow, outcome: Outcome, now: datetime, error_log: str | None) -> None:
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
				"error_log": error_log,
			},
		)


class ErpChange:
	"""ports.UnitOfWork over SqlJournal: an ERP change and its row's outcome, one commit or none."""

	def __init__(self, finish: Callable[..., Write]):
		self._finish = finish

	def commit(self, owner: str, row: SyncRow, outcome: Outcome, *, reference: str | None = None) -> Write:
		return self._finish(owner, row, outcome, reference)


def read_row(db: SqlDb, name: str) -> SyncRow | None:
	"""One row as a drain would see it (for the desk and tests; drains get theirs from claim)."""
	rows = db.query(f"SELECT {ROW_COLUMNS} FROM {LOG_TABLE} WHERE name = %(name)s", {"name": name})
	return _to_row(rows[0]) if rows else None


def title_for(row: SyncRow, outcome: Outcome, reference: str | None = None) -> str:
	"""Say what happened to a document in words, for the list view (a kind whose rows are not documents
	words its own: Outcome.title)."""
	verb = {
		Status.SYNCED: "sent to Xero",
		Status.VOIDED: "voided in Xero",
		Status.FAILED: "failed",
		Status.SKIPPED: "skipped",
		Status.ORPHAN: "is live in Xero but cancelled here",
		Status.QUEUED: "will be retried",
	}[outcome.status]
	number = f" as {outcome.xero_number or row.xero_number}" if outcome.status == Status.SYNCED else ""
	return f"{row.document} {verb}{number}"[:140]


def _to_row(r: dict) -> SyncRow:
	return SyncRow(
		name=r["name"],
		reference_doctype=r["reference_doctype"],
		reference_name=r["reference_name"] or "",
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
		sent_age=None if r.get("sent_age_us") is None else int(r["sent_age_us"]) / 1_000_000,
		sent_identity=json.loads(r["sent_identity"]) if r.get("sent_identity") else None,
		deleted_reference=r.get("deleted_reference") or None,
		backfill=bool(r.get("backfill")),
	)


def _json(value) -> str | None:
	if value is None:
		return None
	return _clip(json.dumps(value, indent=1, sort_keys=True, default=str))


def _clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
	if text is None:
		return None
	return text if len(text) <= limit else text[: limit - 20] + "\n…(truncated)"


# A person's Retry: a Failed row goes back to the queue (a cancel it carries still stands).
REQUEUE_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', next_attempt_at = NULL, error_class = NULL, modified = %(now)s
WHERE name IN %(names)s AND status IN {sql_list(sources(Actor.RETRY, Status.QUEUED))}
"""

# A submit (or Push to Xero) of a document whose row ended Failed or Skipped: the document is submitted
# now, so no earlier cancel of it stands.
REQUEUE_ON_SUBMIT_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', next_attempt_at = NULL, error_class = NULL, cancel_requested = 0, void_confirmed = 0,
	tenant_id = %(tenant_id)s, company = %(company)s, queued_by = %(user)s, modified = %(now)s
WHERE name = %(name)s AND status IN {sql_list(sources(Actor.SUBMIT, Status.QUEUED))}
"""

CONFIRM_VOID_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', void_confirmed = 1, cancel_requested = 1, next_attempt_at = NULL, modified = %(now)s
WHERE name IN %(names)s AND status IN {sql_list(sources(Actor.VOID, Status.QUEUED))}
"""

# Stuck = Queued and untouched for the threshold, measured where it is read (no job has to be alive to
# set a flag): `modified` on the site's clock, the back-off's end on the database's.
STUCK_WHERE = f"""status = 'Queued' AND modified < %(before)s
	AND (next_attempt_at IS NULL OR next_attempt_at < {DB_NOW} - INTERVAL %(minutes)s MINUTE)"""

# A person's Retry on a stuck row: drop its back-off so the next drain claims it at once.
RELEASE_STUCK_SQL = f"""
UPDATE {LOG_TABLE} SET next_attempt_at = NULL, modified = %(now)s
WHERE name IN %(names)s AND {STUCK_WHERE}
"""

CANCELLED_BUT_SYNCED_SQL = """
SELECT l.reference_doctype, l.reference_name FROM `tabXero Sync Log` l
JOIN {table} d ON d.name = l.reference_name
WHERE l.reference_doctype = %(doctype)s AND l.status = 'Synced' AND l.cancel_requested = 0 AND d.docstatus = 2
"""

# Cancelled documents that still carry a live Xero ID but have no row (Log Settings cleared it): the
# document's own Xero ID is the durable link.
CANCELLED_WITHOUT_ROW_SQL = """
SELECT d.name, d.company, d.is_return, d.xero_id, d.xero_status FROM {table} d
WHERE d.docstatus = 2 AND d.xero_id IS NOT NULL AND d.xero_id != ''
	AND COALESCE(d.xero_status, '') NOT IN ('VOIDED', 'DELETED')
	AND NOT EXISTS (SELECT 1 FROM `tabXero Sync Log` l WHERE l.reference_doctype = %(doctype)s
		AND l.reference_name = d.name)
"""


def request_cancel(db: SqlDb, doctype: str, name: str, now: datetime) -> int:
	"""Flag the document's row for voiding; runs inside the cancel's transaction, so it does not commit."""
	return db.execute(REQUEST_CANCEL_SQL, {"doctype": doctype, "name": name, "now": now})


def detach_deleted(db: SqlDb, doctype: str, name: str, now: datetime) -> int:
	"""The document is being deleted: its row lets go of the name and is settled like a cancel. Runs
	inside the delete's transaction (before Frappe's link checks), so it does not commit."""
	return db.execute(DETACH_SQL, {"doctype": doctype, "name": name, "now": now})


def insert_row(
	db: SqlDb,
	*,
	doctype: str,
	name: str,
	company: str,
	tenant_id: str,
	xero_type: str,
	now: datetime,
	status: Status = Status.QUEUED,
	title: str = "",
	user: str = "Administrator",
	message: str | None = None,
	xero_id: str | None = None,
	xero_status: str | None = None,
	cancel_requested: bool = False,
	deleted: bool = False,
	xero_number: str | None = None,
	error_class: str | None = None,
	backfill: bool = False,
) -> str:
	"""Insert a document's row (the outbox entry) in the caller's transaction; return its name.

	One lean INSERT, as cheap as a submit can afford. `deleted` files it under deleted_reference; a
	`backfill` row is claimed only after every live row of its organisation (CLAIM_SQL's ORDER BY)."""
	row_name = uuid.uuid4().hex[:10]
	db.execute(
		INSERT_ROW_SQL,
		{
			"name": row_name,
			"now": now,
			"user": user,
			"title": (title or f"{name} queued for Xero")[:140],
			"status": status.value,
			"doctype": doctype,
			"reference_name": None if deleted else name,
			"deleted_reference": name if deleted else None,
			"company": company,
			"tenant_id": tenant_id,
			"xero_type": xero_type,
			"xero_id": xero_id,
			"xero_number": xero_number,
			"xero_status": xero_status,
			"cancel_requested": int(cancel_requested),
			"message": message,
			"error_class": error_class,
			"backfill": int(backfill),
		},
	)
	return row_name


def queue_void_of_cleared(
	db: SqlDb,
	*,
	doctype: str,
	name: str,
	company: str,
	tenant_id: str,
	xero_type: str,
	now: datetime,
	xero_id: str | None = None,
	xero_status: str | None = None,
	deleted: bool = False,
	identity: dict | None = None,
) -> str:
	"""A cancelled (or deleted) document whose row was cleared: queue a row that undoes what it left in
	Xero. An invoice still carries its Xero ID: the row voids that copy (or shows it as an Orphan). A
	Payment Entry (no `xero_id`) names none of its payments, but each carries the entry's name as
	Reference; a Journal Entry keeps no Xero ID, but its journal carries our Url marker (`identity`, what
	the drain looks it up by). Such a row is marked as possibly sent, so the drain looks for what it left.
	Does not commit."""
	row = insert_row(
		db,
		doctype=doctype,
		name=name,
		company=company,
		tenant_id=tenant_id,
		xero_type=xero_type,
		now=now,
		title=f"{name}: its payments to be deleted in Xero"
		if xero_type == PAYMENT
		else f"{name} to be voided in Xero",
		xero_id=xero_id,
		xero_status=xero_status,
		cancel_requested=True,
		deleted=deleted,
	)
	if not xero_id:
		db.execute(
			f"UPDATE {LOG_TABLE} SET send_started = 1, sent_identity = %(identity)s WHERE name = %(name)s",
			{"name": row, "identity": json.dumps(identity) if identity else None},
		)
	return row


def requeue(db: SqlDb, names: Sequence[str], now: datetime) -> int:
	"""Put Failed rows back in the queue (a human's Retry); a compare-and-set, so two clicks requeue once."""
	if not names:
		return 0
	return db.execute(REQUEUE_SQL, {"names": tuple(names), "now": now})


def requeue_on_submit(db: SqlDb, name: str, *, tenant_id: str, company: str, user: str, now: datetime) -> int:
	"""A submitted document's Failed/Skipped row goes back to the queue, with no cancel standing."""
	return db.execute(
		REQUEUE_ON_SUBMIT_SQL,
		{"name": name, "tenant_id": tenant_id, "company": company, "user": user, "now": now},
	)


def confirm_void(db: SqlDb, names: Sequence[str], now: datetime) -> int:
	"""A person pressed Void in Xero on Orphan rows: queue them to be voided whatever the setting says."""
	if not names:
		return 0
	return db.execute(CONFIRM_VOID_SQL, {"names": tuple(names), "now": now})


def stuck_params(now: datetime, minutes: int) -> dict:
	"""Parameters for STUCK_WHERE: `now` is the site's time."""
	return {"before": now - timedelta(minutes=minutes), "minutes": int(minutes)}


def stuck_names(db: SqlDb, now: datetime, minutes: int, names: Sequence[str] | None = None) -> list[str]:
	"""Rows stuck now (optionally among `names`), whether or not any job is running."""
	sql = f"SELECT name FROM {LOG_TABLE} WHERE {STUCK_WHERE}"
	params = stuck_params(now, minutes)
	if names is not None:
		if not names:
			return []
		sql += " AND name IN %(names)s"
		params["names"] = tuple(names)
	return [r["name"] for r in db.query(sql, params)]


def release_stuck(db: SqlDb, names: Sequence[str], now: datetime, minutes: int) -> int:
	"""Retry pressed on stuck rows: claimable now, whatever back-off they were waiting out."""
	if not names:
		return 0
	return db.execute(RELEASE_STUCK_SQL, {"names": tuple(names), "now": now, **stuck_params(now, minutes)})


def flag_cancelled_but_synced(db: SqlDb, now: datetime) -> list[tuple[str, str]]:
	"""The orphan scan: Synced rows whose document was cancelled without the hook (connector off, data
	fix) get the same flag on_cancel sets, so the drain voids them or shows them as Orphans."""
	found = []
	for doctype, table in CANCEL_SCANNED_TABLES.items():
		for r in db.query(CANCELLED_BUT_SYNCED_SQL.format(table=table), {"doctype": doctype}):
			if request_cancel(db, r["reference_doctype"], r["reference_name"], now):
				found.append((r["reference_doctype"], r["reference_name"]))
	return found


def flag_cancelled_without_row(
	db: SqlDb,
	now: datetime,
	tenant_for: Callable[[str], str | None],
	xero_type_of: Callable[[str, bool], str],
) -> list[tuple[str, str]]:
	"""The orphan scan's second half: cancelled documents whose row was cleared but which still carry a
	live Xero ID get a row that voids it. Returns the (doctype, name) queued. Does not commit."""
	found = []
	for doctype, table in XERO_FIELDS_TABLES.items():
		for r in db.query(CANCELLED_WITHOUT_ROW_SQL.format(table=table), {"doctype": doctype}):
			tenant_id = tenant_for(r["company"])
			if not tenant_id:
				continue
			queue_void_of_cleared(
				db,
				doctype=doctype,
				name=r["name"],
				company=r["company"],
				tenant_id=tenant_id,
				xero_type=xero_type_of(doctype, bool(r["is_return"])),
				xero_id=r["xero_id"],
				xero_status=r["xero_status"],
				now=now,
			)
			found.append((doctype, r["name"]))
	return found


def clear_old_rows(db: SqlDb, site_before: datetime) -> int:
	"""What Log Settings does to the log: delete finished rows last changed before `site_before`, with
	their attempts. Queued, Failed and Orphan rows stay. Does not commit."""
	names = [
		r["name"]
		for r in db.query(
			f"SELECT name FROM {LOG_TABLE} WHERE modified < %(before)s AND status IN {sql_list(CLEARABLE_VALUES)}",
			{"before": site_before},
		)
	]
	if not names:
		return 0
	db.execute(f"DELETE FROM {ATTEMPT_TABLE} WHERE parent IN %(names)s", {"names": tuple(names)})
	return db.execute(f"DELETE FROM {LOG_TABLE} WHERE name IN %(names)s", {"names": tuple(names)})


CLEARABLE_VALUES = tuple(sorted(s.value for s in CLEARABLE))


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


# -- the scans' own statements on the payments-in kind's rows and the backfill's (states.py: PAYMENT_POLL,
# BACKFILL) -----------------------------------------------------------------------------------------

# A payment made in Xero gets its own row, named after the PaymentID (a replayed listing inserts nothing).
INSERT_PULLED_SQL = f"""
INSERT IGNORE INTO {LOG_TABLE}
	(name, creation, modified, owner, modified_by, docstatus, idx, title, status, reference_doctype,
	reference_name, company, tenant_id, xero_type, xero_id, xero_status, cancel_requested, queued_by,
	response)
VALUES (%(name)s, %(now)s, %(now)s, 'Administrator', 'Administrator', 0, 0, %(title)s, 'Queued',
	'{PAYMENT_ENTRY}', %(reference_name)s, %(company)s, %(tenant_id)s, '{PULLED}', %(xero_id)s,
	%(xero_status)s, %(cancel_requested)s, 'Administrator', %(response)s)
"""

# The payment was deleted in Xero: what the row recorded is undone by the drain (a Synced row's entry is
# cancelled, a Failed one simply closes); a row being worked on keeps its lease, and the flag makes that
# drain's Synced outcome refuse itself, rolling back the entry it made.
FLAG_DELETED_SQL = f"""
UPDATE {LOG_TABLE}
SET cancel_requested = 1, xero_status = 'DELETED', response = %(response)s, next_attempt_at = NULL,
	modified = %(now)s,
	status = CASE WHEN status IN {sql_list(sources(Actor.PAYMENT_POLL, Status.QUEUED))} THEN 'Queued'
		ELSE status END
WHERE name = %(name)s AND xero_type = '{PULLED}'
"""

# A payment skipped because its Xero document was not one ERPNext sent: once a backfill adopts that document
# (links it to its ERPNext twin), the payment is looked at again.
RETAKE_UNTRACKED_SQL = f"""
UPDATE {LOG_TABLE}
SET status = 'Queued', next_attempt_at = NULL, error_class = NULL, modified = %(now)s,
	error_message = 'Its Xero document was adopted by a backfill: to be recorded.'
WHERE tenant_id = %(tenant_id)s AND xero_type = '{PULLED}'
	AND status IN {sql_list(sources(Actor.BACKFILL, Status.QUEUED))}
	AND JSON_VALUE(response, '$.target_id') IN %(ids)s
"""

# A Skipped row (e.g. posted before the go-live date) is reused for the backfill's decision.
RETAKE_SKIPPED_SQL = f"""
UPDATE {LOG_TABLE}
SET status = %(status)s, error_class = %(error_class)s, error_message = %(message)s, title = %(title)s,
	tenant_id = %(tenant_id)s, xero_id = %(xero_id)s, xero_number = %(xero_number)s,
	xero_status = %(xero_status)s, backfill = 1, next_attempt_at = NULL, cancel_requested = 0,
	synced_at = CASE WHEN %(status)s = 'Synced' THEN %(now)s ELSE synced_at END, modified = %(now)s
WHERE name = %(name)s AND status IN {sql_list(sources(Actor.BACKFILL, Status.SYNCED))}
"""


def insert_pulled_row(db: SqlDb, values: dict) -> int:
	"""Queue a payment made in Xero (the payments poll's insert). Does not commit."""
	return db.execute(INSERT_PULLED_SQL, values)


def flag_payment_deleted(db: SqlDb, name: str, response: str, now: datetime) -> int:
	"""Flag a payment's row to undo what it recorded; `response`: the payment as Xero lists it now."""
	return db.execute(FLAG_DELETED_SQL, {"name": name, "response": response, "now": now})


def retake_untracked_payments(db: SqlDb, tenant_id: str, xero_ids: Sequence[str], now: datetime) -> int:
	"""Queue again the skipped payments on these Xero documents (a tuple of IDs), just adopted."""
	return db.execute(RETAKE_UNTRACKED_SQL, {"tenant_id": tenant_id, "ids": xero_ids, "now": now})


def retake_skipped(db: SqlDb, name: str, values: dict) -> int:
	"""Reuse a Skipped row for the backfill's decision (`values`: RETAKE_SKIPPED_SQL's); 0 when the row
	moved meanwhile (submitted again or pushed) and is not the backfill's to decide."""
	return db.execute(RETAKE_SKIPPED_SQL, {**values, "name": name})
