"""A real clock that tests can move forward (to expire leases and reach retry times)."""

from __future__ import annotations

from datetime import datetime, timedelta


class ShiftableClock:
	"""datetime.now() plus an offset the test controls; always moves forward."""

	def __init__(self):
		self.offset = timedelta(0)

	def __call__(self) -> datetime:
		return datetime.now() + self.offset

	def advance(self, seconds: float) -> None:
		self.offset += timedelta(seconds=seconds)

	def seconds(self) -> float:
		"""The offset in seconds (PyMySqlDb shifts the database session's clock by it)."""
		return self.offset.total_seconds()
