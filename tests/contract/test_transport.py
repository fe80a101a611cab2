"""The requests-based transport under the real SDK: no hidden retries, timeouts, hooks, hosts, tokens."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import urllib3
from xero_python.api_client import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.xero.client import build_accounting_api, build_identity_api, normalise_token
from nexwave_xero_connector.xero.gateway import SdkGateway
from nexwave_xero_connector.xero.hosts import XeroHosts
from nexwave_xero_connector.xero.transport import RequestsPoolManager, resolve_timeout

from .conftest import ACCESS, API, TENANT, token

BODY = {"Contact": {"ContactID": "c1"}, "InvoiceNumber": "B-1", "LineItems": [{"Description": "x"}]}


class RawServer:
	"""A local TCP server that reads each HTTP request, counts it, then stalls or hangs up."""

	def __init__(self, behaviour: str):
		self.behaviour = behaviour
		self.requests = 0
		self._stop = threading.Event()
		self._sock = socket.create_server(("127.0.0.1", 0))
		self._sock.settimeout(0.05)
		self.port = self._sock.getsockname()[1]
		self._thread = threading.Thread(target=self._serve, daemon=True)

	def __enter__(self) -> RawServer:
		self._thread.start()
		return self

	def __exit__(self, *exc: object) -> None:
		self._stop.set()
		self._thread.join(2)
		self._sock.close()

	def _serve(self) -> None:
		while not self._stop.is_set():
			try:
				conn, _ = self._sock.accept()
			except TimeoutError:
				continue
			with conn:
				self._read_request(conn)
				self.requests += 1
				if self.behaviour == "stall":
					self._stop.wait(2)

	@staticmethod
	def _read_request(conn: socket.socket) -> None:
		data = b""
		while b"\r\n\r\n" not in data:
			data += conn.recv(65536)
		head, _, body = data.partition(b"\r\n\r\n")
		length = next(
			(
				int(line.split(b":")[1])
				for line in head.split(b"\r\n")
				if line.lower().startswith(b"content-length")
			),
			0,
		)
		while len(body) < length:
			body += conn.recv(65536)


def local_gateway(port: int) -> SdkGateway:
	hosts = XeroHosts(api_url=f"http://127.0.0.1:{port}/api.xro/2.0")
	api = build_accounting_api(hosts, token_getter=token, token_saver=lambda t: None, timeout=(1, 0.2))
	return SdkGateway(api)


def test_read_timeout_on_put_is_sent_exactly_once_and_may_have_committed():
	with RawServer("stall") as server:
		started = time.monotonic()
		with pytest.raises(XeroError) as caught:
			local_gateway(server.port).create_documents(TENANT, Kind.BILL, [BODY], "key-1")
		assert time.monotonic() - started < 1.5  # the 0.2 s read timeout applied, no retries
		assert server.requests == 1
	assert caught.value.error_class is ErrorClass.TRANSIENT and caught.value.may_have_committed


def test_dropped_connection_after_sending_is_not_retried_and_may_have_committed():
	with RawServer("hangup") as server:
		with pytest.raises(XeroError) as caught:
			local_gateway(server.port).create_documents(TENANT, Kind.BILL, [BODY], "key-2")
		time.sleep(0.05)
		assert server.requests == 1
	assert caught.value.may_have_committed and caught.value.error_class is ErrorClass.TRANSIENT


def test_a_create_past_its_send_by_moment_never_leaves():
	"""A worker frozen between its send gate and the socket wakes past its send-by moment: the request is
	dropped before any byte leaves, and the error says nothing was sent (so the marker can be cleared)."""
	with RawServer("stall") as server:
		with pytest.raises(XeroError) as caught:
			local_gateway(server.port).create_documents(
				TENANT, Kind.BILL, [BODY], "key-late", send_by=time.monotonic() - 0.001
			)
		time.sleep(0.05)
		assert server.requests == 0
	assert not caught.value.may_have_committed


def test_a_create_within_its_send_by_moment_is_sent():
	with RawServer("stall") as server:
		with pytest.raises(XeroError):
			local_gateway(server.port).create_documents(
				TENANT, Kind.BILL, [BODY], "key-in-time", send_by=time.monotonic() + 30
			)
		assert server.requests == 1


def test_refused_connection_was_never_sent():
	probe = socket.create_server(("127.0.0.1", 0))
	port = probe.getsockname()[1]
	probe.close()
	with pytest.raises(XeroError) as caught:
		local_gateway(port).create_documents(TENANT, Kind.BILL, [BODY], "key-3")
	assert caught.value.error_class is ErrorClass.TRANSIENT and not caught.value.may_have_committed
	assert ACCESS not in caught.value.detail and caught.value.__context__ is None


@pytest.mark.parametrize(
	("requested", "expected"),
	[
		(None, (5, 30)),  # caller forgot: ours applies
		((2, 7), (2, 7)),
		(9, (9, 9)),
		(30.0, (5, 30)),  # the SDK silently drops float timeouts; ours still applies
	],
)
def test_every_request_gets_a_connect_and_read_timeout(rs, api, requested, expected):
	rs.get(f"{API}/Invoices", json={"Invoices": []})
	api.get_invoices(TENANT, _request_timeout=requested)
	assert rs.calls[0].request.req_kwargs["timeout"] == expected


def test_resolve_timeout_reads_urllib3_timeouts():
	assert resolve_timeout(urllib3.Timeout(connect=3, read=11), (5, 30)) == (3, 11)
	assert resolve_timeout(urllib3.Timeout(total=4), (5, 30)) == (4, 4)
	assert resolve_timeout(urllib3.Timeout(connect=2), (5, 30)) == (2, 30)


def test_hooks_see_tenant_method_url_status_and_rate_headers(rs):
	before, after = [], []
	api = build_accounting_api(
		XeroHosts(),
		token_getter=token,
		token_saver=lambda t: None,
		before_request=lambda *a: before.append(a),
		on_response=lambda tenant, status, headers: after.append((tenant, status, dict(headers))),
	)
	rs.get(f"{API}/Invoices", json={"Invoices": []}, headers={"X-MinLimit-Remaining": "59"})
	rs.get(f"{API}/Invoices", status=429, headers={"Retry-After": "12", "X-Rate-Limit-Problem": "minute"})
	gateway = SdkGateway(api)
	gateway.find_documents(TENANT, Kind.BILL, ["B-1"])
	with pytest.raises(XeroError):
		gateway.find_documents(TENANT, Kind.BILL, ["B-2"])
	assert before[0][:2] == (TENANT, "GET") and before[0][2].startswith(f"{API}/Invoices?")
	assert [(a[0], a[1]) for a in after] == [(TENANT, 200), (TENANT, 429)]
	assert after[0][2]["X-MinLimit-Remaining"] == "59" and after[1][2]["Retry-After"] == "12"


def test_a_failing_response_hook_does_not_lose_a_committed_answer(rs):
	def broken(*_args: object) -> None:
		raise RuntimeError("governor bug")

	api = build_accounting_api(
		XeroHosts(), token_getter=token, token_saver=lambda t: None, on_response=broken
	)
	rs.put(f"{API}/Invoices", json={"Invoices": [{"InvoiceID": "i-1", "Type": "ACCPAY", "Status": "DRAFT"}]})
	[result] = SdkGateway(api).create_documents(TENANT, Kind.BILL, [BODY], "k")
	assert result.ok


def test_before_request_can_hold_a_request_back(rs):
	def refuse(*_args: object) -> None:
		raise XeroError("budget spent", error_class=ErrorClass.RATE_LIMITED, retry_after=30)

	api = build_accounting_api(
		XeroHosts(), token_getter=token, token_saver=lambda t: None, before_request=refuse
	)
	with pytest.raises(XeroError) as caught:
		SdkGateway(api).create_documents(TENANT, Kind.BILL, [BODY], "k")
	assert caught.value.error_class is ErrorClass.RATE_LIMITED and len(rs.calls) == 0


def test_refresh_goes_to_configured_token_url_and_saves_seven_keys(rs):
	saved = []
	hosts = XeroHosts(api_url="https://emu.test/api.xro/2.0", token_url="https://emu.test/connect/token")
	expired = token(expires_at=time.time() - 5)
	api = build_accounting_api(
		hosts,
		token_getter=lambda: expired,
		token_saver=saved.append,
		client_id="cid",
		client_secret="csecret",
	)
	answer = {
		"access_token": "new-access",
		"refresh_token": "refresh-2",
		"expires_in": 1800,
		"token_type": "Bearer",
		"scope": "offline_access accounting.transactions",
		"id_token": "idt",
		"extra_key": "would break update_token",
	}
	rs.post("https://emu.test/connect/token", json=answer)
	rs.get("https://emu.test/api.xro/2.0/Invoices", json={"Invoices": []})
	api.get_invoices(TENANT)

	assert rs.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
	form = parse_qs(rs.calls[0].request.body.decode())
	assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-secret-1"]
	assert form["scope"] == ["offline_access accounting.transactions"]
	assert rs.calls[0].request.req_kwargs["timeout"] == (5, 30)
	assert rs.calls[1].request.headers["Authorization"] == "Bearer new-access"
	[stored] = saved
	assert set(stored) == {
		"access_token",
		"refresh_token",
		"scope",
		"expires_in",
		"expires_at",
		"token_type",
		"id_token",
	}
	assert (
		stored["scope"] == ["offline_access", "accounting.transactions"]
		and stored["expires_at"] > time.time()
	)
	assert TokenApi.refresh_token_url == "https://identity.xero.com/connect/token"  # no process-wide change


def test_clients_built_with_different_tokens_do_not_share_one(rs):
	Configuration.set_default(None)
	poisoned = Configuration()
	poisoned.oauth2_token = OAuth2Token(client_id="someone-else")
	Configuration.set_default(poisoned)  # what a first Configuration(oauth2_token=...) elsewhere leaves
	try:
		one = build_accounting_api(
			XeroHosts(), token_getter=lambda: token(access_token="tok-one"), token_saver=print
		)
		two = build_accounting_api(
			XeroHosts(), token_getter=lambda: token(access_token="tok-two"), token_saver=print
		)
	finally:
		Configuration.set_default(None)
	rs.get(f"{API}/Invoices", json={"Invoices": []})
	one.get_invoices(TENANT)
	two.get_invoices(TENANT)
	assert [c.request.headers["Authorization"] for c in rs.calls] == ["Bearer tok-one", "Bearer tok-two"]
	tokens = {id(one.api_client.configuration.oauth2_token), id(two.api_client.configuration.oauth2_token)}
	assert len(tokens) == 2 and id(poisoned.oauth2_token) not in tokens
	assert isinstance(one.api_client.rest_client.pool_manager, RequestsPoolManager)


def test_identity_api_uses_identity_host(rs):
	identity = build_identity_api(
		XeroHosts(identity_url="https://emu.test"), token_getter=token, token_saver=print
	)
	rs.get(
		"https://emu.test/Connections", json=[{"id": "c", "tenantId": TENANT, "tenantType": "ORGANISATION"}]
	)
	[connection] = identity.get_connections()
	assert connection.tenant_id == TENANT and "xero-tenant-id" not in rs.calls[0].request.headers


def test_hosts_from_site_config():
	hosts = XeroHosts.from_site_config(
		{"xero_api_url": "http://127.0.0.1:8080/api.xro/2.0/", "xero_token_url": " ", "other": 1}
	)
	assert hosts.api_url == "http://127.0.0.1:8080/api.xro/2.0"
	assert hosts.token_url == "https://identity.xero.com/connect/token"
	assert XeroHosts.from_site_config({}) == XeroHosts()


def test_normalise_token_keeps_seven_keys_and_lists_scope():
	fixed = normalise_token(
		{"access_token": "a", "scope": "offline_access openid", "expires_in": Decimal(1), "x": 1}
	)
	assert (
		fixed["scope"] == ["offline_access", "openid"]
		and "x" not in fixed
		and fixed["token_type"] == "Bearer"
	)
	assert len(fixed) == 7
