"""Errors the core understands. The gateway translates SDK/HTTP failures into these."""

from __future__ import annotations

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
	):
		super().__init__(message)
		self.message = message
		self.error_class = error_class
		self.status = status
		self.retry_after = retry_after
		self.detail = detail
		# True when the request may have reached Xero and been applied (timeout, dropped response, 5xx).
		self.may_have_committed = may_have_committed

	@property
	def is_retryable(self) -> bool:
		return self.error_class in (ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED)
