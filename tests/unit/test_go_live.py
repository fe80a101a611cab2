"""The go-live date of a company: what counts as posted before it."""

from __future__ import annotations

import datetime

from nexwave_xero_connector.sync.config import SyncConfig, TenantLink

CONFIG = SyncConfig(
	tenants=(
		TenantLink("Live Co", "t-1", go_live=datetime.date(2026, 4, 1)),
		TenantLink("Always Co", "t-2"),
	)
)


def test_documents_before_the_go_live_date_are_before_it():
	assert CONFIG.before_go_live("Live Co", datetime.date(2026, 3, 31))
	assert CONFIG.before_go_live("Live Co", "2026-03-31")
	assert CONFIG.before_go_live("Live Co", datetime.datetime(2026, 3, 31, 23, 59))


def test_the_go_live_day_itself_and_later_are_pushed():
	assert not CONFIG.before_go_live("Live Co", datetime.date(2026, 4, 1))
	assert not CONFIG.before_go_live("Live Co", "2026-04-02")


def test_a_company_without_a_date_or_a_document_without_one_is_never_before():
	assert not CONFIG.before_go_live("Always Co", datetime.date(2001, 1, 1))
	assert not CONFIG.before_go_live("Unbound Co", datetime.date(2001, 1, 1))
	assert not CONFIG.before_go_live("Live Co", None)
	assert CONFIG.go_live_for("Live Co") == datetime.date(2026, 4, 1)
	assert CONFIG.go_live_for("Always Co") is None
