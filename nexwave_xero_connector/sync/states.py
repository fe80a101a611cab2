"""The one home of the Xero Sync Log's state machine: statuses, the transitions allowed, and who may make each.

Every status guard in the journal's SQL (sync/journal.py) is built from this table, and
tests/integration/test_state_machine.py runs each of those statements against rows in every status and
checks the result against it. A refused write must be explainable from here: the drain holds the row
only through its lease, and the other actors never touch a leased row's outcome.
"""

from __future__ import annotations

from enum import Enum

from .model import Status

Q, SY, F, V, SK, OR = (
	Status.QUEUED,
	Status.SYNCED,
	Status.FAILED,
	Status.VOIDED,
	Status.SKIPPED,
	Status.ORPHAN,
)
NEW = None  # "no row yet": an insert


class Actor(str, Enum):
	"""Who changes a row, and through which door."""

	SUBMIT = "submit hook"  # on_submit / Push to Xero: inserts the outbox row, or requeues a dead end
	CANCEL = "cancel hook"  # on_cancel: flags the row to be voided (inserts one if the log was cleared)
	DELETE = "delete hook"  # on_trash: detaches the row from the name, settled like a cancel
	DRAIN = "drain"  # a worker holding the row's lease: the only one that calls Xero for it
	RETRY = "retry"  # a person's Retry
	VOID = "void button"  # a person's Void in Xero on an Orphan
	SWEEP = "sweep"  # the minute job: wakes drains, never changes a status
	ORPHAN_SCAN = "orphan scan"  # cancelled here behind our back: flag like the cancel hook
	DRIFT_SCAN = "drift scan"  # voided/deleted in Xero while submitted here: fail with the reason
	CLEAR = "log clearing"  # Log Settings deletes old finished rows
	BACKFILL = "backfill"  # go-live: adopts what Xero has, queues or skips the rest (takes Skipped rows)
	PAYMENT_POLL = "payment poll"  # payments made in Xero: queues new ones, flags deleted ones for undoing


# (from, to) pairs each actor may make; a row keeping its status is always allowed.
TRANSITIONS: dict[Actor, frozenset[tuple[Status | None, Status | None]]] = {
	Actor.SUBMIT: frozenset({(NEW, Q), (NEW, SK), (F, Q), (SK, Q)}),
	Actor.CANCEL: frozenset({(NEW, Q), (SY, Q), (F, Q), (OR, Q)}),
	Actor.DELETE: frozenset({(NEW, Q), (SY, Q), (F, Q)}),
	Actor.DRAIN: frozenset({(Q, SY), (Q, F), (Q, V), (Q, SK), (Q, OR)}),
	Actor.RETRY: frozenset({(F, Q)}),
	Actor.VOID: frozenset({(OR, Q)}),
	Actor.SWEEP: frozenset(),
	Actor.ORPHAN_SCAN: frozenset({(NEW, Q), (SY, Q)}),
	Actor.DRIFT_SCAN: frozenset({(SY, F)}),
	Actor.CLEAR: frozenset({(SY, None), (V, None), (SK, None)}),
	Actor.BACKFILL: frozenset({(NEW, SY), (NEW, F), (NEW, Q), (NEW, SK), (SK, SY), (SK, F), (SK, Q)}),
	# A deleted payment's Synced row (its Payment Entry is cancelled) or Failed row (nothing to record any
	# more) goes back to the drain; a Skipped one recorded nothing, so it stays as it is.
	Actor.PAYMENT_POLL: frozenset({(NEW, Q), (SY, Q), (F, Q)}),
}

# Transitions a pending cancel forbids: a push that finishes after the cancel committed must not record
# Synced (the journal refuses, says CANCELLED, and the drain voids instead).
BLOCKED_BY_CANCEL = frozenset({(Actor.DRAIN, Q, SY)})

# Statuses Log Settings may delete (the ERP document's own Xero ID keeps the link).
CLEARABLE = (SY, V, SK)


def sources(actor: Actor, to: Status | None) -> tuple[str, ...]:
	"""The statuses `actor` may move to `to`, as the SQL IN-list values (sorted, for stable SQL)."""
	return tuple(sorted(f.value for f, t in TRANSITIONS[actor] if t == to and f is not None))


def allowed(actor: Actor, before: Status | None, after: Status | None, cancelled: bool = False) -> bool:
	"""Whether `actor` may turn a row in `before` into `after` (keeping the status is always allowed);
	`cancelled`: the row carried a pending cancel."""
	if cancelled and (actor, before, after) in BLOCKED_BY_CANCEL:
		return False
	return before == after or (before, after) in TRANSITIONS[actor]


def sql_list(values: tuple[str, ...]) -> str:
	"""A literal SQL IN-list of status values (they come from the Status enum, never from input)."""
	return "(" + ", ".join(f"'{v}'" for v in values) + ")"
