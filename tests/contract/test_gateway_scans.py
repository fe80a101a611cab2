"""The organisation-wide scans on the wire: one pager for the drift scan and the reconciliation."""

from __future__ import annotations

from datetime import datetime, timezone

from responses import matchers

from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.xero.gateway import SdkGateway

from .conftest import API, TENANT
from .test_gateway_wire import invoice_json, query

SINCE = datetime(2026, 11, 29, 13, 0, 5, tzinfo=timezone.utc)
LIVE_WHERE = 'Status=="AUTHORISED" OR Status=="DRAFT" OR Status=="PAID" OR Status=="SUBMITTED"'


def note_json(number: str, xero_id: str, **extra: object) -> dict:
	return {
		"CreditNoteID": xero_id,
		"Type": "ACCPAYCREDIT",
		"CreditNoteNumber": number,
		"Status": "AUTHORISED",
		**extra,
	}


def test_live_since_lists_summaries_of_live_invoices_and_credit_notes_since_a_time(rs, gateway):
	updated = "/Date(1795957205000+0000)/"  # 2026-11-29 13:00:05 UTC
	rs.get(
		f"{API}/Invoices", json={"Invoices": [invoice_json("SP-1", "b-1", "ACCPAY", UpdatedDateUTC=updated)]}
	)
	rs.get(f"{API}/CreditNotes", json={"CreditNotes": [note_json("SC-1", "cn-1")]})
	found = gateway.live_since(TENANT, SINCE)

	invoices, notes = rs.calls
	assert query(invoices) == [
		("Statuses", "AUTHORISED,DRAFT,PAID,SUBMITTED"),
		("page", "1"),
		("summaryOnly", "True"),
		("pageSize", "1000"),
	]
	assert query(notes) == [("where", LIVE_WHERE), ("page", "1"), ("pageSize", "1000")]
	for call in rs.calls:
		assert call.request.headers["If-Modified-Since"] == "2026-11-29T13:00:05+00:00"
		assert call.request.headers["xero-tenant-id"] == TENANT
	assert [(r.kind, r.xero_id, r.number) for r in found] == [
		(Kind.BILL, "b-1", "SP-1"),
		(Kind.BILL_CREDIT, "cn-1", "SC-1"),
	]
	assert found[0].updated == datetime(2026, 11, 29, 13, 0, 5, tzinfo=timezone.utc)


def test_removed_since_uses_the_same_pager_with_full_records(rs, gateway):
	rs.get(f"{API}/Invoices", json={"Invoices": [invoice_json("A-1", "i-1", Status="VOIDED")]})
	rs.get(f"{API}/CreditNotes", json={"CreditNotes": []})
	[found] = gateway.removed_since(TENANT, SINCE)
	invoices, notes = rs.calls
	assert query(invoices) == [("Statuses", "VOIDED,DELETED"), ("page", "1"), ("pageSize", "1000")]
	assert dict(query(notes))["where"] == 'Status=="VOIDED" OR Status=="DELETED"'
	assert (found.xero_id, found.status) == ("i-1", "VOIDED")


def test_scans_follow_pages_until_a_short_page(rs, api):
	gateway = SdkGateway(api, scan_page_size=2)
	for page, ids in ((1, ["i-1", "i-2"]), (2, ["i-3", "i-4"]), (3, ["i-5"])):
		rs.get(
			f"{API}/Invoices",
			match=[matchers.query_param_matcher({"page": str(page)}, strict_match=False)],
			json={"Invoices": [invoice_json("A", i, "ACCPAY") for i in ids]},
		)
	rs.get(f"{API}/CreditNotes", json={"CreditNotes": [note_json("C", "cn-1")]})
	found = gateway.live_since(TENANT, SINCE)
	assert [r.xero_id for r in found] == ["i-1", "i-2", "i-3", "i-4", "i-5", "cn-1"]
	assert [dict(query(c)).get("page") for c in rs.calls] == ["1", "2", "3", "1"]
