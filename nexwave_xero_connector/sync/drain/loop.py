"""The claim loop: claim a batch of one organisation's Queued rows, hand it to the kinds, repeat.

Two things shape when it claims. A hold (sync/batching.py) lets a small batch fill when the day's calls
are tight: before each claim the loop looks at what is claimable and waits, through the hold's pause,
until a full batch is there or the oldest row has waited the window. And `max_batches` is a slice: a
drain that used it up while rows remain says so (`more`), so the caller can put the organisation at the
back of the line and let the others' drains run (fairness across organisations on shared workers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import batching
from ..config import SyncConfig
from ..kinds.registry import REGISTRY
from ..mapping import build_payload
from ..model import XeroPayload
from ..ports import ErpSource, Journal, MasterData, XeroGateway
from . import context
from .context import DrainContext, DrainReport, StopDrain

Mapper = Callable[..., XeroPayload]


def _sleep(seconds: float) -> bool:
	time.sleep(seconds)
	return True


@dataclass(frozen=True)
class Hold:
	"""How long a small batch may wait to fill (seconds; 0: claim at once), and the pause the loop waits
	through: it is given the seconds left and returns False to give up waiting (the drain then stops with
	`held`, and its caller wakes it again later)."""

	window: float = 0.0
	pause: Callable[[float], bool] = field(default=_sleep)


SEND_AT_ONCE = Hold()


def drain(
	tenant_id: str,
	*,
	journal: Journal,
	erp: ErpSource,
	masters: MasterData,
	gateway: XeroGateway,
	config: SyncConfig,
	org=None,
	max_batches: int | None = None,
	mapper: Mapper | None = None,
	hold: Hold = SEND_AT_ONCE,
) -> DrainReport:
	"""Push the tenant's claimable rows until none is left, a limit stops us, the hold gives up, or
	max_batches is reached (then `report.more` says whether rows were left)."""
	report = DrainReport()
	ctx = DrainContext(
		tenant_id,
		journal=journal,
		erp=erp,
		masters=masters,
		gateway=gateway,
		config=config,
		org=org,
		mapper=mapper or default_mapper(),
		report=report,
		kinds=REGISTRY,
	)
	limit = max(1, min(config.batch_size, batching.MAX_ELEMENTS))
	while True:
		if max_batches is not None and report.batches >= max_batches:
			report.more = journal.pending(tenant_id).count > 0
			break
		if hold.window > 0:
			wait = batching.fill_wait(journal.pending(tenant_id), window=hold.window, batch=limit)
			if wait > 0:
				if not hold.pause(wait):
					report.held = True
					break
				continue
		owner = f"{getattr(journal, 'worker', 'drain')}:{uuid.uuid4().hex[:12]}"
		rows = journal.claim(tenant_id, owner, limit, context.LEASE_SECONDS)
		if not rows:
			break
		report.batches += 1
		report.claimed += len(rows)
		try:
			ctx.run(owner, rows)
		except StopDrain as stop:
			report.stopped_by = str(stop)
			break
	return report


def drain_again(report: DrainReport, journal: Journal, tenant_id: str, *, gave_way: bool) -> bool:
	"""After a drain ends (its wake-up forgotten): whether the organisation needs another one now. Yes when
	its slice ran out with rows left, or its hold gave up for another job (not for a drain of the same
	organisation already coming); else when rows came while it was finishing, unless a limit stopped it
	(the sweep wakes it once the limit allows)."""
	if report.held:
		return not gave_way
	if report.more:
		return True
	return not report.stopped_by and journal.pending(tenant_id).count > 0


def default_mapper() -> Mapper:
	"""The invoice mapper (a test on a bench swaps it for a simpler one)."""
	return build_payload
