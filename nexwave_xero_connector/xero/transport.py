"""Sends xero-python's HTTP through `requests` instead of its own urllib3 PoolManager.

Why: urllib3's default Retry(3) silently re-sends a PUT whose read timed out (duplicate bills); the SDK
has no default timeout; and we want one place that sees every response's rate-limit headers. The SDK
only ever calls `pool_manager.request(...)` (rest.py) and reads `status`, `reason`, `data`,
`getheaders()` and `getheader()` from what it returns, so a small look-alike is enough.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

log = logging.getLogger(__name__)

Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (5, 30)

# (tenant_id, method, url) before each request; tenant_id is None for token/identity calls.
BeforeRequest = Callable[[str | None, str, str], None]
# (tenant_id, status, headers) for every HTTP answer, success or not; it may return the seconds the caller
# is now held back from this tenant (the rate governor after a 429), kept on the answer as `hold`.
OnResponse = Callable[[str | None, int, Mapping[str, str]], float | None]

# Methods whose `fields` go into the query string (what urllib3's PoolManager.request does).
_URL_ENCODED_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_CONNECT_ERRORS = urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError

# The moment (time.monotonic(), which keeps counting while a process is stopped) after which a request
# made in this context must not leave. Whoever holds a lease on what the request creates sets it, so a
# worker that froze between its send gate and the socket drops the request instead of sending it late.
SEND_BY: ContextVar[float | None] = ContextVar("nxc_send_by", default=None)


class TransportError(Exception):
	"""A request got no usable HTTP answer. `sent` says whether Xero may have received (and applied) it."""

	sent = True

	def __init__(self, message: str, *, method: str = "", url: str = ""):
		super().__init__(message)
		self.method = method
		self.url = url


class RequestNotSent(TransportError):
	"""The connection could not be made (DNS, refused, connect timeout, TLS): Xero got nothing."""

	sent = False


class SentTooLate(RequestNotSent):
	"""The sender reached its send-by moment before the request left (it froze or stalled meanwhile): the
	request was dropped here, so Xero got nothing."""


class ResponseLost(TransportError):
	"""The request went out but the answer did not come back whole (read timeout, dropped connection)."""

	sent = True


class TransportResponse:
	"""The subset of urllib3.HTTPResponse that xero-python reads, backed by a requests.Response."""

	def __init__(self, response: requests.Response, *, method: str, url: str, hold: float | None = None):
		self._response = response
		# seconds the answer hook says the caller is held back from this tenant (after a 429), or None
		self.hold = hold
		self._method = method
		self._url = url
		self._data: bytes | None = None
		self.status: int = response.status_code
		self.reason: str = response.reason or ""
		self.headers: CaseInsensitiveDict = response.headers

	@property
	def data(self) -> bytes:
		"""The body, read on first access (the SDK's `_preload_content=False` path reads it lazily)."""
		if self._data is None:
			try:
				self._data = self._response.content or b""
			except requests.RequestException as exc:
				raise to_transport_error(exc, method=self._method, url=self._url) from exc
		return self._data

	def read(self, *_args: Any, **_kwargs: Any) -> bytes:
		"""Return the whole body (urllib3 compatibility)."""
		return self.data

	def stream(self, *_args: Any, **_kwargs: Any) -> Iterator[bytes]:
		"""Yield the whole body once (urllib3 compatibility)."""
		yield self.data

	def getheaders(self) -> CaseInsensitiveDict:
		"""Return the response headers (case-insensitive, like urllib3's HTTPHeaderDict)."""
		return self.headers

	def getheader(self, name: str, default: str | None = None) -> str | None:
		"""Return one response header."""
		return self.headers.get(name, default)

	def release_conn(self) -> None:
		"""Give the connection back to the pool."""
		self._response.close()

	def close(self) -> None:
		"""Close the underlying response."""
		self._response.close()


class RequestsPoolManager:
	"""Drop-in for `api_client.rest_client.pool_manager` that sends through a requests.Session."""

	def __init__(
		self,
		*,
		timeout: Timeout = DEFAULT_TIMEOUT,
		on_response: OnResponse | None = None,
		before_request: BeforeRequest | None = None,
		verify: bool | str = True,
		cert: str | tuple[str, str] | None = None,
		proxy: str | None = None,
		session: requests.Session | None = None,
	):
		self.timeout = timeout
		self.on_response = on_response
		self.before_request = before_request
		self.session = session or _new_session(verify=verify, cert=cert, proxy=proxy)

	def request(
		self,
		method: str,
		url: str,
		body: str | bytes | None = None,
		fields: Any = None,
		headers: Mapping[str, str] | None = None,
		preload_content: bool = True,
		timeout: Any = None,
		encode_multipart: bool = True,
		multipart_boundary: str | None = None,
		**_ignored: Any,
	) -> TransportResponse:
		"""Send one request with the signature rest.py uses; raise TransportError when no answer came."""
		method = method.upper()
		headers = dict(headers or {})
		if fields:
			if method in _URL_ENCODED_METHODS:
				url = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}"
			else:
				body = _encode_fields(fields, headers, encode_multipart, multipart_boundary)
		tenant_id = _tenant_of(headers)
		if self.before_request:
			# may sleep or raise to hold the request back (rate governor); nothing has been sent yet
			self.before_request(tenant_id, method, url)
		send_by = SEND_BY.get()
		if send_by is not None and time.monotonic() > send_by:
			raise SentTooLate(
				f"not sent: {time.monotonic() - send_by:.1f} s past its send-by moment",
				method=method,
				url=url,
			)
		try:
			# stream=True: headers reach the hook even when the body then fails to arrive
			response = self.session.request(
				method,
				url,
				data=body.encode() if isinstance(body, str) else body,
				headers=headers,
				timeout=resolve_timeout(timeout, self.timeout),
				stream=True,
				allow_redirects=False,
			)
		except requests.RequestException as exc:
			raise to_transport_error(exc, method=method, url=url) from exc
		hold = self._notify(tenant_id, response)
		result = TransportResponse(response, method=method, url=url, hold=hold)
		if preload_content:
			result.data  # noqa: B018 - read now so a dropped body surfaces here as ResponseLost
		return result

	def clear(self) -> None:
		"""Close pooled connections (urllib3 PoolManager compatibility)."""
		self.session.close()

	def _notify(self, tenant_id: str | None, response: requests.Response) -> float | None:
		"""Tell the hook about the answer; a broken hook must not turn a committed create into a failure."""
		if not self.on_response:
			return None
		try:
			hold = self.on_response(tenant_id, response.status_code, response.headers)
		except Exception:
			log.exception("xero on_response hook failed")
			return None
		return hold if isinstance(hold, int | float) and not isinstance(hold, bool) else None


def install(
	api_client: Any,
	*,
	timeout: Timeout = DEFAULT_TIMEOUT,
	on_response: OnResponse | None = None,
	before_request: BeforeRequest | None = None,
) -> RequestsPoolManager:
	"""Replace the SDK client's urllib3 PoolManager with a RequestsPoolManager; return the new one."""
	cfg = api_client.configuration
	verify: bool | str = cfg.ssl_ca_cert or bool(cfg.verify_ssl)
	cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else cfg.cert_file
	old = api_client.rest_client.pool_manager
	manager = RequestsPoolManager(
		timeout=timeout,
		on_response=on_response,
		before_request=before_request,
		verify=verify,
		cert=cert,
		proxy=cfg.proxy,
	)
	api_client.rest_client.pool_manager = manager
	if isinstance(old, urllib3.PoolManager):
		old.clear()
	return manager


def resolve_timeout(requested: Any, default: Timeout) -> Timeout:
	"""Turn the SDK's urllib3.Timeout/int/tuple (or nothing) into a (connect, read) pair, filling gaps."""
	connect: float | None = None
	read: float | None = None
	if isinstance(requested, urllib3.Timeout):
		total = _seconds(requested.total)
		connect = _seconds(requested.connect_timeout)
		# read_timeout raises before a connection exists when total is set, so read the raw value
		read = _seconds(getattr(requested, "_read", None))
		if total is not None:
			read = total if read is None else min(read, total)
	elif isinstance(requested, tuple) and len(requested) == 2:
		connect, read = _seconds(requested[0]), _seconds(requested[1])
	elif _seconds(requested) is not None:
		connect = read = _seconds(requested)
	return (default[0] if connect is None else connect, default[1] if read is None else read)


def to_transport_error(exc: BaseException, *, method: str = "", url: str = "") -> TransportError:
	"""Classify a requests/urllib3 failure as not sent (connect phase) or sent with the answer lost."""
	kind = RequestNotSent if never_sent(exc) else ResponseLost
	return kind(f"{type(exc).__name__}: {exc}", method=method, url=url)


def never_sent(exc: BaseException) -> bool:
	"""True when the failure happened before any byte of the request could reach Xero."""
	if isinstance(exc, requests.ConnectTimeout | requests.exceptions.InvalidURL):
		return True
	if isinstance(exc, requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema):
		return True
	if isinstance(exc, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError):
		return False
	if isinstance(exc, requests.exceptions.ContentDecodingError):
		return False
	# requests wraps urllib3 errors; connect-phase ones arrive inside MaxRetryError (read errors are
	# re-raised bare because the adapter's Retry has read=False), so look through the chain
	return any(_connect_phase(inner) for inner in _chain(exc))


def _connect_phase(exc: BaseException) -> bool:
	"""True for urllib3 errors raised while opening the connection (DNS, refused, connect timeout, TLS)."""
	if isinstance(exc, urllib3.exceptions.MaxRetryError):
		reason = exc.reason
		return isinstance(
			reason, _CONNECT_ERRORS | urllib3.exceptions.SSLError | urllib3.exceptions.ProxyError
		)
	# NameResolutionError (urllib3 2) subclasses NewConnectionError, itself a ConnectTimeoutError
	return isinstance(exc, _CONNECT_ERRORS)


def _chain(exc: BaseException) -> Iterator[BaseException]:
	"""Walk an exception, its args and its causes (bounded, cycle-safe)."""
	seen: set[int] = set()
	stack: list[BaseException] = [exc]
	while stack and len(seen) < 20:
		current = stack.pop()
		if id(current) in seen:
			continue
		seen.add(id(current))
		yield current
		stack.extend(a for a in current.args if isinstance(a, BaseException))
		for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
			if isinstance(linked, BaseException):
				stack.append(linked)


def _new_session(*, verify: bool | str, cert: Any, proxy: str | None) -> requests.Session:
	"""A Session that never retries and ignores the environment, like the SDK's own PoolManager."""
	session = requests.Session()
	# trust_env=False: no ~/.netrc (it would replace our Bearer header) and no env proxies/CA bundle,
	# matching what urllib3 did for the SDK
	session.trust_env = False
	session.verify = verify
	session.cert = cert
	if proxy:
		session.proxies = {"http": proxy, "https": proxy}
	# max_retries=0 is requests' default too; mounting it explicitly documents that nothing retries here
	for prefix in ("http://", "https://"):
		session.mount(prefix, HTTPAdapter(max_retries=0))
	return session


def _encode_fields(
	fields: Any, headers: dict[str, str], encode_multipart: bool, boundary: str | None
) -> bytes | str:
	"""Encode form fields into a body as urllib3 would (form-urlencoded or multipart)."""
	if not encode_multipart:
		headers["Content-Type"] = "application/x-www-form-urlencoded"
		return urlencode(fields)
	body, content_type = urllib3.encode_multipart_formdata(fields, boundary=boundary)
	headers["Content-Type"] = content_type
	return body


def _tenant_of(headers: Mapping[str, str]) -> str | None:
	"""The xero-tenant-id header value, whatever its case."""
	for name, value in headers.items():
		if name.lower() == "xero-tenant-id":
			return str(value)
	return None


def _seconds(value: Any) -> float | None:
	"""A usable number of seconds, or None for unset/sentinel values."""
	if isinstance(value, bool) or not isinstance(value, int | float):
		return None
	return value
