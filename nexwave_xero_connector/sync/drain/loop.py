"""The claim loop: claim a batch of one organisation's Queued rows, hand it to the kinds, repeat."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ..config import SyncConfig
from ..kinds.registry import REGISTRY
from ..mapping import build_payload
from ..model import XeroPayload
from ..ports import ErpSource, Journal, MasterData, XeroGateway
from . import context
from .context import DrainContext, DrainReport, StopDrain

Mapper = Callable[..., XeroPayload]


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
) -> DrainReport:
	"""Push the tenant's claimable rows until none is left, a limit stops us, or max_batches is reached."""
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
	while max_batches is None or report.batches < max_batches:
		owner = f"{getattr(journal, 'worker', 'drain')}:{uuid.uuid4().hex[:12]}"
		rows = journal.claim(tenant_id, owner, max(1, min(config.batch_size, 50)), context.LEASE_SECONDS)
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


def default_mapper() -> Mapper:
	"""The invoice mapper (a test on a bench swaps it for a simpler one)."""
	return build_payload
