"""How HTTP and token failures from the real SDK become XeroErrors, and what people are told."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.xero.client import build_accounting_api
from nexwave_xero_connector.xero.errors import explain, parse_retry_after, scrub
from nexwave_xero_connector.xero.gateway import SdkGateway
from nexwave_xero_connector.xero.hosts import XeroHosts

from .conftest import ACCESS, API, TENANT, token

BODY = {"Contact": {"ContactID": "c1"}, "InvoiceNumber": "SINV-9", "LineItems": [{"Description": "x"}]}
RECONNECT = "Reconnect to Xero in Xero Sync Settings; nothing was sent."


def validation_body(*messages: str) -> dict:
	return {
		"ErrorNumber": 10,
		"Type": "ValidationException",
		"Message": "A validation exception occurred",
		"Elements": [{"InvoiceNumber": "SINV-9", "ValidationErrors": [{"Message": m} for m in messages]}],
	}


def create_error(rs, gateway, **response) -> XeroError:
	rs.put(f"{API}/Invoices", **response)
	with pytest.raises(XeroError) as caught:
		gateway.create_documents(TENANT, Kind.SALES_INVOICE, [BODY], "key-e")
	assert len(rs.calls) == 1
	return caught.value


def test_400_validation_is_explained_for_the_document(rs, gateway):
	error = create_error(
		rs, gateway, status=400, json=validation_body("Organisation is not subscribed to currency USD")
	)
	assert error.error_class is ErrorClass.VALIDATION and error.status == 400 and not error.may_have_committed
	assert error.message == (
		"Xero organisation has no USD currency enabled. Add USD in Xero (Settings → Currencies) or post "
		"SINV-9 in the base currency. Nothing was sent."
	)
	assert "ValidationException" in error.detail


def test_400_with_html_body_does_not_crash(rs, gateway):
	error = create_error(rs, gateway, status=400, body="<html>Bad Request</html>")
	assert error.error_class is ErrorClass.VALIDATION and "SINV-9" in error.message


def test_idempotency_key_reuse_is_a_conflict(rs, gateway):
	body = {"Message": "Idempotency Key key-e is used with a different request"}
	error = create_error(rs, gateway, status=400, json=body)
	assert error.error_class is ErrorClass.CONFLICT


def test_failed_refresh_inside_a_call_asks_to_reconnect(rs):
	hosts = XeroHosts(token_url="https://identity.test/connect/token")
	expired = token(expires_at=time.time() - 5)
	api = build_accounting_api(
		hosts, token_getter=lambda: expired, token_saver=lambda t: None, client_id="cid", client_secret="sec"
	)
	rs.post("https://identity.test/connect/token", status=400, json={"error": "invalid_grant"})
	with pytest.raises(XeroError) as caught:
		SdkGateway(api).create_documents(TENANT, Kind.SALES_INVOICE, [BODY], "key-g")
	assert len(rs.calls) == 1  # only the refresh; the invoice never left
	error = caught.value
	assert error.error_class is ErrorClass.CONNECTION and not error.may_have_committed
	assert error.message.startswith("Xero rejected the connection (invalid_grant") and error.message.endswith(
		RECONNECT
	)
	assert "refresh-secret-1" not in error.detail and "sec" not in error.detail.split()


@pytest.mark.parametrize(
	("status", "body", "why"),
	[
		(
			401,
			{"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired at 01/01/2024"},
			"TokenExpired",
		),
		(
			403,
			{"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"},
			"AuthenticationUnsuccessful",
		),
	],
)
def test_401_and_403_ask_to_reconnect(rs, gateway, status, body, why):
	error = create_error(rs, gateway, status=status, json=body)
	assert error.error_class is ErrorClass.CONNECTION and error.status == status
	assert why in error.message and error.message.endswith(RECONNECT)


def test_404_is_not_found(rs, gateway):
	rs.get(f"{API}/CreditNotes", status=404, body="The resource you're looking for cannot be found")
	with pytest.raises(XeroError) as caught:
		gateway.find_documents(TENANT, Kind.SALES_CREDIT, ["R-1"])
	assert caught.value.error_class is ErrorClass.VALIDATION and caught.value.status == 404


def test_429_is_rate_limited_with_retry_after(rs, gateway):
	headers = {"Retry-After": "35", "X-Rate-Limit-Problem": "minute", "X-DayLimit-Remaining": "4000"}
	error = create_error(rs, gateway, status=429, headers=headers, body="")
	assert error.error_class is ErrorClass.RATE_LIMITED and error.retry_after == 35 and error.is_retryable
	assert "minute" in error.message and "X-Rate-Limit-Problem=minute" in error.detail
	assert "X-DayLimit-Remaining=4000" in error.detail


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_transient_and_may_have_committed(rs, gateway, status):
	error = create_error(rs, gateway, status=status, json={"Message": "An error occurred"})
	assert error.error_class is ErrorClass.TRANSIENT and error.may_have_committed and error.status == status


def test_requests_timeout_from_the_wire_is_sent_once(rs, gateway):
	import requests

	error = create_error(rs, gateway, body=requests.exceptions.ReadTimeout("read timed out"))
	assert error.error_class is ErrorClass.TRANSIENT and error.may_have_committed


def test_connection_error_before_sending_was_not_sent(rs, gateway):
	import requests
	import urllib3

	cause = urllib3.exceptions.MaxRetryError(
		None, "/", urllib3.exceptions.NewConnectionError(None, "Connection refused")
	)
	error = create_error(rs, gateway, body=requests.exceptions.ConnectionError(cause))
	assert error.error_class is ErrorClass.TRANSIENT and not error.may_have_committed


def test_errors_carry_no_secrets_and_no_sdk_exception(rs, gateway):
	echo = {"Detail": f"bad token Bearer {ACCESS}", "refresh_token": "refresh-secret-1"}
	error = create_error(rs, gateway, status=401, json=echo)
	text = f"{error.message} {error.detail}"
	assert ACCESS not in text and "refresh-secret-1" not in text
	assert error.__context__ is None and error.__cause__ is None


@pytest.mark.parametrize(
	("message", "expected"),
	[
		(
			"Organisation is not subscribed to currency USD",
			"Xero organisation has no USD currency enabled. Add USD in Xero (Settings → Currencies) or post "
			"SINV-1 in the base currency. Nothing was sent.",
		),
		(
			"The TaxType code 'INPUT' cannot be used with account code '200'.",
			"SINV-1: Xero does not allow tax rate INPUT on account 200. In Xero Sync Settings change the tax "
			"mapping that gives INPUT or the account mapping that gives 200, then retry. Nothing was sent.",
		),
		("Account code '4711' is not a valid code for this document.", "account mapping that gives 4711"),
		(
			"The document date cannot be before the period lock date, currently set at 31/12/2023.",
			"period lock date (31/12/2023)",
		),
		("The contact has been archived and cannot be used.", "Restore it in Xero"),
		("Invoice # must be unique.", "Xero already has an invoice numbered like SINV-1"),
		("Credit Note # must be unique.", "credit note numbered like SINV-1"),
		("This document cannot be edited as it has a payment or credit note allocated to it.", "Remove them"),
		("Something new from Xero", "SINV-1: Something new from Xero. Nothing was sent."),
	],
)
def test_explain_catalogue(message, expected):
	assert expected in explain([message], document="SINV-1")


def test_explain_joins_distinct_messages_once():
	text = explain(["Email address must be valid.", "Email address must be valid.", "Odd"], document="C-1")
	assert text.count("email address") == 1 and text.endswith("C-1: Odd. Nothing was sent.")
	assert explain([], document="C-1") == "C-1: Xero rejected it without saying why. Nothing was sent."


def test_scrub_removes_tokens_secrets_and_codes():
	body = json.dumps(
		{
			"access_token": ACCESS,
			"refresh_token": "rt-123",
			"id_token": "idt-456",
			"client_secret": "cs-789",
			"AccountCode": "200",
		}
	)
	text = scrub(
		f"{body} Authorization: Bearer abc.def-ghi "
		"POST grant_type=refresh_token&refresh_token=rt-999&client_secret=cs-000 /callback?code=auth-code-1&state=s"
	)
	for secret in (ACCESS, "rt-123", "idt-456", "cs-789", "abc.def-ghi", "rt-999", "cs-000", "auth-code-1"):
		assert secret not in text
	assert '"AccountCode": "200"' in text and "state=s" in text and "grant_type=refresh_token" in text


def test_retry_after_as_http_date():
	now = datetime(2024, 3, 5, 12, 0, 0, tzinfo=timezone.utc)
	assert parse_retry_after("Tue, 05 Mar 2024 12:00:30 GMT", now=now) == 30
	assert parse_retry_after("soon") is None and parse_retry_after(None) is None
