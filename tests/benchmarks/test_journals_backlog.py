"""The Journal Entry backlog benchmark at a small size: one PUT per fifty entries, every one synced."""

from __future__ import annotations

from tests.benchmarks.journals_backlog import run_journals_bench


def test_a_journal_backlog_costs_at_most_one_call_per_fifty_entries():
	result = run_journals_bench(100, workers=2, time_scale=300.0)
	assert result.synced == 100
	assert result.calls_per_journal <= 0.02, result.last_line_suffix()
