"""Create requests that Xero accepts: at most fifty elements and well under its 3.5 MB cap per request.

Xero takes any number of elements in one PUT "provided the overall request size does not exceed 3.5 MB"
and refuses a larger one with HTTP 413 before reading it. Fifty elements is the batch Xero recommends;
the byte budget keeps a batch of large documents (hundreds of lines with long descriptions) under the cap.
Sizes are the bytes each element takes in the serialised request body, measured by the gateway
(`XeroGateway.wire_sizes`) exactly as the SDK serialises it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MAX_ELEMENTS = 50
# Xero's cap for one request body ("3.5 MB"; the emulator refuses a body over this many bytes).
XERO_REQUEST_CAP = 3_500_000
# What a batch may carry: half a megabyte under the cap, for headers, proxies and rounding.
MAX_REQUEST_BYTES = 3_000_000
# The wrapper around the elements ({"CreditNotes": [ ... ]}); each element also costs its ", " separator.
WRAPPER_BYTES = 32
SEPARATOR_BYTES = 2


def request_bytes(sizes: Sequence[int]) -> int:
	"""The body of one request carrying elements of these sizes (at most a couple of bytes over)."""
	return WRAPPER_BYTES + sum(s + SEPARATOR_BYTES for s in sizes)


def fits_alone(size: int) -> bool:
	"""Whether one element can go to Xero at all: alone in its request, under Xero's cap (an element over
	the batch budget but under the cap goes alone)."""
	return request_bytes([size]) <= XERO_REQUEST_CAP


def size_batches(
	items: Sequence[T],
	sizes: Sequence[int],
	*,
	max_elements: int = MAX_ELEMENTS,
	max_bytes: int | None = None,
) -> list[list[T]]:
	"""Split items, in order, into batches that close at `max_elements` or at `max_bytes` of request body,
	whichever comes first. An item over the budget but under Xero's cap goes alone; one too large for any
	request is in no batch (see `fits_alone`)."""
	max_bytes = MAX_REQUEST_BYTES if max_bytes is None else max_bytes  # read now: a test may move it
	batches: list[list[T]] = []
	current: list[T] = []
	used = WRAPPER_BYTES
	for item, size in zip(items, sizes, strict=True):
		if not fits_alone(size):
			continue
		cost = size + SEPARATOR_BYTES
		if current and (len(current) >= max_elements or used + cost > max_bytes):
			batches.append(current)
			current, used = [], WRAPPER_BYTES
		current.append(item)
		used += cost
	if current:
		batches.append(current)
	return batches


def split_by_size(items: Sequence[T], sizes: Sequence[int]) -> tuple[list[tuple[T, int]], list[list[T]]]:
	"""(the items too large for any request, with their sizes; the batches the others go in)."""
	too_large = [(item, size) for item, size in zip(items, sizes, strict=True) if not fits_alone(size)]
	return too_large, size_batches(items, sizes)


def halves(items: Sequence[T]) -> tuple[list[T], list[T]]:
	"""A request Xero refused as too large (HTTP 413), split to be sent again as two."""
	middle = (len(items) + 1) // 2
	return list(items[:middle]), list(items[middle:])


def megabytes(size: int) -> str:
	"""Bytes as Xero counts its limit (1 MB = 1,000,000 bytes), to one decimal."""
	return f"{size / 1_000_000:.1f} MB"


def too_large_message(what: str, document: str, size: int | None, split_hint: str) -> str:
	"""Why one document cannot go to Xero, and what the accountant can do about it."""
	measured = f" is {megabytes(size)} as Xero receives it," if size else " is"
	return f"{what} {document}{measured} over Xero's 3.5 MB limit for one request: {split_hint}. Nothing was sent."


# -- letting a batch fill --------------------------------------------------------------------------------
#
# A drain sends what has arrived, so invoices submitted one at a time go out in small batches: a steady
# four a second cost about 0.2 to 0.4 calls each, ten to twenty times the floor, and race into Xero's limit
# of 60 calls a minute, where they queue behind the rate governor (p95 about a minute, measured). So a drain
# lets a small batch fill before it claims: for LINGER_SECONDS after the oldest row was queued on any plan,
# and for FILL_WINDOW_SECONDS when the day's calls are tight. A full batch, or a row tried before, goes at
# once.

FILL_WINDOW_SECONDS = 30
LINGER_SECONDS = 2
STARTER_DAILY_LIMIT = 1_000  # Xero's Starter plan: calls a day per organisation
# A larger plan counts as tight too once Xero says less than this share of its day is left.
TIGHT_REMAINING_SHARE = 0.5


@dataclass(frozen=True)
class Pending:
	"""An organisation's claimable rows as a drain sees them before it claims."""

	count: int = 0
	retried: bool = False  # one has been tried before: it waited already
	age_seconds: float = 0.0  # since the oldest was queued


def fill_window(daily_limit: int | None, remaining: int | None) -> float:
	"""Seconds a small batch may wait to fill, from its oldest row's queueing: FILL_WINDOW_SECONDS when the
	day's calls are tight (a Starter plan, or less than half of a larger plan's day left, as Xero last
	said), else LINGER_SECONDS."""
	if daily_limit and daily_limit <= STARTER_DAILY_LIMIT:
		return float(FILL_WINDOW_SECONDS)
	if daily_limit and remaining is not None and remaining < daily_limit * TIGHT_REMAINING_SHARE:
		return float(FILL_WINDOW_SECONDS)
	return float(LINGER_SECONDS)


def fill_wait(pending: Pending, *, window: float, batch: int = MAX_ELEMENTS) -> float:
	"""Seconds to wait before claiming so more rows join the batch; 0: claim now (nothing to wait for, a
	full batch is there, a row was tried before, or the oldest has waited the whole window)."""
	if window <= 0 or not pending.count or pending.count >= batch or pending.retried:
		return 0.0
	return max(0.0, window - pending.age_seconds)
