"""The rate governor on a time scale of its own, for benchmarks and the chaos run."""

from __future__ import annotations

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.xero.governor import RateGovernor, hooks


class ScaledGovernorHooks:
	"""The governor runs on a faster clock (the emulator's, or one whose minute is as short as the chaos
	run's); the journal and the sleeps run on real time.

	So a retry_after the governor raises (emulator seconds) is turned into real seconds for the engine's
	next_attempt_at, and the emulator's Retry-After (real seconds) into emulator seconds for the governor.
	"""

	def __init__(self, governor: RateGovernor, time_scale: float):
		self.time_scale = time_scale
		self._before, self._after = hooks(governor)

	def before_request(self, tenant_id, method, url):
		try:
			self._before(tenant_id, method, url)
		except XeroError as exc:
			if exc.retry_after is not None:
				exc.retry_after = exc.retry_after / self.time_scale
			raise

	def on_response(self, tenant_id, status, headers):
		headers = dict(headers)
		for name in list(headers):
			if name.lower() == "retry-after":
				headers[name] = str(float(headers[name]) * self.time_scale)
		hold = self._after(tenant_id, status, headers)
		return None if hold is None else hold / self.time_scale
