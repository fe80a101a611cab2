"""A small adopt-only backfill run as a test: decisions and call counts (deterministic), never times."""

from __future__ import annotations

from tests.benchmarks.backfill import run_backfill_bench

DOCUMENTS = 200


def test_small_backfill_adopts_in_batches_without_a_429():
	result = run_backfill_bench(DOCUMENTS)
	ours, naive = result.ours, result.naive
	# every other document was keyed into Xero; 1 in 25 of those with another total
	assert (ours.adopted, ours.conflicts, ours.missing) == (96, 4, 100)
	assert (naive.adopted, naive.conflicts, naive.missing) == (96, 4, 100)
	assert ours.calls_per_doc <= 0.05
	assert naive.calls_per_doc == 1.0
	assert ours.hits_429 == 0
	assert ours.latencies and result.baseline.latencies  # live pushes went through during the backfill
