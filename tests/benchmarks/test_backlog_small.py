"""A small backlog run as a test: it checks call counts (deterministic), never times."""

from __future__ import annotations

import math

from tests.benchmarks.backlog import BATCH, run

INVOICES = 300


def test_small_backlog_call_counts():
	# a scale at which the naive path's 600 calls run into the 60-a-minute limit (about 10 s of wall time)
	result = run(INVOICES, workers=4, time_scale=60.0)
	assert result.ours.synced == INVOICES
	assert result.naive.synced == INVOICES
	assert result.ours.calls_per_invoice <= 0.06
	assert result.naive.calls_per_invoice >= 2.0
	assert result.ours.hits_429 == 0
	assert result.naive.hits_429 == 0  # the governor keeps even the one-at-a-time path under the limits
	assert result.lone.calls_per_invoice <= 1.1
	# a 5,000-invoice backlog of new invoices with known contacts: one PUT per fifty
	assert math.ceil(5000 / BATCH) == result.calls_for_5000 <= 1000
