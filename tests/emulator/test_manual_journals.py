"""Manual journals in the emulator through the real SDK: create in a batch with per-element errors, the
validations Xero documents, void, listing by date and If-Modified-Since, and an Idempotency-Key replay."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from xero_python.accounting import AccountingApi, ManualJournal, ManualJournalLine, ManualJournals
from xero_python.exceptions import AccountingBadRequestException

from .test_emulator import NZ, emu, sdk_client  # noqa: F401

D = Decimal
DAY = dt.date(2024, 3, 20)


@pytest.fixture
def api(emu):  # noqa: F811
	return AccountingApi(sdk_client(emu), base_url=emu.api_url)


def journal(*lines: tuple[str, str], url: str = "https://erp.example/app/journal-entry/JV-1", day=DAY):
	return ManualJournal(
		narration="Rent",
		date=day,
		status="POSTED",
		url=url,
		journal_lines=[ManualJournalLine(account_code=c, line_amount=D(a)) for c, a in lines],
	)


def create(api, *journals, key=None):
	kwargs = {"idempotency_key": key} if key else {}
	return api.create_manual_journals(
		NZ, ManualJournals(manual_journals=list(journals)), summarize_errors=False, **kwargs
	).manual_journals


def test_a_batch_keeps_the_good_journals_and_explains_each_refusal(emu, api):  # noqa: F811
	good, unbalanced, short, unknown, system = create(
		api,
		journal(("429", "100.00"), ("090", "-100.00")),
		journal(("429", "100.00"), ("090", "-99.99")),
		journal(("429", "0.00"), ("090", "0")),
		journal(("999", "10.00"), ("090", "-10.00")),
		journal(("820", "15.00"), ("090", "-15.00")),
	)
	assert good.status_attribute_string == "OK" and good.status == "POSTED"
	assert good.url.endswith("/JV-1")
	assert "must equal total credits" in unbalanced.validation_errors[0].message
	assert "at least two journal lines" in short.validation_errors[0].message
	assert "'999' is not a valid code" in unknown.validation_errors[0].message
	assert "system account" in system.validation_errors[0].message
	assert [j["status"] for j in emu.manual_journals(NZ)] == ["POSTED"]


def test_a_posted_journal_is_voided_and_then_cannot_be_voided_again(emu, api):  # noqa: F811
	(made,) = create(api, journal(("429", "50.00"), ("090", "-50.00")))
	change = ManualJournal(manual_journal_id=made.manual_journal_id, narration="Rent", status="VOIDED")
	(voided,) = api.update_or_create_manual_journals(
		NZ, ManualJournals(manual_journals=[change]), summarize_errors=False
	).manual_journals
	assert voided.status == "VOIDED"
	assert emu.manual_journals(NZ)[0]["status"] == "VOIDED"
	draft = ManualJournal(manual_journal_id=made.manual_journal_id, narration="Rent", status="DRAFT")
	with pytest.raises(AccountingBadRequestException):
		api.update_manual_journal(NZ, made.manual_journal_id, ManualJournals(manual_journals=[draft]))


def test_listing_filters_by_date_and_if_modified_since_and_pages(emu, api):  # noqa: F811
	create(api, journal(("429", "1.00"), ("090", "-1.00"), day=DAY))
	create(api, journal(("429", "2.00"), ("090", "-2.00"), day=DAY + dt.timedelta(days=1)))
	on_day = api.get_manual_journals(NZ, where="Date==DateTime(2024, 03, 20)", page=1).manual_journals
	assert [j.journal_lines[0].line_amount for j in on_day] == [D("1.00")]
	later = dt.datetime.fromtimestamp(emu.now() + 60, tz=dt.timezone.utc)
	assert api.get_manual_journals(NZ, if_modified_since=later).manual_journals == []
	(one,) = api.get_manual_journal(NZ, on_day[0].manual_journal_id).manual_journals
	assert one.url.endswith("/JV-1")


def test_a_replayed_key_creates_nothing_more(emu, api):  # noqa: F811
	body = journal(("429", "5.00"), ("090", "-5.00"))
	first = create(api, body, key="mj-key-1")
	again = create(api, body, key="mj-key-1")
	assert first[0].manual_journal_id == again[0].manual_journal_id
	assert len(emu.manual_journals(NZ)) == 1
