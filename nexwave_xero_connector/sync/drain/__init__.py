"""The drain: push one organisation's queued rows in batches, crash-safely, whatever their kind.

loop.py claims up to fifty Queued rows with a lease (one compare-and-set) and hands them to a
context.DrainContext, which gives each registered row kind (sync/kinds/) its rows, in the registry's order,
and applies one failure policy when a whole call fails. The kinds use only the context's public face.
"""

from __future__ import annotations

from .context import LEASE_SECONDS, UNEXPECTED_ATTEMPTS, DrainContext, DrainReport, Item, StopDrain
from .loop import SEND_AT_ONCE, Hold, drain, drain_again

__all__ = [
	"LEASE_SECONDS",
	"SEND_AT_ONCE",
	"UNEXPECTED_ATTEMPTS",
	"DrainContext",
	"DrainReport",
	"Hold",
	"Item",
	"StopDrain",
	"drain",
	"drain_again",
]
