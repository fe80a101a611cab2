"""Contacts: validation, create/update rules, and rendering."""

from __future__ import annotations

from .state import Ctx, Tenant, new_id
from .wire import ms_datetime

CONTACT_STATUSES = ("ACTIVE", "ARCHIVED", "GDPRREQUEST")
# Keys Xero computes itself; anything else a client sends is stored and echoed back.
_COMPUTED = {
	"ContactID",
	"HasAttachments",
	"HasValidationErrors",
	"ValidationErrors",
	"StatusAttributeString",
	"UpdatedDateUTC",
	"Warnings",
}


def find_contact(tenant: Tenant, ref: str | None) -> dict | None:
	"""Find a contact by ContactID (case-insensitive) or ContactNumber."""
	if not ref:
		return None
	ref = str(ref).strip()
	found = tenant.contacts.get(ref) or tenant.contacts.get(ref.lower())
	if found:
		return found
	lowered = ref.lower()
	for contact in tenant.contacts.values():
		if contact["ContactID"].lower() == lowered:
			return contact
	return find_by_number(tenant, ref)


def find_by_number(tenant: Tenant, number: str) -> dict | None:
	"""Find a contact by exact ContactNumber."""
	for contact in tenant.contacts.values():
		if number and contact.get("ContactNumber") == number:
			return contact
	return None


def find_active_by_name(tenant: Tenant, name: str) -> dict | None:
	"""Find the ACTIVE contact with this name (Xero compares names case-insensitively)."""
	key = name.strip().casefold()
	for contact in tenant.contacts.values():
		if contact["ContactStatus"] == "ACTIVE" and contact["Name"].strip().casefold() == key:
			return contact
	return None


def _check(tenant: Tenant, contact: dict) -> list[str]:
	"""Validate a would-be stored contact against the uniqueness rules."""
	errors = []
	name = str(contact.get("Name") or "").strip()
	if not name:
		errors.append("The contact name must be specified.")
	if len(name) > 255:
		errors.append("The contact name must not exceed 255 characters.")
	status = contact.get("ContactStatus")
	if status not in CONTACT_STATUSES:
		errors.append(f"The contact status '{status}' is not valid.")
	if name and status == "ACTIVE":
		other = find_active_by_name(tenant, name)
		if other and other["ContactID"] != contact["ContactID"]:
			errors.append(
				f"The contact name {name} is already assigned to another contact. "
				"The contact name must be unique across all active contacts."
			)
	number = contact.get("ContactNumber")
	if number:
		if len(str(number)) > 50:
			errors.append("The contact number must not exceed 50 characters.")
		other = find_by_number(tenant, str(number))
		if other and other["ContactID"] != contact["ContactID"]:
			errors.append(f"The contact number {number} is already assigned to another contact.")
	return errors


def _merge(base: dict, element: dict) -> dict:
	"""Overlay client-settable fields from a request element onto a stored contact."""
	merged = dict(base)
	for key, value in element.items():
		if key not in _COMPUTED and value is not None:
			merged[key] = value
	if isinstance(merged.get("Name"), str):
		merged["Name"] = merged["Name"].strip()
	merged["ContactStatus"] = str(merged.get("ContactStatus") or "ACTIVE").upper()
	return merged


def _save(ctx: Ctx, contact: dict) -> tuple[dict | None, list[str]]:
	"""Validate and store a created or updated contact, stamping its update time."""
	contact["_updated"] = ctx.now
	errors = _check(ctx.tenant, contact)
	if errors:
		return None, errors
	ctx.txn.put(ctx.tenant.contacts, contact["ContactID"], contact)
	return contact, []


def create_contact(ctx: Ctx, element: dict) -> tuple[dict | None, list[str]]:
	"""Create a new contact (PUT semantics)."""
	return _save(ctx, _merge({"ContactID": new_id(), "_seq": len(ctx.tenant.contacts)}, element))


def update_contact(ctx: Ctx, existing: dict, element: dict) -> tuple[dict | None, list[str]]:
	"""Update an existing contact (POST semantics)."""
	contact = _merge(existing, element)
	contact["ContactID"] = existing["ContactID"]
	return _save(ctx, contact)


def upsert_contact(ctx: Ctx, element: dict) -> tuple[dict | None, list[str]]:
	"""POST /Contacts element: match by ContactID, then ContactNumber, then active Name; else create."""
	contact_id = element.get("ContactID")
	if contact_id:
		existing = find_contact(ctx.tenant, contact_id)
		if not existing:
			return None, [f"The contact with ContactID '{contact_id}' could not be found."]
		return update_contact(ctx, existing, element)
	existing = None
	if element.get("ContactNumber"):
		existing = find_by_number(ctx.tenant, str(element["ContactNumber"]))
	if existing is None and element.get("Name"):
		existing = find_active_by_name(ctx.tenant, str(element["Name"]))
	if existing:
		return update_contact(ctx, existing, element)
	return create_contact(ctx, element)


def summary(tenant: Tenant, contact_id: str | None) -> dict:
	"""The short contact block embedded in invoices and credit notes."""
	contact = tenant.contacts.get(contact_id or "") or {}
	out = {"ContactID": contact_id, "Name": contact.get("Name", "")}
	if contact.get("ContactNumber"):
		out["ContactNumber"] = contact["ContactNumber"]
	out["ContactStatus"] = contact.get("ContactStatus", "ACTIVE")
	out["HasAttachments"] = False
	out["HasValidationErrors"] = False
	return out


def render(contact: dict) -> dict:
	"""A stored contact as Xero returns it."""
	out = {k: v for k, v in contact.items() if not k.startswith("_")}
	out.setdefault("IsSupplier", False)
	out.setdefault("IsCustomer", False)
	out["UpdatedDateUTC"] = ms_datetime(contact.get("_updated", 0))
	out["HasAttachments"] = False
	out["HasValidationErrors"] = False
	return out
