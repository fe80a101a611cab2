"""Invoices and credit notes: validation, Xero-style totals, status rules, allocations, payments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import contacts, seed
from .state import Ctx, Tenant, new_id
from .wire import ms_datetime, parse_date, round2, round_dp, to_decimal

ZERO = Decimal("0.00")
LIVE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID")
ALL_STATUSES = ("DRAFT", "SUBMITTED", "DELETED", "AUTHORISED", "PAID", "VOIDED")
CREATE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
LINE_AMOUNT_TYPES = {"exclusive": "Exclusive", "inclusive": "Inclusive", "notax": "NoTax"}
MONEY_LOCKED = "This document cannot be edited as it has a payment or credit note allocated to it."
ALLOC_TOO_MUCH = "Credit Note cannot be allocated as amount is greater than amount outstanding"
ALLOC_WRONG_INVOICE = "Credit Note cannot be allocated to an incorrect invoice type"
ALLOC_PAID_OFF = "The invoice you are trying to allocate to has already been paid off"
# Fields whose change alters the accounting effect; refused once money is allocated.
_FINANCIAL = ("LineItems", "LineAmountTypes", "CurrencyCode", "CurrencyRate", "Date", "Contact")
# Legal status moves on update (PAID without money behaves like AUTHORISED).
_TRANSITIONS = {
	"DRAFT": {"SUBMITTED", "AUTHORISED", "DELETED"},
	"SUBMITTED": {"DRAFT", "AUTHORISED", "DELETED"},
	"AUTHORISED": {"VOIDED"},
}


@dataclass(frozen=True)
class DocKind:
	"""What differs between the Invoices and CreditNotes endpoints."""

	label: str
	collection: str
	id_key: str
	number_key: str
	types: tuple[str, ...]
	unique_type: str
	store: str
	prefix: str

	@property
	def is_invoice(self) -> bool:
		"""True for /Invoices."""
		return self.store == "invoices"


INVOICE = DocKind(
	"Invoice", "Invoices", "InvoiceID", "InvoiceNumber", ("ACCREC", "ACCPAY"), "ACCREC", "invoices", "INV-"
)
CREDIT_NOTE = DocKind(
	"Credit Note",
	"CreditNotes",
	"CreditNoteID",
	"CreditNoteNumber",
	("ACCRECCREDIT", "ACCPAYCREDIT"),
	"ACCRECCREDIT",
	"credit_notes",
	"CN-",
)


def find_doc(tenant: Tenant, kind: DocKind, ref: str | None) -> dict | None:
	"""Find a document by ID (case-insensitive) or, failing that, by number (unique type first)."""
	if not ref:
		return None
	store = tenant.store(kind.store)
	ref = str(ref).strip()
	if ref in store:
		return store[ref]
	lowered = ref.lower()
	if lowered in store:
		return store[lowered]
	by_number = [d for d in store.values() if d.get(kind.number_key) == ref and d["Status"] != "DELETED"]
	by_number.sort(key=lambda d: (d["Type"] != kind.unique_type, -d["_seq"]))
	return by_number[0] if by_number else None


def _number_taken(tenant: Tenant, kind: DocKind, number: str, self_id: str) -> bool:
	"""Is this number already used by another non-deleted document of the unique type?"""
	key = number.casefold()
	for doc in tenant.store(kind.store).values():
		if (
			doc["Type"] == kind.unique_type
			and doc["Status"] != "DELETED"
			and doc[kind.id_key] != self_id
			and str(doc.get(kind.number_key) or "").casefold() == key
		):
			return True
	return False


def _next_number(ctx: Ctx, kind: DocKind) -> str:
	"""Auto-generate the next free number (INV-0001, CN-0001 ...), as Xero does when none is sent."""
	counter = ctx.tenant.counters.get(kind.prefix, 0)
	while True:
		counter += 1
		number = f"{kind.prefix}{counter:04d}"
		if not _number_taken(ctx.tenant, kind, number, ""):
			ctx.txn.put(ctx.tenant.counters, kind.prefix, counter)
			return number


def _resolve_contact(ctx: Ctx, ref: Any, errors: list[str]) -> str | None:
	"""Resolve the Contact block of a document (ID, number or name; a new name creates a contact)."""
	if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "ContactNumber", "Name")):
		errors.append("A Contact must be specified for this type of transaction")
		return None
	tenant = ctx.tenant
	contact = None
	if ref.get("ContactID"):
		contact = contacts.find_contact(tenant, ref["ContactID"])
		if contact is None:
			errors.append(f"The contact with ContactID '{ref['ContactID']}' could not be found.")
			return None
	elif ref.get("ContactNumber"):
		contact = contacts.find_by_number(tenant, str(ref["ContactNumber"]))
	if contact is None and ref.get("Name"):
		contact = contacts.find_active_by_name(tenant, str(ref["Name"]))
		if contact is None:
			contact, contact_errors = contacts.create_contact(ctx, {k: v for k, v in ref.items() if v})
			errors.extend(contact_errors)
	if contact is None:
		if not errors:
			errors.append("The contact could not be found.")
		return None
	if contact["ContactStatus"] == "ARCHIVED":
		errors.append(f"The contact '{contact['Name']}' is archived and cannot be used on transactions.")
	return contact["ContactID"]


def _resolve_tracking(tenant: Tenant, raw: Any, errors: list[str]) -> list[dict]:
	"""Map line Tracking entries (by name or ID) onto the tenant's categories; max 2 per line."""
	if not raw:
		return []
	if not isinstance(raw, list):
		errors.append("Tracking must be a list.")
		return []
	if len(raw) > 2:
		errors.append("A maximum of 2 tracking categories can be assigned to a line item.")
	out = []
	for entry in raw:
		entry = entry if isinstance(entry, dict) else {}
		cat_ref = str(entry.get("TrackingCategoryID") or entry.get("Name") or "").casefold()
		category = next(
			(c for c in tenant.tracking if cat_ref in (c["TrackingCategoryID"], c["Name"].casefold())), None
		)
		if category is None:
			errors.append(f"The tracking category '{entry.get('Name') or cat_ref}' does not exist.")
			continue
		opt_ref = str(entry.get("TrackingOptionID") or entry.get("Option") or "").casefold()
		option = next(
			(o for o in category["Options"] if opt_ref in (o["TrackingOptionID"], o["Name"].casefold())), None
		)
		if option is None:
			errors.append(
				f"The tracking option '{entry.get('Option') or opt_ref}' does not exist "
				f"for tracking category '{category['Name']}'."
			)
			continue
		out.append(
			{
				"TrackingCategoryID": category["TrackingCategoryID"],
				"TrackingOptionID": option["TrackingOptionID"],
				"Name": category["Name"],
				"Option": option["Name"],
			}
		)
	return out


def _line_amount(
	ctx: Ctx, doc_type: str, raw: dict, errors: list[str]
) -> tuple[Decimal, Decimal, Decimal, dict]:
	"""Quantity, unit amount, line amount (Xero's formula) and any discount fields for one line."""
	try:
		qty = to_decimal(raw.get("Quantity"))
		unit = to_decimal(raw.get("UnitAmount"))
		sent_total = to_decimal(raw.get("LineAmount"))
		rate = to_decimal(raw.get("DiscountRate"))
		amount_off = to_decimal(raw.get("DiscountAmount"))
	except ValueError as exc:
		errors.append(f"Invalid number on line item: {exc}")
		return Decimal(1), ZERO, ZERO, {}
	explicit = qty is not None or unit is not None
	if not explicit and sent_total is not None:
		qty, unit = Decimal(1), sent_total
	qty = round_dp(qty if qty is not None else Decimal(1), 4)
	# Without unitdp=4 Xero keeps unit prices to 2 dp; stored lines keep the precision they were saved with.
	unit = round_dp(unit if unit is not None else ZERO, 4 if raw.get("_stored") else ctx.unitdp)
	discount: dict = {}
	if (rate or amount_off) and doc_type != "ACCREC":
		errors.append("Discounts are only supported on sales invoices (ACCREC).")
	gross = qty * unit
	if rate:
		discount["DiscountRate"] = rate
		line_amount = round2(gross * (Decimal(100) - rate) / Decimal(100))
	elif amount_off:
		discount["DiscountAmount"] = round2(amount_off)
		line_amount = round2(gross - amount_off)
	else:
		line_amount = round2(gross)
	if explicit and sent_total is not None and round2(sent_total) != line_amount:
		errors.append(
			f"The line total {round2(sent_total)} does not match the expected line total {line_amount}"
		)
	return qty, unit, line_amount, discount


def _account(tenant: Tenant, raw: dict, errors: list[str]) -> dict | None:
	"""Resolve and validate the line's account (by AccountCode or AccountID)."""
	code = raw.get("AccountCode")
	if not code and raw.get("AccountID"):
		code = next((a["Code"] for a in tenant.accounts.values() if a["AccountID"] == raw["AccountID"]), None)
		if code is None:
			errors.append(f"Account ID '{raw['AccountID']}' is not a valid account for this document.")
			return None
	if not code:
		return None
	account = tenant.accounts.get(str(code))
	if (
		account is None
		or account["Status"] != "ACTIVE"
		or account["Type"] == "BANK"
		or account.get("SystemAccount") in seed.POSTING_FORBIDDEN_SYSTEM
	):
		errors.append(f"Account code '{code}' is not a valid code for this document.")
		return None
	return account


def _tax(
	tenant: Tenant,
	raw: dict,
	account: dict | None,
	line_amount: Decimal,
	amount_types: str,
	errors: list[str],
) -> tuple[str, Decimal, bool]:
	"""Tax type, tax amount and whether the client supplied the amount, for one line."""
	if amount_types == "NoTax":
		return tenant.none_tax_type(), ZERO, False
	tax_type = str(raw.get("TaxType") or (account["TaxType"] if account else tenant.none_tax_type()))
	row = tenant.tax_rates.get(tax_type)
	rate = ZERO
	if row is None or row["Status"] != "ACTIVE":
		errors.append(
			f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction."
		)
	elif account is not None and not row[seed.CLASS_FLAG[account["Class"]]]:
		errors.append(f"The TaxType code '{tax_type}' cannot be used with account code '{account['Code']}'.")
	else:
		rate = row["EffectiveRate"]
	if raw.get("TaxAmount") is not None:
		try:
			return tax_type, round2(to_decimal(raw["TaxAmount"])), True
		except ValueError:
			errors.append("Invalid TaxAmount on line item.")
			return tax_type, ZERO, True
	# Xero taxes each line and rounds that line's tax to cents (half-up here) before summing.
	if amount_types == "Exclusive":
		return tax_type, round2(line_amount * rate / Decimal(100)), False
	return tax_type, round2(line_amount - line_amount / (Decimal(1) + rate / Decimal(100))), False


def _build_line(ctx: Ctx, doc_type: str, raw: Any, amount_types: str, errors: list[str]) -> dict:
	"""Validate one line item and compute its LineAmount and TaxAmount."""
	if not isinstance(raw, dict):
		errors.append("Each line item must be an object.")
		return {}
	description = str(raw.get("Description") or "").strip()
	item_code = raw.get("ItemCode") or (raw.get("Item") or {}).get("Code")
	if not description and not item_code:
		errors.append("Description must be specified for each line item.")
	qty, unit, line_amount, discount = _line_amount(ctx, doc_type, raw, errors)
	account = _account(ctx.tenant, raw, errors)
	tax_type, tax, tax_given = _tax(ctx.tenant, raw, account, line_amount, amount_types, errors)
	line = {
		"LineItemID": raw.get("LineItemID") or new_id(),
		"Description": description,
		"Quantity": qty,
		"UnitAmount": unit,
		"TaxType": tax_type,
		"TaxAmount": tax,
		"LineAmount": line_amount,
		"Tracking": _resolve_tracking(ctx.tenant, raw.get("Tracking"), errors),
		"_TaxGiven": tax_given,
		**discount,
	}
	if account:
		line["AccountCode"] = account["Code"]
		line["AccountID"] = account["AccountID"]
	if item_code:
		line["ItemCode"] = item_code
	return line


def _totals(lines: list[dict], amount_types: str) -> dict[str, Decimal]:
	"""SubTotal, TotalTax, Total (and TotalDiscount) from already-rounded lines."""
	line_sum = sum((line["LineAmount"] for line in lines), ZERO)
	tax = sum((line["TaxAmount"] for line in lines), ZERO)
	discount = sum(
		(
			round2(line["Quantity"] * line["UnitAmount"]) - line["LineAmount"]
			for line in lines
			if "DiscountRate" in line or "DiscountAmount" in line
		),
		ZERO,
	)
	if amount_types == "Inclusive":
		totals = {"SubTotal": line_sum - tax, "TotalTax": tax, "Total": line_sum}
	else:
		totals = {"SubTotal": line_sum, "TotalTax": tax, "Total": line_sum + tax}
	if discount:
		totals["TotalDiscount"] = discount
	return totals


def _stored_line_as_input(line: dict) -> dict:
	"""Turn a stored line back into request form so totals can be recomputed after a header change."""
	raw = {k: v for k, v in line.items() if not k.startswith("_") and k not in ("LineAmount", "AccountID")}
	if not line.get("_TaxGiven"):
		raw.pop("TaxAmount", None)
	raw["_stored"] = True
	return raw


def _apply_header(
	ctx: Ctx, kind: DocKind, doc: dict, element: dict, creating: bool, errors: list[str]
) -> None:
	"""Overlay header fields (contact, dates, currency, plain text fields) onto the document."""
	tenant = ctx.tenant
	for key in ("Reference", "Url", "BrandingThemeID", "SentToContact"):
		if key in element:
			doc[key] = element[key]
	for key in ("Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate"):
		if element.get(key) is not None:
			try:
				doc[key] = parse_date(element[key])
			except ValueError:
				errors.append(f"The {key} '{element[key]}' is not a valid date.")
	if not doc.get("Date"):
		doc["Date"] = ctx.today
	if creating or "Contact" in element:
		doc["Contact"] = {"ContactID": _resolve_contact(ctx, element.get("Contact"), errors)}
	currency = str(element.get("CurrencyCode") or doc.get("CurrencyCode") or tenant.base_currency).upper()
	if currency not in tenant.currencies:
		errors.append(f"Organisation is not subscribed to currency {currency}")
	doc["CurrencyCode"] = currency
	if currency == tenant.base_currency:
		doc["CurrencyRate"] = Decimal("1.000000")
	elif element.get("CurrencyRate") is not None:
		try:
			doc["CurrencyRate"] = round_dp(to_decimal(element["CurrencyRate"]), 6)
		except ValueError:
			errors.append("The CurrencyRate is not valid.")
	else:
		doc.setdefault("CurrencyRate", Decimal("1.000000"))


def _check_lock(tenant: Tenant, date: dt.date | None, errors: list[str]) -> None:
	"""Refuse documents dated on/before the organisation's lock date."""
	lock, which = tenant.lock_date()
	if lock and date and date <= lock:
		errors.append(f"The document date cannot be before the {which}, currently set at {lock.isoformat()}")


def _apply_lines(ctx: Ctx, doc: dict, element: dict, creating: bool, errors: list[str]) -> None:
	"""Rebuild line items and totals when lines or the amount type change."""
	raw_types = element.get("LineAmountTypes") or doc.get("LineAmountTypes") or "Exclusive"
	amount_types = LINE_AMOUNT_TYPES.get(str(raw_types).lower())
	if amount_types is None:
		errors.append(f"The LineAmountTypes value '{raw_types}' is not valid.")
		amount_types = "Exclusive"
	changed = amount_types != doc.get("LineAmountTypes")
	doc["LineAmountTypes"] = amount_types
	if "LineItems" in element:
		raw_lines = element["LineItems"] or []
	elif creating or changed:
		raw_lines = [_stored_line_as_input(line) for line in doc.get("LineItems", [])]
	else:
		return
	if not isinstance(raw_lines, list):
		errors.append("LineItems must be a list.")
		raw_lines = []
	doc["LineItems"] = [_build_line(ctx, doc["Type"], raw, amount_types, errors) for raw in raw_lines]
	doc.update(_totals(doc["LineItems"], amount_types))
	if doc["Status"] in ("SUBMITTED", "AUTHORISED") and not doc["LineItems"]:
		errors.append(f"A {kind_label(doc)} must have at least one line item to be approved.")


def kind_label(doc: dict) -> str:
	"""Human label for a document type."""
	return "Credit Note" if doc["Type"].endswith("CREDIT") else "Invoice"


def _apply_number(ctx: Ctx, kind: DocKind, doc: dict, element: dict, errors: list[str]) -> None:
	"""Set the document number; unique types get auto-numbering and a uniqueness check."""
	number = element.get(kind.number_key)
	number = str(number).strip() if number is not None else str(doc.get(kind.number_key) or "")
	if len(number) > 255:
		errors.append(f"{kind.label} number must not exceed 255 characters.")
	if doc["Type"] == kind.unique_type:
		if not number:
			number = _next_number(ctx, kind)
		elif _number_taken(ctx.tenant, kind, number, doc[kind.id_key]):
			errors.append(f"{kind.label} # must be unique.")
	doc[kind.number_key] = number


def _settle(ctx: Ctx, kind: DocKind, doc: dict) -> None:
	"""Recompute AmountDue/RemainingCredit and flip AUTHORISED to PAID at zero."""
	total = doc.get("Total", ZERO)
	if kind.is_invoice:
		doc.setdefault("AmountPaid", ZERO)
		doc.setdefault("AmountCredited", ZERO)
		outstanding = total - doc["AmountPaid"] - doc["AmountCredited"]
		field = "AmountDue"
	else:
		allocated = sum((a["Amount"] for a in doc.get("_allocations", [])), ZERO)
		refunded = sum((p["Amount"] for p in doc.get("_payments", [])), ZERO)
		outstanding = total - allocated - refunded
		field = "RemainingCredit"
	doc[field] = ZERO if doc["Status"] in ("VOIDED", "DELETED") else outstanding
	if doc["Status"] == "AUTHORISED" and outstanding <= ZERO:
		doc["Status"] = "PAID"
		doc["FullyPaidOnDate"] = ctx.today
	elif doc["Status"] == "PAID" and outstanding > ZERO:
		doc["Status"] = "AUTHORISED"
		doc.pop("FullyPaidOnDate", None)


def _has_money(kind: DocKind, doc: dict) -> bool:
	"""Does the document carry payments or credit allocations?"""
	if kind.is_invoice:
		return doc.get("AmountPaid", ZERO) > 0 or doc.get("AmountCredited", ZERO) > 0
	return bool(doc.get("_allocations")) or bool(doc.get("_payments"))


def _status_error(kind: DocKind, old: dict, new_status: str, element: dict) -> str | None:
	"""Why this status change/edit is not allowed, or None."""
	old_status = old["Status"]
	invalid = f"{kind.label} not of valid status for modification"
	if new_status not in ALL_STATUSES or (new_status == "PAID" and old_status != "PAID"):
		return invalid
	if old_status in ("VOIDED", "DELETED"):
		return invalid
	financial = any(key in element for key in _FINANCIAL)
	if _has_money(kind, old) and (new_status != old_status or financial):
		return MONEY_LOCKED
	effective = "AUTHORISED" if old_status == "PAID" else old_status
	if new_status != old_status and new_status not in _TRANSITIONS.get(effective, set()):
		return invalid
	return None


def create_doc(ctx: Ctx, kind: DocKind, element: dict) -> tuple[dict | None, list[str]]:
	"""Build and store a new document (PUT semantics)."""
	errors: list[str] = []
	doc_type = str(element.get("Type") or "").upper()
	if doc_type not in kind.types:
		return None, [f"{kind.label} Type must be one of {', '.join(kind.types)}."]
	status = str(element.get("Status") or "DRAFT").upper()
	if status not in CREATE_STATUSES:
		errors.append(f"{kind.label} status {status} is not valid for a new document.")
	doc: dict = {
		"Type": doc_type,
		kind.id_key: new_id(),
		"Status": status,
		"_seq": _next_seq(ctx),
		"_app": ctx.app,  # who created it, for GET /Invoices?createdByMyApp=true
	}
	_apply_header(ctx, kind, doc, element, True, errors)
	_apply_lines(ctx, doc, element, True, errors)
	_check_lock(ctx.tenant, doc["Date"], errors)
	if errors:
		return None, errors
	_apply_number(ctx, kind, doc, element, errors)
	if errors:
		return None, errors
	return _store(ctx, kind, doc), []


def update_doc(ctx: Ctx, kind: DocKind, old: dict, element: dict) -> tuple[dict | None, list[str]]:
	"""Apply an update (POST semantics) to an existing document, enforcing status rules."""
	new_status = str(element.get("Status") or old["Status"]).upper()
	problem = _status_error(kind, old, new_status, element)
	if problem:
		return None, [problem]
	doc = dict(old)
	errors: list[str] = []
	if new_status in ("VOIDED", "DELETED"):
		if new_status == "VOIDED":
			_check_lock(ctx.tenant, doc["Date"], errors)
		doc["Status"] = new_status
	else:
		if new_status != old["Status"] and old["Status"] != "PAID":
			doc["Status"] = new_status
		_apply_header(ctx, kind, doc, element, False, errors)
		_apply_lines(ctx, doc, element, new_status != old["Status"], errors)
		if "Date" in element or doc["Status"] != old["Status"]:
			_check_lock(ctx.tenant, doc["Date"], errors)
		_apply_number(ctx, kind, doc, element, errors)
	if errors:
		return None, errors
	return _store(ctx, kind, doc), []


def upsert_doc(ctx: Ctx, kind: DocKind, element: dict) -> tuple[dict | None, list[str]]:
	"""POST /Invoices element: update by ID, else by number for the unique type, else create."""
	doc_id = element.get(kind.id_key)
	if doc_id:
		existing = find_doc(ctx.tenant, kind, doc_id)
		if existing is None or existing[kind.id_key].lower() != str(doc_id).lower():
			return None, [f"{kind.label} with ID '{doc_id}' could not be found."]
		return update_doc(ctx, kind, existing, element)
	number = str(element.get(kind.number_key) or "").strip()
	doc_type = str(element.get("Type") or "").upper()
	if number and doc_type in ("", kind.unique_type):
		for doc in ctx.tenant.store(kind.store).values():
			if (
				doc["Type"] == kind.unique_type
				and doc["Status"] != "DELETED"
				and doc.get(kind.number_key) == number
			):
				return update_doc(ctx, kind, doc, element)
	return create_doc(ctx, kind, element)


def _next_seq(ctx: Ctx) -> int:
	"""Creation order across both stores (for stable listing)."""
	seq = ctx.tenant.counters.get("_seq", 0) + 1
	ctx.txn.put(ctx.tenant.counters, "_seq", seq)
	return seq


def _store(ctx: Ctx, kind: DocKind, doc: dict) -> dict:
	"""Finalise amounts and write the document through the undo log (and its webhook event)."""
	_settle(ctx, kind, doc)
	doc["_updated"] = ctx.now
	store = ctx.tenant.store(kind.store)
	created = doc[kind.id_key] not in store
	ctx.txn.put(store, doc[kind.id_key], doc)
	_event(ctx, kind, doc[kind.id_key], "CREATE" if created else "UPDATE")
	return doc


def _event(ctx: Ctx, kind: DocKind, resource_id: str, event_type: str) -> None:
	"""Record a webhook event the way Xero describes a change (rolled back with the write)."""
	seq = ctx.tenant.counters.get("_event", 0) + 1
	ctx.txn.put(ctx.tenant.counters, "_event", seq)
	stamp = dt.datetime.fromtimestamp(ctx.now, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
	event = {
		"resourceUrl": f"https://api.xero.com/api.xro/2.0/{kind.collection}/{resource_id}",
		"resourceId": resource_id,
		"eventDateUtc": stamp,
		"eventType": event_type,
		"eventCategory": "INVOICE" if kind.is_invoice else "CREDITNOTE",
		"tenantId": ctx.tenant.tenant_id,
		"tenantType": "ORGANISATION",
	}
	ctx.txn.put(ctx.tenant.events, seq, event)


def allocate(ctx: Ctx, credit_note_id: str, raw: Any) -> tuple[dict | None, list[str]]:
	"""Allocate part of an AUTHORISED credit note to an invoice of the matching type."""
	tenant = ctx.tenant
	note = tenant.credit_notes[credit_note_id]
	raw = raw if isinstance(raw, dict) else {}
	invoice_id = (raw.get("Invoice") or {}).get("InvoiceID")
	invoice = find_doc(tenant, INVOICE, invoice_id) if invoice_id else None
	try:
		amount = round2(to_decimal(raw.get("Amount"), ZERO))
		date = parse_date(raw.get("Date"))
	except ValueError as exc:
		return None, [f"Invalid allocation: {exc}"]
	if invoice is None:
		return None, [f"Invoice with ID '{invoice_id}' could not be found."]
	if amount <= ZERO:
		return None, ["The allocation amount must be greater than zero."]
	if note["Status"] not in ("AUTHORISED", "PAID"):
		return None, ["Credit Note must be approved (AUTHORISED) before it can be allocated."]
	expected_type = note["Type"].removesuffix("CREDIT")
	if (
		invoice["Type"] != expected_type
		or invoice["Contact"]["ContactID"] != note["Contact"]["ContactID"]
		or invoice["CurrencyCode"] != note["CurrencyCode"]
	):
		return None, [ALLOC_WRONG_INVOICE]
	if invoice["Status"] == "PAID" or (invoice["Status"] == "AUTHORISED" and invoice["AmountDue"] <= ZERO):
		return None, [ALLOC_PAID_OFF]
	if invoice["Status"] != "AUTHORISED":
		return None, ["Invoice not of valid status for modification"]
	if amount > note["RemainingCredit"] or amount > invoice["AmountDue"]:
		return None, [ALLOC_TOO_MUCH]
	date = date or max(note["Date"], invoice["Date"])
	alloc_id = new_id()
	new_invoice = dict(invoice)
	new_invoice["AmountCredited"] = invoice["AmountCredited"] + amount
	new_invoice["_allocations"] = [
		*invoice.get("_allocations", []),
		{
			"AllocationID": alloc_id,
			"CreditNoteID": credit_note_id,
			"CreditNoteNumber": note["CreditNoteNumber"],
			"Type": note["Type"],
			"Amount": amount,
			"Date": date,
		},
	]
	new_note = dict(note)
	new_note["_allocations"] = [
		*note.get("_allocations", []),
		{
			"AllocationID": alloc_id,
			"InvoiceID": invoice["InvoiceID"],
			"InvoiceNumber": invoice["InvoiceNumber"],
			"Amount": amount,
			"Date": date,
		},
	]
	_store(ctx, INVOICE, new_invoice)
	_store(ctx, CREDIT_NOTE, new_note)
	return _allocation_view(new_note, new_invoice, alloc_id, amount, date), []


def _allocation_view(note: dict, invoice: dict, alloc_id: str, amount: Decimal, date: dt.date) -> dict:
	"""An Allocation as the API returns it (Invoice, Amount and Date are required by the SDK)."""
	return {
		"AllocationID": alloc_id,
		"Amount": amount,
		"Date": date,
		"Invoice": {
			"InvoiceID": invoice["InvoiceID"],
			"InvoiceNumber": invoice["InvoiceNumber"],
			"HasAttachments": False,
			"HasErrors": False,
		},
		"CreditNote": {
			"CreditNoteID": note["CreditNoteID"],
			"CreditNoteNumber": note["CreditNoteNumber"],
			"HasAttachments": False,
			"HasErrors": False,
		},
		"IsDeleted": False,
	}


def delete_allocation(ctx: Ctx, credit_note_id: str, allocation_id: str) -> dict | None:
	"""Remove an allocation, restoring both documents' outstanding amounts."""
	tenant = ctx.tenant
	note = tenant.credit_notes[credit_note_id]
	entry = next((a for a in note.get("_allocations", []) if a["AllocationID"] == allocation_id), None)
	if entry is None:
		return None
	invoice = tenant.invoices[entry["InvoiceID"]]
	new_note = dict(note)
	new_note["_allocations"] = [a for a in note["_allocations"] if a["AllocationID"] != allocation_id]
	new_invoice = dict(invoice)
	new_invoice["AmountCredited"] = invoice["AmountCredited"] - entry["Amount"]
	new_invoice["_allocations"] = [a for a in invoice["_allocations"] if a["AllocationID"] != allocation_id]
	_store(ctx, INVOICE, new_invoice)
	_store(ctx, CREDIT_NOTE, new_note)
	view = _allocation_view(new_note, new_invoice, allocation_id, entry["Amount"], entry["Date"])
	view["IsDeleted"] = True
	return view


def record_payment(
	ctx: Ctx, invoice_id: str, amount: Decimal, date: dt.date | None = None, rate: Decimal | None = None
) -> str:
	"""Pay an AUTHORISED invoice or bill from the bank account, as PUT /Payments would (raises ValueError
	with Xero's message when it would refuse); `rate`: the payment's CurrencyRate (else the invoice's)."""
	from .payments import create_payment

	bank = next(a for a in ctx.tenant.accounts.values() if a["Type"] == "BANK")
	element = {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": bank["Code"]}, "Amount": amount}
	if date:
		element["Date"] = date
	if rate is not None:
		element["CurrencyRate"] = rate
	if find_doc(ctx.tenant, INVOICE, invoice_id) is None:
		raise ValueError(f"invoice {invoice_id} not found")
	payment, errors = create_payment(ctx, element)
	if errors:
		raise ValueError("; ".join(errors))
	return payment["PaymentID"]


def view(tenant: Tenant, doc: dict) -> dict:
	"""A cheap view for `where` filtering: the stored doc with its contact hydrated."""
	return {**doc, "Contact": contacts.summary(tenant, doc["Contact"]["ContactID"])}


def render(tenant: Tenant, kind: DocKind, doc: dict) -> dict:
	"""A stored document as Xero returns it."""
	out = {k: v for k, v in doc.items() if not k.startswith("_")}
	out["Contact"] = contacts.summary(tenant, doc["Contact"]["ContactID"])
	out["LineItems"] = [{k: v for k, v in line.items() if not k.startswith("_")} for line in doc["LineItems"]]
	out["UpdatedDateUTC"] = ms_datetime(doc["_updated"])
	if kind.is_invoice:
		out["Payments"] = [dict(p) for p in doc.get("_payments", [])]
		out["CreditNotes"] = [
			{
				"CreditNoteID": a["CreditNoteID"],
				"CreditNoteNumber": a["CreditNoteNumber"],
				"Type": a["Type"],
				"AppliedAmount": a["Amount"],
				"Date": a["Date"],
				"HasAttachments": False,
				"HasErrors": False,
			}
			for a in doc.get("_allocations", [])
		]
		out["Prepayments"] = []
		out["Overpayments"] = []
		out["IsDiscounted"] = "TotalDiscount" in doc
	else:
		out["Allocations"] = [
			{
				"AllocationID": a["AllocationID"],
				"Amount": a["Amount"],
				"Date": a["Date"],
				"Invoice": {
					"InvoiceID": a["InvoiceID"],
					"InvoiceNumber": a["InvoiceNumber"],
					"HasErrors": False,
				},
			}
			for a in doc.get("_allocations", [])
		]
		out["AppliedAmount"] = sum((a["Amount"] for a in doc.get("_allocations", [])), ZERO)
		out["Payments"] = [dict(p) for p in doc.get("_payments", [])]
	out["HasAttachments"] = False
	out["HasErrors"] = False
	return out


def echo(kind: DocKind, element: Any, errors: list[str]) -> dict:
	"""Echo a failed element the way Xero does (dates normalised so the SDK can parse them)."""
	out: dict = {}
	for key, value in (element if isinstance(element, dict) else {}).items():
		if key in ("Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate", "FullyPaidOnDate"):
			try:
				value = parse_date(value)
			except ValueError:
				continue
		if key == "Status" and value not in ALL_STATUSES:
			continue
		if key == "Type" and value not in kind.types:
			continue
		if key == "LineAmountTypes" and str(value).lower() not in LINE_AMOUNT_TYPES:
			continue
		if key in ("ValidationErrors", "Warnings", "StatusAttributeString", "HasErrors"):
			continue
		out[key] = value
	out["HasErrors"] = True
	out["StatusAttributeString"] = "ERROR"
	out["ValidationErrors"] = [{"Message": message} for message in errors]
	out["Warnings"] = []
	return out


def ledger_row(tenant: Tenant, kind: DocKind, doc: dict) -> dict:
	"""A plain-dict snapshot of a document for test assertions."""
	row = {
		"kind": doc["Type"],
		"xero_id": doc[kind.id_key],
		"number": doc.get(kind.number_key, ""),
		"status": doc["Status"],
		"contact_id": doc["Contact"]["ContactID"],
		"currency": doc["CurrencyCode"],
		"currency_rate": doc.get("CurrencyRate"),
		"line_amount_types": doc.get("LineAmountTypes"),
		"total": doc.get("Total", ZERO),
		"sub_total": doc.get("SubTotal", ZERO),
		"total_tax": doc.get("TotalTax", ZERO),
		"date": doc.get("Date"),
		"due_date": doc.get("DueDate"),
		"reference": doc.get("Reference"),
		"url": doc.get("Url"),
		"line_items": [
			{
				"description": line.get("Description"),
				"quantity": line.get("Quantity"),
				"unit_amount": line.get("UnitAmount"),
				"account_code": line.get("AccountCode"),
				"tax_type": line.get("TaxType"),
				"tax_amount": line.get("TaxAmount"),
				"line_amount": line.get("LineAmount"),
				"discount_rate": line.get("DiscountRate"),
				"discount_amount": line.get("DiscountAmount"),
				"tracking": [(t["Name"], t["Option"]) for t in line.get("Tracking", [])],
			}
			for line in doc.get("LineItems", [])
		],
		"allocations": [
			{
				"allocation_id": a["AllocationID"],
				"credit_note_id" if kind.is_invoice else "invoice_id": a.get("CreditNoteID")
				or a.get("InvoiceID"),
				"amount": a["Amount"],
				"date": a["Date"],
			}
			for a in doc.get("_allocations", [])
		],
		"seq": doc["_seq"],
		"updated": doc["_updated"],  # emulator time of the last change (its creation, if never changed)
	}
	if kind.is_invoice:
		row.update(
			amount_paid=doc.get("AmountPaid", ZERO),
			amount_credited=doc.get("AmountCredited", ZERO),
			amount_due=doc.get("AmountDue", ZERO),
			payments=[
				{"payment_id": p["PaymentID"], "amount": p["Amount"], "date": p["Date"]}
				for p in doc.get("_payments", [])
			],
		)
	else:
		applied = sum((a["Amount"] for a in doc.get("_allocations", [])), ZERO)
		row.update(
			amount_credited=applied, amount_paid=ZERO, remaining_credit=doc.get("RemainingCredit", ZERO)
		)
	return row
