"""Contacts in Xero (GET /Contacts by number or name, PUT /Contacts), over the shared SDK plumbing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sync.model import ContactRecord, ContactRequest
from .plumbing import NO_ID, SdkCalls, any_of, count_mismatch, messages


class SdkContacts:
	"""The contact half of sync.ports.XeroGateway."""

	def __init__(self, sdk: SdkCalls):
		self.sdk = sdk

	def find_contacts(self, tenant_id: str, contact_numbers: Sequence[str]) -> list[ContactRecord]:
		"""Contacts whose ContactNumber is one of `contact_numbers`, archived included."""
		wanted = list(dict.fromkeys(n for n in contact_numbers if n))
		found = self._find_contacts_where(tenant_id, "ContactNumber", wanted)
		keep = set(wanted)
		return [c for c in found if c.contact_number in keep]

	def find_contacts_by_name(self, tenant_id: str, names: Sequence[str]) -> list[ContactRecord]:
		"""Contacts whose Name is one of `names` (Xero compares names without case), archived included."""
		wanted = list(dict.fromkeys(n for n in names if n))
		found = self._find_contacts_where(tenant_id, "Name", wanted)
		keep = {n.casefold() for n in wanted}
		return [c for c in found if c.name.casefold() in keep]

	def _find_contacts_where(self, tenant_id: str, field: str, values: list[str]) -> list[ContactRecord]:
		"""OR-chained where lookups on one Contacts field, batched and paged."""
		found: dict[str, ContactRecord] = {}

		def query(chunk: list[str]) -> list[tuple[str, Any]]:
			return [
				("where", any_of(field, chunk)),
				("page", 1),
				("includeArchived", True),
				*self.sdk.paging(1)[1:],
			]

		for chunk in self.sdk.chunks(values, query, "/Contacts"):
			for contact in self.sdk.paged(
				self.sdk.api.get_contacts,
				"contacts",
				tenant_id,
				where=any_of(field, chunk),
				include_archived=True,
			):
				record = contact_record(contact)
				if record:
					found.setdefault(record.contact_id, record)
		return list(found.values())

	def create_contacts(
		self, tenant_id: str, contacts: Sequence[ContactRequest], idempotency_key: str
	) -> list[ContactRecord | str]:
		"""PUT the contacts in one request; each result is the record or Xero's message(s)."""
		if not contacts:
			return []
		elements = [_contact_body(c) for c in contacts]
		label = ", ".join(c.party for c in contacts[:5])
		answer = self.sdk.call(
			self.sdk.api.create_contacts,
			tenant_id,
			self.sdk.wrap("Contacts", "Contact", elements, label),
			summarize_errors=False,
			idempotency_key=idempotency_key,
			document=label,
		)
		found = answer.contacts or []
		if len(found) != len(contacts):
			raise count_mismatch(len(found), len(contacts))
		return [_contact_result(c) for c in found]

	# --- plumbing -------------------------------------------------------------------------------------


def contact_record(contact: Any) -> ContactRecord | None:
	"""A Contact as a ContactRecord, or None without a real ID."""
	if not contact.contact_id or contact.contact_id == NO_ID:
		return None
	return ContactRecord(
		contact_id=contact.contact_id,
		name=contact.name or "",
		contact_number=contact.contact_number,
		status=contact.contact_status or "ACTIVE",
	)


def _contact_result(contact: Any) -> ContactRecord | str:
	"""A created contact, or its error messages joined."""
	errors = messages(contact.validation_errors)
	failed = contact.status_attribute_string == "ERROR" or contact.has_validation_errors
	if errors or failed:
		return "; ".join(errors) or "Xero reported an error for this contact without a message."
	return contact_record(contact) or "Xero returned no ID for this contact."


def _contact_body(request: ContactRequest) -> dict[str, Any]:
	"""The Contact JSON for a party: ContactNumber is the ERP party ID."""
	body = {
		"Name": request.name,
		"ContactNumber": request.party,
		"EmailAddress": request.email,
		"TaxNumber": request.tax_number,
	}
	return {k: v for k, v in body.items() if v}
