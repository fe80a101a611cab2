"""Turns SDK/HTTP failures into sync.errors.XeroError, Xero's texts into actions, and hides secrets.

Never call str() on an SDK exception here: AccountingBadRequestException.status/reason parse the body
as JSON and raise on a non-JSON 400. Everything is read from `exc.http_resp` instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from xero_python.exceptions import (
	AccessTokenExpiredError,
	ApiException,
	OAuth2Error,
	OAuth2TokenGetterError,
	OAuth2TokenSaverError,
)

from ..sync.errors import XeroError, scrub, trace_of
from ..sync.model import ErrorClass
from .transport import TransportError, to_transport_error

RECONNECT = "Reconnect to Xero in Xero Sync Settings; nothing was sent."
NOTHING_SENT = "Nothing was sent."
_RATE_HEADERS = ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining")
# OAuth error codes that mean the stored login is unusable (RFC 6749 §5.2)
_OAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})
_MAX_DETAIL = 4000


def classify(exc: BaseException, *, document: str = "") -> XeroError:
	"""Translate any failure of a Xero call into a XeroError (message for people, scrubbed detail)."""
	if isinstance(exc, XeroError):
		return exc
	if isinstance(exc, TransportError):
		return _network(exc)
	if isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
		return _network(to_transport_error(exc))
	if isinstance(exc, ApiException) and exc.http_resp is not None:
		return _http(exc, document)
	if isinstance(exc, ApiException):
		# ApiSSLException and friends carry status 0: the TLS handshake failed, so nothing was sent
		return XeroError(
			"Could not open a secure connection to Xero. Nothing was sent; it will be retried.",
			error_class=ErrorClass.TRANSIENT,
			detail=_detail(type(exc).__name__, exc.reason or ""),
		)
	if isinstance(exc, OAuth2Error):
		return _token_problem(exc)
	return XeroError(
		f"Unexpected problem talking to Xero ({type(exc).__name__}: {scrub(str(exc))[:200]}).",
		error_class=ErrorClass.UNEXPECTED,
		detail=_detail(type(exc).__name__, str(exc)),
		may_have_committed=True,
		trace=trace_of(exc),
	)


def _network(exc: TransportError) -> XeroError:
	"""Connect failures were never sent; timeouts and dropped answers may have been applied."""
	if not exc.sent:
		return XeroError(
			"Could not reach Xero. Nothing was sent; it will be retried.",
			error_class=ErrorClass.TRANSIENT,
			detail=_detail(exc.method, exc.url, str(exc)),
		)
	return XeroError(
		"Xero did not answer in time (timeout or dropped connection). The request may have been saved in "
		"Xero; it is checked before anything is sent again.",
		error_class=ErrorClass.TRANSIENT,
		detail=_detail(exc.method, exc.url, str(exc)),
		may_have_committed=True,
	)


def _token_problem(exc: OAuth2Error) -> XeroError:
	"""The SDK could not produce a usable access token, so the request never left."""
	if isinstance(exc, AccessTokenExpiredError):
		why = "the saved Xero login has expired and cannot be refreshed"
	elif isinstance(exc, OAuth2TokenSaverError):
		why = "a refreshed Xero login could not be saved"
	elif isinstance(exc, OAuth2TokenGetterError):
		why = "no Xero login is available"
	else:
		why = type(exc).__name__
	return XeroError(
		f"Xero rejected the connection ({why}). {RECONNECT}",
		error_class=ErrorClass.CONNECTION,
		detail=_detail(type(exc).__name__, str(exc)),
	)


def _http(exc: ApiException, document: str) -> XeroError:
	"""Classify an HTTP error answer by status and body."""
	resp = exc.http_resp
	status = int(getattr(resp, "status", 0) or 0)
	headers = _headers(resp)
	raw = _text(getattr(resp, "data", b""))
	body = _json(raw)
	detail = _detail(f"HTTP {status}", _header_summary(headers), raw)
	if status == 429:
		return _rate_limited(headers, detail, getattr(resp, "hold", None))
	if status == 413:
		return _too_large(document, detail)
	oauth_error = body.get("error") if isinstance(body, Mapping) else None
	if status in (401, 403) or (status == 400 and oauth_error in _OAUTH_ERRORS):
		return XeroError(
			f"Xero rejected the connection ({_auth_reason(status, body)}). {RECONNECT}",
			error_class=ErrorClass.CONNECTION,
			status=status,
			detail=detail,
		)
	if status >= 500:
		return XeroError(
			f"Xero had a server error (HTTP {status}). The request may have been saved in Xero; it is "
			"checked before anything is sent again.",
			error_class=ErrorClass.TRANSIENT,
			status=status,
			detail=detail,
			may_have_committed=True,
		)
	label = document or "This request"
	if status == 404:
		return XeroError(
			f"{label}: Xero could not find the record (HTTP 404); it may have been deleted in Xero.",
			error_class=ErrorClass.VALIDATION,
			status=status,
			detail=detail,
		)
	messages = validation_messages(body) or _plain_messages(body, raw)
	error_class = ErrorClass.VALIDATION
	if any(_IDEMPOTENCY.search(m) for m in messages):
		error_class = ErrorClass.CONFLICT
	return XeroError(explain(messages, document=label), error_class=error_class, status=status, detail=detail)


def _rate_limited(headers: Mapping[str, str], detail: str, hold: float | None = None) -> XeroError:
	"""429: wait as long as Xero says, or as long as the rate governor now holds this organisation back
	(`hold`, from the transport's answer hook: a Retry-After of 5 s with a minute budget of 0 is a wait of
	the rest of the minute), whichever is longer."""
	problem = headers.get("X-Rate-Limit-Problem") or "unknown"
	retry_after = parse_retry_after(headers.get("Retry-After"))
	if hold is not None and hold > (retry_after or 0):
		retry_after = hold
	when = f" Sending resumes in {human_wait(retry_after)}." if retry_after is not None else ""
	return XeroError(
		f"Xero's {problem} rate limit was reached; nothing was sent.{when}",
		error_class=ErrorClass.RATE_LIMITED,
		status=429,
		retry_after=retry_after,
		detail=detail,
	)


def human_wait(seconds: float) -> str:
	"""A wait as people say it: seconds, minutes or hours."""
	if seconds < 90:
		return f"{max(1, round(seconds))} seconds"
	if seconds < 5400:
		return f"{round(seconds / 60)} minutes"
	return f"{round(seconds / 3600)} hours"


def _too_large(document: str, detail: str) -> XeroError:
	"""413: Xero refused the request for its size before reading it (its cap is 3.5 MB), so nothing was
	saved. Not a retry: the sender splits the request in halves and sends each (sync.batching), down to
	one document, which then fails with what to do."""
	label = document or "This request"
	return XeroError(
		f"{label}: Xero refused the request as larger than its 3.5 MB limit (HTTP 413). {NOTHING_SENT}",
		error_class=ErrorClass.VALIDATION,
		status=413,
		detail=detail,
		too_large=True,
	)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
	"""Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent/unreadable."""
	if not value:
		return None
	value = value.strip()
	try:
		return max(0.0, float(value))
	except ValueError:
		pass
	try:
		when = parsedate_to_datetime(value)
	except (TypeError, ValueError):
		return None
	if when.tzinfo is None:
		when = when.replace(tzinfo=timezone.utc)
	return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _auth_reason(status: int, body: Any) -> str:
	"""A short why for 401/403/invalid_grant, from the problem JSON or OAuth error body."""
	if isinstance(body, Mapping):
		if body.get("error"):
			text = f"{body['error']}: the saved Xero login has expired or was revoked"
			return scrub(text)
		found = body.get("Detail") or body.get("Title") or body.get("Message")
		if found:
			reason = scrub(str(found))[:200]
			if status == 403:
				reason += "; the organisation may be disconnected or a permission is missing"
			return reason
	return "HTTP 403, organisation disconnected or permission missing" if status == 403 else f"HTTP {status}"


def validation_messages(body: Any) -> list[str]:
	"""The ValidationErrors messages of a ValidationException body, in order, without duplicates."""
	if not isinstance(body, Mapping):
		return []
	found: list[str] = []
	for element in body.get("Elements") or []:
		if isinstance(element, Mapping):
			for error in element.get("ValidationErrors") or []:
				if isinstance(error, Mapping) and error.get("Message"):
					found.append(str(error["Message"]))
	return list(dict.fromkeys(found))


def _plain_messages(body: Any, raw: str) -> list[str]:
	"""Fallback messages for a 4xx without element errors."""
	if isinstance(body, Mapping):
		for key in ("Message", "Detail", "error_description", "Title", "error"):
			if body.get(key):
				return [str(body[key])]
	text = raw.strip()
	return [scrub(text[:300])] if text else []


# --- explain: Xero's validation texts -> what an accountant can do ------------------------------------

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], str], str]]
_IDEMPOTENCY = re.compile(r"idempotency", re.I)
_SETTINGS = "Xero Sync Settings"


def _rule(
	pattern: str,
) -> Callable[[Callable[[re.Match[str], str], str]], Callable[[re.Match[str], str], str]]:
	"""Register a catalogue entry for messages matching `pattern` (case-insensitive)."""

	def register(fn: Callable[[re.Match[str], str], str]) -> Callable[[re.Match[str], str], str]:
		_CATALOGUE.append((re.compile(pattern, re.I), fn))
		return fn

	return register


_CATALOGUE: list[_Rule] = []


@_rule(r"Organisation is not subscribed to currency (?P<cur>[A-Z]{3})")
def _currency(m: re.Match[str], doc: str) -> str:
	cur = m["cur"]
	return (
		f"Xero organisation has no {cur} currency enabled. Add {cur} in Xero (Settings → Currencies) "
		f"or post {doc} in the base currency."
	)


@_rule(r"TaxType code '(?P<tax>[^']*)' cannot be used with account code '(?P<acct>[^']*)'")
def _tax_on_account(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: Xero does not allow tax rate {m['tax']} on account {m['acct']}. In {_SETTINGS} change the "
		f"tax mapping that gives {m['tax']} or the account mapping that gives {m['acct']}, then retry."
	)


@_rule(r"TaxType (?:code )?'?(?P<tax>[^' ]+)'? (?:does not exist|is not valid|is invalid|cannot be used)")
def _tax_unknown(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: tax rate {m['tax']} does not exist or is not active in Xero. Fix the tax mapping that "
		f"gives {m['tax']} in {_SETTINGS}, or activate the rate in Xero (Accounting → Tax rates)."
	)


@_rule(r"Account code '(?P<acct>[^']*)' (?:is not a valid code|has been archived|is archived|.*not valid)")
def _account(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: account code {m['acct']} does not exist or is archived in Xero. Fix the account mapping "
		f"that gives {m['acct']} in {_SETTINGS}, or add the account in Xero (Accounting → Chart of accounts)."
	)


@_rule(r"(?P<which>period|end of year) lock date(?:, currently set at (?P<date>[^.]+))?")
def _lock_date(m: re.Match[str], doc: str) -> str:
	when = f" ({m['date'].strip()})" if m["date"] else ""
	return (
		f"{doc} is dated on or before Xero's {m['which'].lower()} lock date{when}. Ask whoever manages the "
		"books to move the lock date in Xero (Settings → Financial settings), or correct the posting date."
	)


@_rule(r"contact.*\barchived\b|\barchived\b.*contact")
def _archived_contact(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: the customer/supplier's contact is archived in Xero. Restore it in Xero (Contacts → "
		"Archived → Restore), then retry."
	)


@_rule(r"(?P<what>Invoice|Credit ?Note) (?:#|number) must be unique")
def _duplicate_number(m: re.Match[str], doc: str) -> str:
	what = "an invoice" if m["what"].lower() == "invoice" else "a credit note"
	return (
		f"Xero already has {what} numbered like {doc}. Open it in Xero: if it is this document, retry to "
		f"link it; otherwise void or renumber the one in Xero."
	)


@_rule(r"contact name (?P<name>.+?) is already assigned to another contact")
def _duplicate_contact_name(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: Xero already has an active contact named {m['name']}. Give it this party's ID as its "
		"contact number (Contact Code) in Xero, or rename the customer/supplier, then retry."
	)


@_rule(r"contact number (?P<num>.+?) is already assigned")
def _duplicate_contact_number(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: another Xero contact already uses contact number {m['num']}. Clear it on the wrong contact "
		"in Xero, then retry."
	)


@_rule(r"cannot be edited as it has a payment or credit note allocated|because it has payments or credit")
def _has_payments(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc} has payments or credit notes allocated in Xero. Remove them in Xero first, then retry the "
		"change."
	)


@_rule(r"not of valid status for modification")
def _bad_status(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc} can no longer be changed in Xero because of its status there (for example paid or voided). "
		"Check it in Xero."
	)


@_rule(r"amount is greater than amount outstanding|already been paid off")
def _over_allocation(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: the original document has less left to pay in Xero than this credit. Allocate the credit "
		"by hand in Xero, or refund it."
	)


@_rule(r"cannot be allocated to an incorrect")
def _wrong_allocation(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: the credit note and the original document differ in type, contact or currency in Xero, "
		"so Xero will not allocate one to the other. Allocate it by hand in Xero."
	)


@_rule(r"tracking (?:category|option)|TrackingCategory|TrackingOption")
def _tracking(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: a tracking category or option is missing or archived in Xero. Fix the cost center "
		f"tracking mapping in {_SETTINGS}, or restore the option in Xero (Settings → Tracking categories)."
	)


@_rule(r"reached the limit of invoices you can approve")
def _plan_limit(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: the Xero subscription's limit of approved invoices is reached. Upgrade the Xero plan, or "
		"post as Draft in Xero Sync Settings."
	)


@_rule(r"Email address must be valid")
def _email(m: re.Match[str], doc: str) -> str:
	return f"{doc}: Xero rejected the party's email address. Correct the email on the customer/supplier."


@_rule(r"idempotency")
def _idempotency(m: re.Match[str], doc: str) -> str:
	return (
		f"{doc}: Xero refused a repeat of an earlier request that differed from this one (idempotency key "
		"reused). It is looked up in Xero before being sent with a new key."
	)


def explain(messages: Iterable[str], *, document: str) -> str:
	"""Xero validation texts as actions for an accountant; unknown texts pass through with the document."""
	parts: list[str] = []
	for message in dict.fromkeys(m.strip() for m in messages if m and m.strip()):
		parts.append(_translate(message, document))
	if not parts:
		parts.append(f"{document}: Xero rejected it without saying why.")
	return " ".join(dict.fromkeys(parts)) + f" {NOTHING_SENT}"


def _translate(message: str, document: str) -> str:
	"""One message through the catalogue (first match wins)."""
	for pattern, render in _CATALOGUE:
		found = pattern.search(message)
		if found:
			return render(found, document)
	text = message if message.endswith((".", "!", "?")) else message + "."
	return f"{document}: {text}"


# --- helpers ------------------------------------------------------------------------------------------


def _headers(resp: Any) -> Mapping[str, str]:
	"""Response headers as a case-insensitive mapping (empty if unavailable)."""
	try:
		headers = resp.getheaders()
	except Exception:
		headers = None
	if headers is None:
		return CaseInsensitiveDict()
	return CaseInsensitiveDict(dict(headers.items()))


def _header_summary(headers: Mapping[str, str]) -> str:
	"""The rate-limit related headers, for the log."""
	names = ("Retry-After", "X-Rate-Limit-Problem", *_RATE_HEADERS)
	return " ".join(f"{n}={headers[n]}" for n in names if headers.get(n) is not None)


def _text(data: Any) -> str:
	"""Bytes or text as text."""
	if isinstance(data, bytes | bytearray):
		return bytes(data).decode("utf-8", errors="replace")
	return "" if data is None else str(data)


def _json(raw: str) -> Any:
	"""Parse JSON (floats as Decimal); None when the body is not JSON (Xero sometimes sends HTML)."""
	try:
		return json.loads(raw, parse_float=Decimal) if raw.strip() else None
	except ValueError:
		return None


def _detail(*parts: Any) -> str:
	"""Scrubbed, bounded technical text for the log."""
	text = " | ".join(str(p) for p in parts if p not in (None, ""))
	return scrub(text)[:_MAX_DETAIL]
