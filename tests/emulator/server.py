"""XeroEmulator: a threaded HTTP server speaking enough of Xero for the real xero-python SDK."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import documents
from .api import AccountingApi, ApiRequest, Reply, caller, json_reply, problem, text_reply
from .auth import TokenStore
from .contacts import create_contact
from .documents import CREDIT_NOTE, INVOICE
from .limits import FaultPlan, IdempotencyStore, RateLimiter, retry_after
from .state import Clock, Ctx, Tenant, Txn, make_tenant
from .wire import iso_datetime, plain

API_PREFIX = "/api.xro/2.0"
CONTROL_PREFIX = "/__emulator/"
# Xero refuses a request whose body is over 3.5 MB ("no limit to the number of elements ... provided the
# overall request size does not exceed 3.5 MB"), before reading it: HTTP 413, nothing saved.
MAX_REQUEST_BYTES = 3_500_000


def route(path: str) -> tuple[str | None, str, list[str]]:
	"""Classify a path: (area, endpoint template used for counters/faults, path parts)."""
	if path.startswith(API_PREFIX + "/"):
		parts = [unquote(p) for p in path[len(API_PREFIX) + 1 :].split("/") if p]
		template = "/".join(p if i % 2 == 0 else "{id}" for i, p in enumerate(parts))
		return "api", template, parts
	lowered = path.rstrip("/").lower()
	if lowered == "/connections":
		return "identity", "Connections", []
	if lowered.startswith("/connections/"):
		return "identity", "Connections/{id}", [unquote(path.rstrip("/").split("/")[-1])]
	if lowered == "/connect/token":
		return "token", "connect/token", []
	if lowered == "/connect/revocation":
		return "revoke", "connect/revocation", []
	if lowered == "/identity/connect/authorize":
		return "authorize", "identity/connect/authorize", []
	return None, path.strip("/"), []


class XeroEmulator:
	"""In-process Xero: Accounting API, identity connections, OAuth tokens, faults and rate limits."""

	def __init__(
		self,
		rate_limits: bool = False,
		time_scale: float = 1.0,
		strict_auth: bool = False,
		minute_seconds: float = 60.0,
	):
		self.clock = Clock(time_scale)
		self.time_scale = self.clock.time_scale
		self.rate_limits = rate_limits
		self.minute_seconds = minute_seconds  # the rate limit's minute (shorter in a time-scaled harness)
		self.strict_auth = strict_auth
		self._lock = threading.RLock()
		# interceptor(phase, method, endpoint, headers): called in the request's thread for every Accounting
		# API request, with phase "before" (nothing applied yet) and "after" (applied, reply not yet sent);
		# it may block. The chaos harness freezes the calling worker there.
		self.interceptor: Callable[[str, str, str, Any], None] | None = None
		self.base_latency: dict[tuple[str, str], float] = {}
		self._server: ThreadingHTTPServer | None = None
		self._thread: threading.Thread | None = None
		self.base_url = ""
		self.calls: Counter[tuple[str, str]] = Counter()
		self._tenant_calls: Counter[str] = Counter()
		self.too_large = 0  # requests refused with 413
		self.max_request_bytes = 0  # the largest Accounting API request body seen
		self._reset_state()

	def _reset_state(self) -> None:
		"""Forget tenants, tokens, faults, idempotency records and counters."""
		with self._lock:
			self.tenants: dict[str, Tenant] = {}
			self.tokens = TokenStore()
			self.limiter = RateLimiter(self.rate_limits, self.minute_seconds)
			self.faults = FaultPlan()
			self.idempotency = IdempotencyStore()
			self.api = AccountingApi(self.clock)
			self.reset_counters()

	# ---- lifecycle -----------------------------------------------------------------------------

	def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
		"""Start serving on a daemon thread; returns the base URL."""
		server = _Server((host, port), _Handler)
		server.emulator = self
		self._server = server
		self.base_url = f"http://{host}:{server.server_address[1]}"
		self._thread = threading.Thread(
			target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="xero-emulator", daemon=True
		)
		self._thread.start()
		return self.base_url

	def stop(self) -> None:
		"""Stop the server and close its socket."""
		if self._server is not None:
			self._server.shutdown()
			self._server.close_connections()
			self._server.server_close()
			self._server = None

	def __enter__(self) -> XeroEmulator:
		if self._server is None:
			self.start()
		return self

	def __exit__(self, *exc: object) -> None:
		self.stop()

	@property
	def api_url(self) -> str:
		"""AccountingApi base_url."""
		return self.base_url + API_PREFIX

	@property
	def identity_url(self) -> str:
		"""IdentityApi base_url."""
		return self.base_url

	@property
	def token_url(self) -> str:
		"""OAuth token endpoint."""
		return self.base_url + "/connect/token"

	@property
	def revoke_url(self) -> str:
		"""OAuth revocation endpoint."""
		return self.base_url + "/connect/revocation"

	@property
	def authorize_url(self) -> str:
		"""Browser authorize endpoint."""
		return self.base_url + "/identity/connect/authorize"

	def site_config(self) -> dict[str, str]:
		"""The site_config keys pointing the connector at this emulator."""
		return {
			"xero_api_url": self.api_url,
			"xero_identity_url": self.identity_url,
			"xero_token_url": self.token_url,
			"xero_revoke_url": self.revoke_url,
			"xero_authorize_url": self.authorize_url,
		}

	# ---- clock, counters -----------------------------------------------------------------------

	def now(self) -> float:
		"""Emulator time (epoch seconds)."""
		return self.clock.now()

	def advance(self, seconds: float) -> None:
		"""Move the emulator clock forward (token expiry, grace and idempotency windows, rate windows)."""
		self.clock.advance(seconds)

	@property
	def faults_injected(self) -> int:
		"""Faults applied so far (scripted and chaos)."""
		return self.faults.injected

	@property
	def token_calls(self) -> int:
		"""Requests to the token endpoint."""
		return self.tokens.calls

	def total_calls(self, tenant_id: str | None = None) -> int:
		"""All counted requests, or those carrying this tenant id."""
		with self._lock:
			return self._tenant_calls[tenant_id] if tenant_id else sum(self.calls.values())

	def reset_counters(self) -> None:
		"""Zero call, fault, rate-limit and token counters."""
		with self._lock:
			self.calls.clear()
			self.too_large = self.max_request_bytes = 0
			self._tenant_calls.clear()
			self.rate_limit_hits = 0
			self.rate_limited_at: list[tuple[float, str]] = []  # (time.monotonic(), problem) of real 429s
			self.faults.injected = 0
			self.faults.by_fault.clear()
			self.tokens.calls = 0

	def reset(self) -> None:
		"""Forget everything (tenants, documents, tokens, faults, counters)."""
		self._reset_state()

	# ---- seeding and inspection ----------------------------------------------------------------

	def add_tenant(self, tenant_id: str, **kwargs: Any) -> str:
		"""Create a seeded organisation (see state.make_tenant for keyword arguments)."""
		with self._lock:
			if tenant_id in self.tenants:
				raise ValueError(f"tenant {tenant_id!r} already exists")
			self.tenants[tenant_id] = make_tenant(tenant_id, self.clock.now(), **kwargs)
		return tenant_id

	def _tenant(self, tenant_id: str) -> Tenant:
		"""Look up a tenant or raise KeyError."""
		if tenant_id not in self.tenants:
			raise KeyError(f"unknown tenant {tenant_id!r}")
		return self.tenants[tenant_id]

	def _ctx(self, tenant_id: str) -> Ctx:
		"""A write context for direct (non-HTTP) changes."""
		return Ctx(self._tenant(tenant_id), Txn(), self.clock.now(), self.clock.today())

	def add_contact(
		self,
		tenant_id: str,
		name: str,
		contact_number: str | None = None,
		status: str = "ACTIVE",
		**fields: Any,
	) -> str:
		"""Seed a contact; extra keyword arguments are stored as Xero fields (e.g. EmailAddress=...)."""
		element = {"Name": name, "ContactStatus": status, **fields}
		if contact_number:
			element["ContactNumber"] = contact_number
		with self._lock:
			contact, errors = create_contact(self._ctx(tenant_id), element)
		if errors:
			raise ValueError("; ".join(errors))
		return contact["ContactID"]

	def ledger(self, tenant_id: str) -> list[dict]:
		"""Every invoice and credit note ever created in the tenant, oldest first, as plain dicts."""
		with self._lock:
			tenant = self._tenant(tenant_id)
			rows = [documents.ledger_row(tenant, INVOICE, d) for d in tenant.invoices.values()]
			rows += [documents.ledger_row(tenant, CREDIT_NOTE, d) for d in tenant.credit_notes.values()]
		return sorted(rows, key=lambda r: r["seq"])

	def manual_journals(self, tenant_id: str) -> list[dict]:
		"""Every manual journal ever created in the tenant, oldest first, as plain dicts (any status)."""
		from . import manual_journals

		with self._lock:
			journals = list(manual_journals.store(self._tenant(tenant_id)).values())
			return sorted((manual_journals.ledger_row(j) for j in journals), key=lambda r: r["seq"])

	def contacts(self, tenant_id: str) -> list[dict]:
		"""Every contact of the tenant as {contact_id, name, number, status}, oldest first."""
		with self._lock:
			contacts = sorted(self._tenant(tenant_id).contacts.values(), key=lambda c: c.get("_seq", 0))
			return [
				{
					"contact_id": c["ContactID"],
					"name": c.get("Name"),
					"number": c.get("ContactNumber"),
					"status": c.get("ContactStatus"),
				}
				for c in contacts
			]

	def live_documents(self, tenant_id: str, number: str | None = None) -> list[dict]:
		"""Ledger rows that are DRAFT/SUBMITTED/AUTHORISED/PAID, optionally with this number."""
		return [
			r
			for r in self.ledger(tenant_id)
			if r["status"] in documents.LIVE_STATUSES and (number is None or r["number"] == number)
		]

	def pay(
		self, tenant_id: str, invoice_id: str, amount: Decimal | str, date: Any = None, rate: Any = None
	) -> str:
		"""Record a payment against an AUTHORISED invoice (at `rate`, its CurrencyRate); returns the PaymentID."""
		with self._lock:
			ctx = self._ctx(tenant_id)
			rate = None if rate is None else Decimal(str(rate))
			return documents.record_payment(ctx, invoice_id, Decimal(str(amount)), date, rate)

	def payments_of(self, tenant_id: str, reference: str | None = None) -> list[dict]:
		"""The tenant's payments as GET /Payments renders them (deleted ones too), optionally by Reference."""
		from . import payments

		with self._lock:
			listed = payments.listed(self._tenant(tenant_id), None)
		return [p for p in listed if reference is None or p["Reference"] == reference]

	def reconcile_payment(self, tenant_id: str, payment_id: str) -> None:
		"""Mark a payment reconciled (matched to a bank statement line in Xero): it can no longer be deleted."""
		from . import payments

		with self._lock:
			payments.store(self._tenant(tenant_id))[payment_id]["IsReconciled"] = True

	def inject(
		self,
		fault: str,
		*,
		method: str | None = None,
		endpoint: str | None = None,
		tenant_id: str | None = None,
		times: int | None = 1,
	) -> None:
		"""Queue a fault for matching requests ("500", "503", "429", "latency:S", "drop_before_commit",
		"lost_after_commit", "late_commit:S": a create held S seconds, committed, then left unanswered)."""
		self.faults.add(fault, method, endpoint, tenant_id, times)

	def slow(self, method: str, endpoint: str, seconds: float) -> None:
		"""Make every such request take `seconds` longer before it is applied (real Xero is not instant)."""
		self.base_latency[(method.upper(), endpoint.strip("/"))] = float(seconds)

	def set_chaos(
		self,
		rate: float = 0.1,
		seed: int = 7,
		faults: Iterable[str] = ("500", "429", "latency:0.2", "drop_before_commit", "lost_after_commit"),
		reads: bool = False,
	) -> None:
		"""Random faults on Accounting API writes (and reads if reads=True); rate=0 turns it off."""
		self.faults.set_chaos(rate, seed, faults, reads)

	def issue_code(self, scope: str | None = None) -> str:
		"""An authorization code the token endpoint will accept once."""
		return self.tokens.issue_code(scope)

	def issue_tokens(self, scope: str | None = None) -> dict:
		"""A fresh token set, shaped like the token endpoint's response (scope is a space-separated string)."""
		return self.tokens.issue(self.clock.now(), scope)

	# ---- request handling ----------------------------------------------------------------------

	def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
		"""Process one HTTP request and return the reply (or a drop instruction)."""
		parts_url = urlsplit(raw_path)
		query = {k: v[0] for k, v in parse_qs(parts_url.query, keep_blank_values=True).items()}
		path = parts_url.path
		if path.startswith(CONTROL_PREFIX):
			return self._control(method, path[len(CONTROL_PREFIX) :].strip("/"), query, body)
		area, endpoint, parts = route(path)
		if area is None and path == "/" and method == "GET":
			return text_reply(200, "Xero emulator")
		tenant_id = headers.get("xero-tenant-id") if area == "api" else None
		with self._lock:
			self.calls[(method, endpoint)] += 1
			if tenant_id:
				self._tenant_calls[tenant_id] += 1
			if area == "api":
				self.max_request_bytes = max(self.max_request_bytes, len(body))
		if area == "api" and len(body) > MAX_REQUEST_BYTES:
			with self._lock:
				self.too_large += 1
			return text_reply(413, "Request Entity Too Large")
		fault = self.faults.pick(method, endpoint, tenant_id, chaos_eligible=area == "api")
		early = self._early_fault(fault)
		if early is not None:
			return early
		intercept = self.interceptor if area == "api" else None
		if intercept:
			intercept("before", method, endpoint, headers)
		timed = fault and fault.startswith(("latency:", "late_commit:"))
		latency = float(fault.split(":", 1)[1]) if timed else 0.0
		latency += self.base_latency.get((method, endpoint), 0.0)
		try:
			if area == "api":
				reply = self._api(method, path, parts, query, headers, body, tenant_id, latency)
			else:
				if latency:
					time.sleep(latency)
				reply = self._other(area, method, parts, query, headers, body)
		except Exception:
			reply = json_reply(
				500, {"Title": "Emulator error", "Status": 500, "Detail": traceback.format_exc()}
			)
		if fault == "lost_after_commit" or (fault and fault.startswith("late_commit:")):
			return Reply(0, drop=True)
		if intercept and reply.status < 300:
			intercept("after", method, endpoint, headers)
		return reply

	def _early_fault(self, fault: str | None) -> Reply | None:
		"""Faults that pre-empt processing entirely (nothing is applied)."""
		if fault == "500":
			return json_reply(500, {"Title": "An error occurred", "Status": 500, "Detail": "Injected fault"})
		if fault == "503":
			return text_reply(503, "Service Unavailable")
		if fault == "413":  # as if the body were over the size cap, whatever its size
			with self._lock:
				self.too_large += 1
			return text_reply(413, "Request Entity Too Large")
		if fault == "429":
			reply = json_reply(
				429, {"Title": "Too Many Requests", "Status": 429, "Detail": "Injected rate limit"}
			)
			reply.headers.update({"Retry-After": "1", "X-Rate-Limit-Problem": "minute"})
			return reply
		if fault == "drop_before_commit":
			return Reply(0, drop=True)
		return None

	def _check_auth(self, headers: Any) -> Reply | None:
		"""401 unless a bearer token is present (and, in strict mode, issued here and unexpired)."""
		token = _bearer(headers)
		if not token:
			return problem(401, "Unauthorized", "AuthenticationUnsuccessful")
		if self.strict_auth and caller(token) is not None:  # a person works in Xero's own screens
			detail = self.tokens.check_access(self.clock.now(), token)
			if detail:
				return problem(401, "Unauthorized", detail)
		return None

	def _api(
		self,
		method: str,
		path: str,
		parts: list[str],
		query: dict[str, str],
		headers: Any,
		body: bytes,
		tenant_id: str | None,
		latency: float,
	) -> Reply:
		"""Accounting API: auth → tenant → rate limit → idempotency → (latency) → processing."""
		denied = self._check_auth(headers)
		if denied:
			return denied
		with self._lock:
			tenant = self.tenants.get(tenant_id or "")
		if tenant is None or not tenant.connected:
			return problem(403, "Forbidden", "AuthenticationUnsuccessful")
		limited = self.limiter.admit(tenant.tenant_id, tenant.day_limit, self.clock.now())
		if limited:
			return self._rate_limited(tenant, *limited)
		try:
			request = ApiRequest(method, parts, query, headers, body, tenant, app=caller(_bearer(headers)))
			key = headers.get("Idempotency-Key") if method in ("PUT", "POST", "PATCH") else None
			if key:
				reply = self._idempotent(
					key, self._fingerprint(method, path, query, tenant.tenant_id, body), request, latency
				)
			else:
				reply = self._process(request, latency)
		finally:
			self.limiter.release(tenant.tenant_id)
		reply.headers.update(self.limiter.headers(tenant.tenant_id, tenant.day_limit, self.clock.now()))
		return reply

	def _rate_limited(self, tenant: Tenant, problem_name: str, wait: float) -> Reply:
		"""A real (not injected) 429."""
		with self._lock:
			self.rate_limit_hits += 1
			self.rate_limited_at.append((time.monotonic(), problem_name))
		reply = json_reply(
			429,
			{"Title": "Too Many Requests", "Status": 429, "Detail": f"Rate limit exceeded: {problem_name}"},
		)
		reply.headers["Retry-After"] = retry_after(wait, self.time_scale)
		reply.headers["X-Rate-Limit-Problem"] = problem_name
		reply.headers.update(self.limiter.headers(tenant.tenant_id, tenant.day_limit, self.clock.now()))
		return reply

	@staticmethod
	def _fingerprint(method: str, path: str, query: dict[str, str], tenant_id: str, body: bytes) -> str:
		"""Identify "the same request" for idempotency purposes."""
		digest = hashlib.sha256()
		digest.update(f"{method} {path}?{urlencode(sorted(query.items()))} {tenant_id}\n".encode())
		digest.update(body)
		return digest.hexdigest()

	def _idempotent(self, key: str, fingerprint: str, request: ApiRequest, latency: float) -> Reply:
		"""Process once per key; replays (even concurrent ones) get the stored reply."""
		if len(key) > 128:
			return problem(400, "Idempotency Key too long", "Idempotency Key must be at most 128 characters")
		while True:
			outcome, entry = self.idempotency.begin(key, fingerprint, self.clock.now())
			if outcome == "mismatch":
				reply = problem(
					400, "Idempotency Key reused", f"Idempotency Key {key} is used with a different request"
				)
				return reply
			if outcome == "replay":
				entry.done.wait(timeout=300)
				if entry.reply is None:
					continue
				stored: Reply = entry.reply
				return Reply(stored.status, stored.body, stored.content_type, dict(stored.headers))
			try:
				reply = self._process(request, latency)
			except BaseException:
				self.idempotency.abandon(key, entry)
				raise
			self.idempotency.finish(
				entry, Reply(reply.status, reply.body, reply.content_type, dict(reply.headers))
			)
			return reply

	def _process(self, request: ApiRequest, latency: float) -> Reply:
		"""Run the Accounting API handler under the state lock (after any injected latency)."""
		if latency:
			time.sleep(latency)
		with self._lock:
			if self.tenants.get(request.tenant.tenant_id) is not request.tenant:
				return problem(403, "Forbidden", "AuthenticationUnsuccessful")
			return self.api.handle(request)

	def _other(
		self,
		area: str | None,
		method: str,
		parts: list[str],
		query: dict[str, str],
		headers: Any,
		body: bytes,
	) -> Reply:
		"""Identity, token, revocation and authorize endpoints."""
		if area == "token" and method == "POST":
			form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
			status, payload = self.tokens.exchange(self.clock.now(), form)
			if status == 200 and form.get("grant_type") == "authorization_code":
				with self._lock:
					for tenant in self.tenants.values():
						tenant.connected = True
			return Reply(status, json.dumps(payload).encode(), headers={"Cache-Control": "no-store"})
		if area == "revoke" and method == "POST":
			form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
			self.tokens.revoke(form.get("token", ""))
			return Reply(200, b"", content_type="text/plain")
		if area == "authorize" and method == "GET":
			return self._authorize(query)
		if area == "identity":
			denied = self._check_auth(headers)
			return denied or self._connections(method, parts, query)
		return text_reply(404, "The resource you're looking for cannot be found")

	def _authorize(self, query: dict[str, str]) -> Reply:
		"""Browser consent: immediately redirect back with a code (or return it as JSON)."""
		code = self.tokens.issue_code(query.get("scope"))
		redirect = query.get("redirect_uri")
		if not redirect:
			return json_reply(200, {"code": code, "state": query.get("state")})
		params = {"code": code, "scope": query.get("scope", ""), "state": query.get("state", "")}
		location = redirect + ("&" if "?" in redirect else "?") + urlencode(params)
		return Reply(302, b"", content_type="text/plain", headers={"Location": location})

	def _connections(self, method: str, parts: list[str], query: dict[str, str]) -> Reply:
		"""GET /Connections and DELETE /Connections/{id}."""
		with self._lock:
			if method == "GET" and not parts:
				rows = [
					{
						"id": t.connection_id,
						"authEventId": t.auth_event_id,
						"tenantId": t.tenant_id,
						"tenantType": "ORGANISATION",
						"tenantName": t.name,
						"createdDateUtc": iso_datetime(t.created_at),
						"updatedDateUtc": iso_datetime(t.created_at),
					}
					for t in self.tenants.values()
					if t.connected
					and (not query.get("authEventId") or query["authEventId"] == t.auth_event_id)
				]
				return Reply(200, json.dumps(rows).encode())
			if method == "DELETE" and parts:
				for tenant in self.tenants.values():
					if tenant.connection_id == parts[0] and tenant.connected:
						tenant.connected = False
						return Reply(204, b"", content_type="text/plain")
		return text_reply(404, "The resource you're looking for cannot be found")

	# ---- control endpoints ---------------------------------------------------------------------

	def unpay(self, tenant_id: str, payment_id: str) -> None:
		"""Delete a payment as POST /Payments/{id} {"Status": "DELETED"} would."""
		from .payments import delete_payment

		with self._lock:
			_payment, errors = delete_payment(self._ctx(tenant_id), payment_id, {"Status": "DELETED"})
		if errors or _payment is None:
			raise ValueError("; ".join(errors) or f"payment {payment_id} not found")

	def refund(self, tenant_id: str, credit_note_id: str, amount: Decimal | str) -> str:
		"""Refund part of an AUTHORISED credit note from the bank account; returns the PaymentID."""
		from .payments import create_payment

		with self._lock:
			ctx = self._ctx(tenant_id)
			bank = next(a for a in ctx.tenant.accounts.values() if a["Type"] == "BANK")
			element = {
				"CreditNote": {"CreditNoteID": credit_note_id},
				"Account": {"Code": bank["Code"]},
				"Amount": Decimal(str(amount)),
			}
			payment, errors = create_payment(ctx, element)
		if errors:
			raise ValueError("; ".join(errors))
		return payment["PaymentID"]

	def webhook_delivery(
		self, tenant_id: str, key: str, after: int = 0, *, tamper: bool = False
	) -> tuple[bytes, dict[str, str], int]:
		"""A signed webhook delivery of the tenant's events after sequence `after` (see webhooks.delivery)."""
		from .webhooks import delivery

		with self._lock:
			return delivery(self._tenant(tenant_id), key, after, tamper=tamper)

	def _control(self, method: str, name: str, query: dict[str, str], body: bytes) -> Reply:
		"""/__emulator/* endpoints for other processes (same semantics as the Python methods)."""
		try:
			data = json.loads(body.decode("utf-8")) if body else {}
			return self._control_dispatch(method, name, query, data)
		except (ValueError, TypeError, KeyError) as exc:
			return Reply(400, json.dumps({"error": str(exc)}).encode())

	def _control_dispatch(self, method: str, name: str, query: dict[str, str], data: dict) -> Reply:
		"""Dispatch a parsed control request."""

		def ok(payload: Any, status: int = 200) -> Reply:
			return Reply(status, json.dumps(plain(payload)).encode())

		if method == "GET" and name == "health":
			return ok({"ok": True})
		if method == "POST" and name == "tenants":
			return ok({"tenant_id": self.add_tenant(data.pop("tenant_id"), **data)}, 201)
		if method == "POST" and name == "contacts":
			return ok({"contact_id": self.add_contact(data.pop("tenant_id"), data.pop("name"), **data)}, 201)
		if method == "POST" and name == "faults":
			self.inject(data.pop("fault"), **data)
			return ok({"ok": True})
		if method == "POST" and name == "chaos":
			self.set_chaos(**data)
			return ok({"ok": True})
		if method == "GET" and name == "ledger":
			return ok(self.ledger(query["tenant_id"]))
		if method == "GET" and name == "live_documents":
			return ok(self.live_documents(query["tenant_id"], query.get("number")))
		if method == "GET" and name == "calls":
			with self._lock:
				calls = {f"{m} {e}": n for (m, e), n in self.calls.items()}
			return ok(
				{
					"calls": calls,
					"total": sum(calls.values()),
					"faults": self.faults_injected,
					"rate_limit_hits": self.rate_limit_hits,
					"token_calls": self.token_calls,
				}
			)
		if method == "POST" and name == "reset":
			self.reset()
			return ok({"ok": True})
		if method == "POST" and name == "reset_counters":
			self.reset_counters()
			return ok({"ok": True})
		if method == "POST" and name == "pay":
			payment_id = self.pay(data["tenant_id"], data["invoice_id"], data["amount"], data.get("date"))
			return ok({"payment_id": payment_id})
		if method == "POST" and name == "unpay":
			self.unpay(data["tenant_id"], data["payment_id"])
			return ok({"ok": True})
		if method == "POST" and name == "tokens":
			return ok(self.issue_tokens(data.get("scope")))
		if method == "POST" and name == "clock":
			self.advance(float(data.get("advance", 0)))
			return ok({"now": self.now()})
		return Reply(404, json.dumps({"error": f"unknown control endpoint {method} {name}"}).encode())


class _Server(ThreadingHTTPServer):
	"""Threaded server; worker threads never block interpreter exit."""

	daemon_threads = True
	allow_reuse_address = True
	request_queue_size = 128
	emulator: XeroEmulator

	def __init__(self, *args: Any, **kwargs: Any):
		super().__init__(*args, **kwargs)
		self._open: set[socket.socket] = set()
		self._open_lock = threading.Lock()

	def process_request(self, request: Any, client_address: Any) -> None:
		"""Remember the connection so stop() can cut keep-alive clients off."""
		with self._open_lock:
			self._open.add(request)
		super().process_request(request, client_address)

	def shutdown_request(self, request: Any) -> None:
		"""Forget a finished connection."""
		with self._open_lock:
			self._open.discard(request)
		super().shutdown_request(request)

	def close_connections(self) -> None:
		"""Shut down every open connection (idle keep-alive threads would otherwise keep serving)."""
		with self._open_lock:
			sockets = list(self._open)
		for sock in sockets:
			try:
				sock.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass


class _Handler(BaseHTTPRequestHandler):
	"""Reads a request fully, lets the emulator answer, then writes the reply or drops the socket."""

	protocol_version = "HTTP/1.1"
	timeout = 300  # reap idle keep-alive connections eventually
	disable_nagle_algorithm = True  # small header+body writes would otherwise stall on delayed ACKs
	server: _Server

	def log_message(self, format: str, *args: Any) -> None:
		"""Stay quiet: tests make thousands of requests."""

	def _body(self) -> bytes:
		"""Read the request body (Content-Length or chunked)."""
		if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
			chunks = []
			while True:
				size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
				if size == 0:
					self.rfile.readline()
					return b"".join(chunks)
				chunks.append(self.rfile.read(size))
				self.rfile.readline()
		length = int(self.headers.get("Content-Length") or 0)
		return self.rfile.read(length) if length else b""

	def _serve(self) -> None:
		"""Common handler for every method."""
		body = self._body()
		reply = self.server.emulator.handle(self.command, self.path, self.headers, body)
		if reply.drop:
			self.close_connection = True
			return
		self.send_response(reply.status)
		headers = {"Content-Type": reply.content_type, **reply.headers}
		for name, value in headers.items():
			self.send_header(name, value)
		self.send_header("Content-Length", str(len(reply.body)))
		self.end_headers()
		if reply.body and self.command != "HEAD":
			self.wfile.write(reply.body)

	do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


def _bearer(headers: Any) -> str:
	header = headers.get("Authorization") or ""
	return header[7:].strip() if header[:7].lower() == "bearer " else ""
