"""The payment backlog as a test: call counts only (deterministic), never times."""

from __future__ import annotations

from tests.benchmarks.payments_backlog import run


def test_a_backlog_of_payments_costs_at_most_a_twentieth_of_a_call_each():
	result = run(200, refs=1)
	assert result.synced == result.entries == 200
	# per 50 entries: one GET /Invoices (AmountDue, status) and one PUT /Payments; no lookup, no contacts
	assert result.by_endpoint == {"GET Invoices": 4, "PUT Payments": 4}
	assert result.calls_per_payment <= 0.05


def test_entries_paying_several_invoices_cost_less_per_payment():
	result = run(120, refs=3)
	assert result.synced == result.entries == 40
	assert result.calls_per_payment <= 0.05
