"""Small trickle and many-organisation runs as tests: they check call counts and the order drains took
the organisations in, never times (the benchmarks print those)."""

from __future__ import annotations

from tests.benchmarks.many_orgs import run_orgs
from tests.benchmarks.trickle import run_trickle


def test_a_trickle_on_a_starter_plan_goes_out_in_filled_batches():
	ours = run_trickle(150, rate=4, plan="starter", time_scale=10, workers=2)
	assert len(ours.latencies) == 150
	# fifty arrive in 12.5 Xero seconds, inside the 30-second window: about one PUT per fifty
	assert ours.calls_per_invoice <= 0.1, ours.calls


def test_organisations_are_drained_a_slice_at_a_time_in_turn():
	run = run_orgs(5, 1500, workers=2, keep_ledgers=True)  # 300 each: six batches
	assert run.calls_per_invoice == 0.02
	created = {org: sorted(times) for org, times in run.created.items()}
	# every organisation had invoices in Xero before any organisation had all of its own there
	first_done = min(times[-1] for times in created.values())
	assert all(times[0] < first_done for times in created.values())


def test_whole_organisation_jobs_make_the_last_ones_wait():
	"""The comparison the benchmark prints: a job per organisation's whole queue starves the others."""
	run = run_orgs(5, 1500, workers=2, slice_batches=None, keep_ledgers=True)
	created = {org: sorted(times) for org, times in run.created.items()}
	first_done = min(times[-1] for times in created.values())
	assert any(times[0] > first_done for times in created.values())
