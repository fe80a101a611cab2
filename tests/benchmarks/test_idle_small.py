"""The idle benchmark, small: one simulated day of two organisations on a Starter plan. It checks what
the policy decides (calls against the budget, reads against the freshness target, every change seen),
never wall-clock times: the lags are simulated seconds on the emulator's clock."""

from __future__ import annotations

import pytest

from nexwave_xero_connector.sync.background import Plan
from tests.benchmarks.idle import run


@pytest.mark.parametrize("webhooks", [False, True])
def test_an_idle_starter_day_stays_within_the_background_budget(webhooks):
	result = run(2, 1, webhooks=webhooks, plan="starter", events=6)
	plan = Plan(1000, webhooks)
	assert result.rate_limited == 0
	assert result.budget.events == len(result.budget.lags) == 12, "every payment and void reached ERPNext"
	assert result.budget.most <= plan.budget  # each organisation: 20 with webhooks, 100 without
	assert result.fixed.per_org_day > 300  # today's cadence: every 10 minutes plus the hourly scan
	assert result.budget.lag(0.95) <= plan.freshness  # 60 s with webhooks, 30 minutes without


def test_a_standard_plan_without_webhooks_keeps_its_10_minute_freshness():
	result = run(1, 1, webhooks=False, plan="standard", events=3)
	assert result.budget.most <= Plan(5000, False).budget
	assert result.budget.lag(1.0) <= 600
