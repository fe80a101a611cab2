"""Each party's Xero contact for the documents of a claim: the cache, then ContactNumber, then name, then
create. Used by the invoice kind before mapping."""

from __future__ import annotations

from dataclasses import replace

from .. import keys
from ..config import PURCHASE_INVOICE
from ..errors import MappingError, XeroError
from ..model import ContactRecord, ContactRequest, ErrorClass
from .protocol import Context, Item

CONTACT_TAKEN_ERRORS = ("already assigned to another contact", "must be unique")


class ContactResolver:
	"""Finds or creates the Xero contacts of one claim's documents through the drain's context."""

	def __init__(self, ctx: Context):
		self.ctx = ctx

	def resolve(self, items: list[Item]) -> dict[tuple[str, str], str | Exception]:
		"""Resolve each party's Xero contact: the cache, then ContactNumber, then name, then create.

		A contact found by name is adopted only when it carries no other party's ContactNumber and the
		name is not shared by another party in ERPNext; otherwise the party gets its own contact under a
		distinct name, "Name (ID)". A whole-call refusal fails only the documents that needed contacts."""
		parties = {party_of(i.row.reference_doctype, i.doc) for i in items}
		resolved: dict[tuple[str, str], str | Exception] = {}
		for party in parties:
			cached = self.ctx.erp.contact_id(party[0], party[1], self.ctx.tenant_id)
			if cached:
				resolved[party] = cached
		missing = sorted(parties - set(resolved))
		if not missing or not self.ctx.held(items):
			return resolved
		try:
			found = self._find_or_create_contacts(missing)
		except XeroError as exc:
			if exc.is_retryable or exc.error_class == ErrorClass.CONNECTION:
				raise
			return resolved | {p: MappingError(f"{p[0]} {p[1]}: {exc.message}") for p in missing}
		for party in missing:
			resolved[party] = self._contact_result(party, found.get(party))
		return resolved

	def _find_or_create_contacts(self, missing: list[tuple[str, str]]) -> dict:
		by_number = {
			c.contact_number: c
			for c in self.ctx.call(
				self.ctx.gateway.find_contacts, self.ctx.tenant_id, [p[1] for p in missing]
			)
		}
		found: dict = {p: by_number[p[1]] for p in missing if p[1] in by_number}
		requests = {p: self.ctx.erp.contact_request(p[0], p[1]) for p in missing if p not in found}
		if not requests:
			return found
		names = sorted({n for r in requests.values() for n in (r.name, r.distinct_name)})
		by_name = {
			c.name.casefold(): c
			for c in self.ctx.call(self.ctx.gateway.find_contacts_by_name, self.ctx.tenant_id, names)
			if c.status == "ACTIVE"
		}
		to_create = {}
		for party, request in requests.items():
			plain = None if request.name_shared else by_name.get(request.name.casefold())
			if plain is not None and _adoptable(plain, request):
				found[party] = plain
				continue
			name = request.distinct_name if (request.name_shared or plain is not None) else request.name
			same = by_name.get(name.casefold())
			if same is not None and same.contact_number == request.party:
				found[party] = same
			else:
				to_create[party] = replace(request, name=name)
		if not to_create:
			return found
		results = self.ctx.call(
			self.ctx.gateway.create_contacts,
			self.ctx.tenant_id,
			list(to_create.values()),
			keys.contacts_key(self.ctx.tenant_id, [p[1] for p in to_create]),
		)
		created = dict(zip(to_create, results, strict=True))
		# Another drain created the same new party's contact a moment ago (its first documents sat in two
		# batches): Xero refuses ours by name or number; the one it has is found by ContactNumber.
		taken = [
			p for p, r in created.items() if isinstance(r, str) and any(s in r for s in CONTACT_TAKEN_ERRORS)
		]
		if taken:
			again = {
				c.contact_number: c
				for c in self.ctx.call(
					self.ctx.gateway.find_contacts, self.ctx.tenant_id, [p[1] for p in taken]
				)
			}
			created.update({p: again[p[1]] for p in taken if p[1] in again})
		return found | created

	def _contact_result(self, party, found) -> str | Exception:
		if isinstance(found, str) or found is None:
			return MappingError(
				f"Could not create the Xero contact for {party[0]} {party[1]}: {found or 'no answer'}. "
				"Fix the contact in Xero or the party in ERPNext, then press Retry."
			)
		if found.status != "ACTIVE":
			return MappingError(
				f"The Xero contact '{found.name}' for {party[0]} {party[1]} is archived. Restore it in Xero "
				"(Contacts, Archived), then press Retry."
			)
		self.ctx.erp.set_contact_id(party[0], party[1], self.ctx.tenant_id, found.contact_id)
		return found.contact_id


def party_of(doctype: str, doc: dict) -> tuple[str, str]:
	if doctype == PURCHASE_INVOICE:
		return ("Supplier", doc.get("supplier") or "")
	return ("Customer", doc.get("customer") or "")


def _adoptable(contact: ContactRecord, request: ContactRequest) -> bool:
	"""A contact found by name may be this party's: unnumbered (made by hand) or numbered with its ID."""
	return contact.contact_number == request.party or (not contact.contact_number and not request.name_shared)
