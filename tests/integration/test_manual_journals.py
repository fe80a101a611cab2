"""Journal Entries pushed as Xero Manual Journals, end to end: MariaDB journal, real SDK over HTTP, the
emulator's ManualJournals as the truth; the entries are the real ERPNext 15.92 fixtures."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from nexwave_xero_connector.sync.drain import LEASE_SECONDS
from nexwave_xero_connector.sync.preflight import OrgInfo
from tests.support.journal_entries import COMPANY, journal_entry, journals_on, submit_journal_entry
from tests.support.world import SITE_URL, World

from .test_push_engine import Crash, CrashAfter

D = Decimal
JE = "Journal Entry"


@pytest.fixture
def jworld(make_world) -> World:
	return journals_on(make_world())


def _submit(world: World, template: str = "je_three_lines_cost_centres", **changes) -> str:
	name = f"ACC-JV-{uuid.uuid4().hex[:6]}"
	submit_journal_entry(world, journal_entry(name, template, **changes))
	return name


def _journals(world: World, name: str, *, live: bool = True) -> list[dict]:
	url = f"{SITE_URL}/app/journal-entry/{name}"
	return [
		j
		for j in world.emulator.manual_journals(world.tenant_id)
		if j["url"] == url and (not live or j["status"] in ("DRAFT", "POSTED"))
	]


def _org(world: World) -> OrgInfo:
	return OrgInfo(
		base_currency="NZD",
		system_accounts=world.gateway().manual_journals.system_accounts(world.tenant_id),
	)


def test_a_journal_entry_becomes_one_posted_manual_journal_with_its_lines(jworld, emulator):
	name = _submit(jworld)
	calls = emulator.total_calls(jworld.tenant_id)
	report = jworld.drain()
	assert report.synced == 1 and emulator.total_calls(jworld.tenant_id) - calls == 1  # one PUT, no lookup
	(journal,) = _journals(jworld, name)
	assert journal["status"] == "POSTED"
	assert [(x["account_code"], x["amount"]) for x in journal["lines"]] == [
		("429", D("1200.00")),
		("429", D("800.00")),
		("090", D("-2000.00")),
	]
	assert journal["lines"][0]["tracking"] == [{"Name": "Region", "Option": "Auckland"}]
	assert journal["narration"].endswith(f"({name})")
	row = jworld.log(name)
	assert (row["status"], row["xero_id"], row["xero_type"]) == (
		"Synced",
		journal["xero_id"],
		"MANUALJOURNAL",
	)


def test_a_foreign_currency_entry_goes_in_base_currency(jworld):
	name = _submit(jworld, "je_usd_bank_transfer")
	jworld.drain()
	(journal,) = _journals(jworld, name)
	assert [x["amount"] for x in journal["lines"]] == [D("1724.50"), D("-1724.50")]
	assert "base currency only" in jworld.log(name)["error_message"]


def test_a_lost_response_is_adopted_on_retry_never_posted_twice(jworld, emulator):
	name = _submit(jworld)
	emulator.inject("lost_after_commit", method="PUT", endpoint="ManualJournals", tenant_id=jworld.tenant_id)
	first = jworld.drain()
	assert first.synced == 0 and len(_journals(jworld, name)) == 1  # Xero has it; we never heard
	jworld.clock.advance(LEASE_SECONDS + 1)
	jworld.drain()
	if jworld.log(name)["status"] == "Queued":  # an earlier request might still land: it waits, then looks
		jworld.clock.advance(jworld.config.in_flight_seconds)
		jworld.drain()
	row = jworld.log(name)
	(journal,) = _journals(jworld, name)
	assert (row["status"], row["xero_id"]) == ("Synced", journal["xero_id"])
	assert "earlier, interrupted attempt; not sent again" in row["error_message"]


def test_a_worker_killed_after_the_send_gate_recovers_with_one_journal(jworld):
	name = _submit(jworld)
	with pytest.raises(Crash):
		jworld.drain(journal=CrashAfter(jworld.journal(), "store_xero_ids"))
	jworld.clock.advance(LEASE_SECONDS + 1)
	jworld.drain()
	assert jworld.log(name)["status"] == "Synced" and len(_journals(jworld, name)) == 1


def test_cancel_voids_the_manual_journal(jworld):
	name = _submit(jworld)
	jworld.drain()
	jworld.erp.cancel(JE, name)
	report = jworld.drain()
	assert report.voided == 1
	assert _journals(jworld, name) == []
	(journal,) = _journals(jworld, name, live=False)
	assert journal["status"] == "VOIDED"
	assert (jworld.log(name)["status"], jworld.log(name)["xero_status"]) == ("Voided", "VOIDED")


def test_a_cancel_after_log_settings_cleared_the_row_still_voids_the_journal(jworld):
	"""A Journal Entry keeps no Xero ID of its own: the row queued on its cancel finds the journal by our
	marker and date (found by the chaos run with log clean-ups: the journal stayed posted)."""
	name = _submit(jworld)
	jworld.drain()
	jworld.db.execute("DELETE FROM `tabXero Sync Log` WHERE reference_name = %(n)s", {"n": name})
	jworld.db.commit("test: Log Settings cleared the row")
	assert jworld.erp.cancel(JE, name, jworld.tenant_id) == 1
	assert jworld.drain().voided == 1
	assert _journals(jworld, name) == [] and jworld.log(name)["status"] == "Voided"


def test_cancelled_before_it_was_sent_is_skipped_and_nothing_reaches_xero(jworld):
	name = _submit(jworld)
	jworld.erp.cancel(JE, name)
	jworld.drain()
	assert jworld.log(name)["status"] == "Skipped" and _journals(jworld, name, live=False) == []


@pytest.mark.parametrize(
	("template", "why"),
	[
		("je_exchange_gain_loss", "Exchange Gain Or Loss"),
		("je_receivable_write_off", "receivable or payable"),
	],
)
def test_entries_erpnext_makes_for_what_is_already_sent_are_skipped(jworld, template, why):
	name = _submit(jworld, template)
	jworld.drain()
	row = jworld.log(name)
	assert row["status"] == "Skipped" and why in row["error_message"]
	assert _journals(jworld, name, live=False) == []


def test_a_company_that_does_not_send_journal_entries_skips_them(make_world):
	world = journals_on(make_world(), send=False)
	name = _submit(world)
	world.drain()
	assert (
		world.log(name)["status"] == "Skipped"
		and "Send Journal Entries is off" in world.log(name)["error_message"]
	)


def test_preflight_refuses_before_any_call(jworld, emulator):
	unmapped = _submit(jworld)
	jworld.config = dataclasses.replace(
		jworld.config,
		account_map={
			k: v for k, v in jworld.config.account_map.items() if k != (COMPANY, "Office Rent - KJT")
		},
	)
	doc = journal_entry(f"ACC-JV-{uuid.uuid4().hex[:6]}")
	doc["accounts"][1]["account"] = "GST - KJT"
	doc["accounts"][0]["account"] = "ASB Cheque - KJT"
	system = doc["name"]
	submit_journal_entry(jworld, doc)
	org = _org(jworld)
	calls = emulator.total_calls(jworld.tenant_id)
	jworld.drain(org=org)
	assert emulator.total_calls(jworld.tenant_id) == calls  # nothing was sent
	assert (
		"No Xero account for the ERPNext account 'Office Rent - KJT'" in jworld.log(unmapped)["error_message"]
	)
	assert "one of Xero's system accounts" in jworld.log(system)["error_message"]
	assert {jworld.log(n)["status"] for n in (unmapped, system)} == {"Failed"}


def test_xero_refuses_a_system_account_line_when_the_chart_was_not_read(jworld):
	doc = journal_entry(f"ACC-JV-{uuid.uuid4().hex[:6]}")
	doc["accounts"][0]["account"] = "GST - KJT"
	submit_journal_entry(jworld, doc)
	jworld.drain()
	row = jworld.log(doc["name"])
	assert row["status"] == "Failed" and "system account" in row["error_message"]


def test_a_backlog_goes_in_one_put_per_fifty(jworld, emulator):
	names = [_submit(jworld) for _ in range(60)]
	calls = emulator.total_calls(jworld.tenant_id)
	jworld.drain()
	assert emulator.total_calls(jworld.tenant_id) - calls == 2
	assert all(len(_journals(jworld, n)) == 1 for n in names)


def test_a_reused_name_gets_its_own_journal_and_the_old_one_stays_void(jworld):
	name = _submit(jworld)
	jworld.drain()
	jworld.erp.cancel(JE, name)
	jworld.drain()
	jworld.erp.delete(JE, name)
	submit_journal_entry(jworld, journal_entry(name))
	jworld.drain()
	journals = _journals(jworld, name, live=False)
	assert sorted(j["status"] for j in journals) == ["POSTED", "VOIDED"]
	assert jworld.log(name)["status"] == "Synced"


def test_long_journals_go_out_in_requests_under_xeros_size_cap(jworld, emulator, monkeypatch):
	"""Batches close at the byte budget as invoices' do; a 413 on a batch is split and sent again."""
	from nexwave_xero_connector.sync import batching

	names = [_submit(jworld) for _ in range(4)]
	monkeypatch.setattr(batching, "MAX_REQUEST_BYTES", 10**9)  # one batch of four...
	emulator.inject("413", method="PUT", endpoint="ManualJournals", tenant_id=jworld.tenant_id, times=1)
	emulator.reset_counters()
	jworld.drain()
	assert [len(_journals(jworld, n)) for n in names] == [1, 1, 1, 1]
	assert emulator.calls[("PUT", "ManualJournals")] == 3  # ...refused once, then two halves
	assert {jworld.log(n)["status"] for n in names} == {"Synced"}


def test_a_reused_name_never_loses_its_journal_to_the_cleared_cancel_of_the_old_entry(jworld):
	"""Cancelled after its row was cleared, deleted, and its name submitted again: the old entry's row
	knows only our marker, which the new entry's journal carries too. While the new entry's create is in
	flight in another worker (its journal in Xero, its ID held by no row yet), the old row waits; then it
	voids only the old journal (seen once in chaos: journals_lost=1)."""
	name = _submit(jworld)
	jworld.drain()
	(old,) = _journals(jworld, name)
	jworld.db.execute("DELETE FROM `tabXero Sync Log` WHERE reference_name = %(n)s", {"n": name})
	jworld.db.commit("test: Log Settings cleared the row")
	jworld.erp.cancel(JE, name, jworld.tenant_id)
	jworld.erp.delete(JE, name, jworld.tenant_id)
	submit_journal_entry(jworld, journal_entry(name))  # the same name and lines: a new entry
	with pytest.raises(Crash):  # the new entry's worker dies after Xero made its journal
		jworld.drain(journal=CrashAfter(jworld.journal(), "store_xero_ids"))
	jworld.db.rollback()
	# another worker claims the old entry's row meanwhile (the new one's stays with the dead worker)
	jworld.db.execute(
		"UPDATE `tabXero Sync Log` SET lease_owner = NULL, lease_expires_at = NULL WHERE deleted_reference = %(n)s",
		{"n": name},
	)
	jworld.db.commit("test: the old row is free for another worker")
	jworld.drain()
	assert len(_journals(jworld, name)) == 2  # nothing voided while the new ID is held by no row
	jworld.clock.advance(LEASE_SECONDS + 1)
	jworld.drain()
	jworld.clock.advance(LEASE_SECONDS + 1)
	jworld.drain()
	(new,) = _journals(jworld, name)
	assert new["xero_id"] != old["xero_id"] and jworld.log(name)["status"] == "Synced"
	voided = [j for j in _journals(jworld, name, live=False) if j["status"] == "VOIDED"]
	assert [j["xero_id"] for j in voided] == [old["xero_id"]]
