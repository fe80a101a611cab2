"""Errors the core understands. The gateway translates SDK/HTTP failures into these."""

from __future__ import annotations

import re
import traceback
from typing import Any

from .model import ErrorClass


class MappingError(Exception):
	"""Wrong or missing data found before any call: the message names the document, line and setting to fix."""

	error_class = ErrorClass.MAPPING


class XeroError(Exception):
	"""A Xero call failed as a whole.

	`error_class` says what to do: TRANSIENT and RATE_LIMITED are retried by policy, CONNECTION pauses the
	organisation until someone reconnects, VALIDATION and CONFLICT wait for a human.
	`message` is for the accountant; `detail` is the scrubbed technical text kept in the log.
	"""

	def __init__(
		self,
		message: str,
		*,
		error_class: ErrorClass,
		status: int | None = None,
		retry_after: float | None = None,
		detail: str = "",
		may_have_committed: bool = False,
		trace: str | None = None,
		too_large: bool = False,
		held_back: bool = False,
	):
		super().__init__(message)
		self.message = message
		self.error_class = error_class
		self.status = status
		self.retry_after = retry_after
		self.detail = detail
		# True when the request may have reached Xero and been applied (timeout, dropped response, 5xx).
		self.may_have_committed = may_have_committed
		# A scrubbed traceback, for failures that are not a known Xero outcome (error_class UNEXPECTED).
		self.trace = trace
		# Xero refused the request for its size (HTTP 413) before reading it: split it, never retry it whole.
		self.too_large = too_large
		# The rate governor held the request back before it left: no call was made, so it is no attempt.
		self.held_back = held_back

	@property
	def is_retryable(self) -> bool:
		return self.error_class in (ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED)


# --- scrub: nothing secret reaches a log --------------------------------------------------------------

_SECRET_KEYS = (
	r"access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|password"
	r"|authorization|token|code"
)
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
	(re.compile(r"\b(Bearer)(?:\s+|%20|\+)(?!\[redacted\])[A-Za-z0-9\-._~+/%]+=*", re.I), r"\1 [redacted]"),
	(re.compile(r"\bBasic\s+[A-Za-z0-9+/]{8,}=*"), "Basic [redacted]"),
	(re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted]"),
	(
		re.compile(
			rf"((?<![A-Za-z0-9_])(?:{_SECRET_KEYS})[\\\"']*\s*[:=]\s*[\\\"']*)(?!\[redacted\])"
			r"([^\\\"'&\s,;}\])]+)",
			re.I,
		),
		r"\1[redacted]",
	),
)


def scrub(text: Any) -> str:
	"""Remove bearer/basic credentials, JWTs, tokens, client secrets and OAuth codes from any text/JSON."""
	if not isinstance(text, str):
		text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
	for pattern, replacement in _SCRUBBERS:
		text = pattern.sub(replacement, text)
	return text


def trace_of(exc: BaseException, limit: int = 20_000) -> str:
	"""The exception's traceback with secrets scrubbed, for the Error Log."""
	return scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))[:limit]
