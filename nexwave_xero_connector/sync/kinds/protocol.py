"""What a row kind must answer, and the registry that holds the kinds in claim order.

A row kind is one sort of Xero Sync Log row (its `xero_type`): the drain hands it the rows of a claim and
nothing else in the drain knows what the rows are. No framework here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..config import SyncConfig
from ..model import Outcome, SyncRow, Write, XeroPayload, XeroRecord
from ..ports import ErpSource, Journal, MasterData, XeroGateway

T = TypeVar("T")


@dataclass
class Item:
	"""A claimed row on its way through one claim."""

	row: SyncRow
	doc: dict | None = None
	payload: XeroPayload | None = None
	record: XeroRecord | None = None
	notes: list[str] = field(default_factory=list)


# A row the gate refused (lease lost, or a cancel arrived before anything left): back to the queue.
CHANGED_WHILE_PREPARED = "Changed while being prepared; will be looked at again."


class Context(Protocol):
	"""The drain's public face to a kind for one claim (sync/drain/context.py implements it)."""

	tenant_id: str
	owner: str
	journal: Journal
	erp: ErpSource
	masters: MasterData
	gateway: XeroGateway
	config: SyncConfig
	mapper: Callable[..., XeroPayload]
	adopted: set[str]  # Xero IDs this claim has taken for a row
	kinds: KindRegistry

	def is_open(self, item: Item) -> bool:
		"""Whether the row is still this claim's to settle (not finished, lease not lost)."""

	def held(self, items: Sequence[Item]) -> list[Item]:
		"""Renew the claim's leases right before a call; only the rows still ours come back."""

	def calling_for(self, items: Sequence[Item]) -> None:
		"""Charge a failure of the next call to these rows only."""

	def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
		"""Make one Xero call (counted for the attempt and the report)."""

	def gate(self, sends: dict[str, tuple[int, dict]]) -> set[str]:
		"""Commit the write-ahead marker before a create; return the names that may be sent now."""

	def gate_items(self, items: Sequence[Item], generations: dict[str, int]) -> list[Item]:
		"""The gate for items whose payload goes as it is; the others go back to the queue. Returns the
		items that may be sent now."""

	def send_deadline(self) -> float:
		"""When a request gated just now must have left (time.monotonic())."""

	def send_in_batches(
		self,
		items: Sequence[Item],
		sizes: Sequence[int],
		generations: dict[str, int],
		put: Callable[[list[Item], float], list[Item]],
		fail_too_large: Callable[[Item, int | None], None],
	) -> list[Item]:
		"""Gate and create items in batches under Xero's request cap through `put(items, send_by)`, which
		clears what a failed call leaves and raises; a 413 sends the batch again as two halves."""

	def renew(self, items: Sequence[Item]) -> list[Item]:
		"""Renew these rows' leases before an undo; only the rows still ours come back."""

	def finish(self, item: Item, outcome: Outcome, **link: Any) -> Write:
		"""Record a row's outcome; say why when it was refused."""

	def load(self, item: Item) -> dict | None:
		"""The row's ERP document, or None when it was deleted (Skipped when nothing was sent)."""

	def org(self) -> Any:
		"""The organisation facts for the pre-flight."""

	def adopt_or_wait(
		self,
		items: Sequence[Item],
		found: Sequence[Any],
		match: Callable[[Item, list[Any]], Any],
		generations: dict[str, int],
	) -> list[Item]:
		"""After one lookup: adopt what `match` picks, wait while a request may land, else a fresh key."""

	def may_be_in_flight(self, item: Item) -> bool:
		"""Whether an earlier create request of this row could still commit in Xero."""

	def wait_for_in_flight(self, item: Item) -> None:
		"""A lookup missed while an earlier request may still land: the row waits, nothing is resent."""


class RowKind(Protocol):
	"""One registered row kind."""

	name: str
	# The log's xero_type values this kind's rows carry, and the ERPNext doctypes they stand for.
	xero_types: tuple[str, ...]
	doctypes: tuple[str, ...]
	# False for a kind that records in ERPNext what Xero holds: it calls Xero only to read, so a failing call
	# made for other rows is not charged to it, and its row's response (what Xero listed) is never
	# overwritten by an error.
	writes_to_xero: bool
	# True for a kind whose rows wait for their invoice to be in Xero: woken as soon as a claim synced invoices.
	waits_for_invoices: bool
	# The page in Xero of each xero_type (the Xero ID is appended); see xero/links.py.
	link_paths: Mapping[str, str]

	def title(self, row: SyncRow, outcome: Outcome, reference: str | None) -> str | None:
		"""The list view's words for the row after `outcome` (None: the journal's words for a document)."""

	def push(self, ctx: Context, items: list[Item]) -> None:
		"""Settle the kind's rows of one claim: push them, and undo (`undo`) those whose ERP document was
		cancelled or deleted, in the kind's own order."""

	def undo(self, ctx: Context, items: list[Item]) -> None:
		"""Take back in the other ledger what these rows made (void or delete in Xero, cancel in ERPNext)."""


class KindRegistry:
	"""The row kinds in claim and processing order; a row of no registered xero_type is the default's
	(rows queued before the log recorded xero_type)."""

	def __init__(self, kinds: Sequence[RowKind], default: RowKind):
		self.kinds = tuple(kinds)
		self.default = default
		self._by_type = {t: k for k in self.kinds for t in k.xero_types}

	def __iter__(self):
		return iter(self.kinds)

	def kind_of(self, row: SyncRow) -> RowKind:
		return self._by_type.get(row.xero_type or "", self.default)

	def group(self, values: Sequence[T], key: Callable[[T], SyncRow]) -> list[tuple[RowKind, list[T]]]:
		"""The values by the kind of their row, in registry order; kinds with none left out."""
		by_kind: dict[str, list[T]] = {}
		for value in values:
			by_kind.setdefault(self.kind_of(key(value)).name, []).append(value)
		return [(k, by_kind[k.name]) for k in self.kinds if by_kind.get(k.name)]

	def xero_types(self, predicate: Callable[[RowKind], bool] = lambda k: True) -> tuple[str, ...]:
		return tuple(t for k in self.kinds if predicate(k) for t in k.xero_types)

	def link_path(self, xero_type: str | None) -> str | None:
		kind = self._by_type.get(xero_type or "")
		return kind.link_paths.get(xero_type) if kind else None
