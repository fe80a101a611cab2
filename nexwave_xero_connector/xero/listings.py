"""The background read's document listing (sync.background.DocumentLister) over an SdkGateway.

With credit notes it is the gateway's own `modified_since` (two paged GETs). Without them it is the same
GET /Invoices alone: one call for an organisation with no credit note of ours in play.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..sync.model import XeroRecord
from .gateway import SdkGateway, invoice_record


class SdkDocumentLister:
	"""Invoices and bills changed since a time, and the credit notes only when asked."""

	def __init__(self, gateway: SdkGateway):
		self.gw = gateway

	def changed(
		self,
		tenant_id: str,
		since: datetime | None,
		statuses: Sequence[str],
		*,
		summary_only: bool,
		credit_notes: bool,
	) -> list[XeroRecord]:
		if credit_notes:
			return self.gw.modified_since(tenant_id, since, statuses, summary_only=summary_only)
		extra: dict = {"summary_only": True} if summary_only else {}
		if since is not None:
			extra["if_modified_since"] = since
		invoices = self.gw._paged(
			self.gw.api.get_invoices,
			"invoices",
			tenant_id,
			page_size=self.gw.scan_page_size,
			statuses=list(dict.fromkeys(statuses)),
			**extra,
		)
		return [r for r in map(invoice_record, invoices) if r]
