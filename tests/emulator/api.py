"""The Accounting API surface (/api.xro/2.0/...): routing, batches, lookups, settings endpoints."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import contacts, documents, manual_journals, payments, seed
from .documents import CREDIT_NOTE, INVOICE, DocKind
from .state import Ctx, Tenant, new_id
from .where import WhereError, compile_where, field_value
from .wire import decode, encode, is_true, ms_date, ms_datetime, ms_datetime_plain, parse_date

PROVIDER = "NexWave Xero Emulator"
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"


@dataclass
class Reply:
	"""An HTTP response to send (or, with drop=True, a connection to close without one)."""

	status: int
	body: bytes = b""
	content_type: str = "application/json; charset=utf-8"
	headers: dict[str, str] = field(default_factory=dict)
	drop: bool = False


APP = "connected-app"
PERSON_TOKEN_PREFIX = "person-"


def caller(token: str) -> str | None:
	"""The app a bearer token acts for; None for a person working in Xero itself."""
	return None if token.startswith(PERSON_TOKEN_PREFIX) else APP


@dataclass
class ApiRequest:
	"""A parsed Accounting API request for one tenant."""

	method: str
	parts: list[str]
	query: dict[str, str]
	headers: Any
	body: bytes
	tenant: Tenant
	# Who is calling: the connected app, or a person keying documents into Xero's web screens (a bearer
	# token starting with PERSON_TOKEN_PREFIX). Xero's createdByMyApp tells the two apart.
	app: str | None = APP


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
	"""A JSON reply in Xero's wire format."""
	return Reply(status, encode(payload).encode("utf-8"), headers=dict(headers or {}))


def text_reply(status: int, text: str) -> Reply:
	"""A plain-text reply (Xero's 404s and gateway errors are not JSON)."""
	return Reply(status, text.encode("utf-8"), content_type="text/plain; charset=utf-8")


def problem(status: int, title: str, detail: str) -> Reply:
	"""An RFC 7807-style problem body, as Xero sends for 401/403."""
	body = {
		"Type": None,
		"Title": title,
		"Status": status,
		"Detail": detail,
		"Instance": new_id(),
		"Extensions": {},
	}
	return json_reply(status, body)


def validation_error(elements: list[dict]) -> Reply:
	"""400 ValidationException with the failing elements."""
	body = {
		"ErrorNumber": 10,
		"Type": "ValidationException",
		"Message": "A validation exception occurred",
		"Elements": elements,
	}
	return json_reply(400, body)


def bad_request(message: str, error_type: str = "ValidationException", number: int = 10) -> Reply:
	"""400 with a plain Xero error body (no elements)."""
	return json_reply(400, {"ErrorNumber": number, "Type": error_type, "Message": message})


def envelope(now: float, collection: str, items: list, pagination: dict | None = None) -> dict:
	"""The standard response wrapper around a list of objects."""
	body: dict = {
		"Id": new_id(),
		"Status": "OK",
		"ProviderName": PROVIDER,
		"DateTimeUTC": ms_datetime_plain(now),
	}
	if pagination is not None:
		body["pagination"] = pagination
	body[collection] = items
	return body


# What GET /Invoices?summaryOnly=true leaves out here (pessimistically: Xero only says "computation-heavy").
SUMMARY_DROPS = frozenset(
	{
		"LineItems",
		"Payments",
		"CreditNotes",
		"Prepayments",
		"Overpayments",
		"Url",
		"AmountPaid",
		"AmountCredited",
	}
)


def _csv(value: str | None) -> list[str]:
	"""Split a csv query parameter, dropping blanks."""
	return [v.strip() for v in (value or "").split(",") if v.strip()]


def _since(headers: Any) -> float | None:
	"""Parse If-Modified-Since (ISO with or without offset, or RFC 1123) to epoch seconds."""
	raw = headers.get("If-Modified-Since") if headers is not None else None
	if not raw:
		return None
	try:
		stamp = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
	except ValueError:
		try:
			stamp = email.utils.parsedate_to_datetime(raw)
		except (TypeError, ValueError):
			return None
	if stamp.tzinfo is None:
		stamp = stamp.replace(tzinfo=dt.timezone.utc)
	return stamp.timestamp()


def _sort_key(value: Any) -> tuple:
	"""Sort None last and compare like with like."""
	return (value is None, value if value is not None else 0)


def _order(rows: list[dict], spec: str | None) -> list[dict]:
	"""Apply an `order` parameter such as "Date DESC, InvoiceNumber"."""
	for clause in reversed(_csv(spec)):
		words = clause.split()
		descending = len(words) > 1 and words[1].upper() == "DESC"
		try:
			rows.sort(key=lambda r, f=words[0]: _sort_key(field_value(r, f)), reverse=descending)
		except TypeError:
			continue
	return rows


def _page(rows: list, query: dict[str, str]) -> tuple[list, dict | None]:
	"""Page the rows when `page` is given (1-based; pageSize default 100, max 1000)."""
	if "page" not in query:
		return rows, None
	try:
		page = max(1, int(query["page"]))
		size = min(1000, max(1, int(query.get("pageSize") or 100)))
	except ValueError:
		page, size = 1, 100
	count = len(rows)
	info = {
		"page": page,
		"pageSize": size,
		"pageCount": math.ceil(count / size) if count else 0,
		"itemCount": count,
	}
	return rows[(page - 1) * size : page * size], info


def _elements(body: bytes, collection: str) -> list | None:
	"""Extract the element list from {"Invoices": [...]}, a bare list, or a single object."""
	try:
		payload = decode(body) if body else {}
	except ValueError:
		return None
	if isinstance(payload, list):
		return payload
	if isinstance(payload, dict):
		if collection in payload:
			items = payload[collection]
			return items if isinstance(items, list) else [items]
		return [payload] if payload else []
	return None


class AccountingApi:
	"""Dispatches Accounting API requests against the emulator's tenants (caller holds the lock)."""

	def __init__(self, clock: Any):
		self.clock = clock

	def ctx(self, req: ApiRequest) -> Ctx:
		"""A write context for this request."""
		from .state import Txn

		unitdp = 4 if req.query.get("unitdp") == "4" else 2
		return Ctx(req.tenant, Txn(), self.clock.now(), self.clock.today(), unitdp, app=req.app)

	def handle(self, req: ApiRequest) -> Reply:
		"""Route one request."""
		resource = req.parts[0] if req.parts else ""
		method = req.method
		try:
			if resource in ("Invoices", "CreditNotes"):
				return self._documents(req, INVOICE if resource == "Invoices" else CREDIT_NOTE)
			if resource == "Contacts":
				return self._contacts(req)
			if resource == "Payments":
				return self._payments(req)
			if resource == "ManualJournals":
				return self._manual_journals(req)
			if method == "GET" and len(req.parts) == 1:
				settings = {
					"TaxRates": self._tax_rates,
					"Accounts": self._accounts,
					"Organisation": self._organisation,
					"Currencies": self._currencies,
					"TrackingCategories": self._tracking,
				}
				if resource in settings:
					return settings[resource](req)
		except WhereError as exc:
			return bad_request(str(exc), "QueryParseException", 16)
		return text_reply(404, NOT_FOUND_TEXT)

	# ---- invoices and credit notes -------------------------------------------------------------

	def _documents(self, req: ApiRequest, kind: DocKind) -> Reply:
		"""Invoices/CreditNotes routes."""
		parts, method = req.parts, req.method
		if len(parts) == 1:
			if method == "GET":
				return self._list_documents(req, kind)
			if method in ("PUT", "POST"):
				ctx = self.ctx(req)
				action = documents.create_doc if method == "PUT" else documents.upsert_doc
				return self._batch(req, ctx, kind.collection, lambda e: action(ctx, kind, e), kind)
		doc = documents.find_doc(req.tenant, kind, parts[1]) if len(parts) > 1 else None
		if doc is None:
			return text_reply(404, NOT_FOUND_TEXT)
		if len(parts) == 2 and method == "GET":
			items = [documents.render(req.tenant, kind, doc)]
			return json_reply(200, envelope(self.clock.now(), kind.collection, items))
		if len(parts) == 2 and method == "POST":
			return self._update_one(req, kind, doc)
		if kind is CREDIT_NOTE and len(parts) >= 3 and parts[2] == "Allocations":
			if len(parts) == 3 and method == "PUT":
				return self._allocate(req, doc)
			if len(parts) == 4 and method == "DELETE":
				ctx = self.ctx(req)
				result = documents.delete_allocation(ctx, doc["CreditNoteID"], parts[3])
				return json_reply(200, result) if result else text_reply(404, NOT_FOUND_TEXT)
		return text_reply(404, NOT_FOUND_TEXT)

	def _list_documents(self, req: ApiRequest, kind: DocKind) -> Reply:
		"""GET /Invoices or /CreditNotes with IDs/InvoiceNumbers/ContactIDs/Statuses/where/paging."""
		query, tenant = req.query, req.tenant
		predicate = compile_where(query.get("where"))
		ids = {v.lower() for v in _csv(query.get("IDs"))}
		numbers = set(_csv(query.get("InvoiceNumbers"))) if kind is INVOICE else set()
		contact_ids = {v.lower() for v in _csv(query.get("ContactIDs"))}
		statuses = {v.upper() for v in _csv(query.get("Statuses"))}
		since = _since(req.headers)
		search = (query.get("searchTerm") or "").casefold()
		mine_only = kind is INVOICE and is_true(query.get("createdByMyApp"))
		rows = []
		for doc in sorted(tenant.store(kind.store).values(), key=lambda d: d["_seq"]):
			if ids and doc[kind.id_key].lower() not in ids:
				continue
			if numbers and doc.get(kind.number_key) not in numbers:
				continue
			if contact_ids and str(doc["Contact"]["ContactID"]).lower() not in contact_ids:
				continue
			if statuses and doc["Status"] not in statuses:
				continue
			if since is not None and doc["_updated"] <= since:
				continue
			if mine_only and doc.get("_app") != req.app:
				continue
			row = documents.view(tenant, doc)
			row["UpdatedDateUTC"] = dt.datetime.fromtimestamp(doc["_updated"], tz=dt.timezone.utc)
			if search and not any(
				search in str(row.get(k) or "").casefold() for k in (kind.number_key, "Reference")
			):
				continue
			if predicate(row):
				rows.append(row)
		rows, pagination = _page(_order(rows, query.get("order")), query)
		store = tenant.store(kind.store)
		items = [documents.render(tenant, kind, store[row[kind.id_key]]) for row in rows]
		if kind is INVOICE and is_true(query.get("summaryOnly")):
			# Xero does not list what summaryOnly leaves out; drop everything heavy, and Url, so callers
			# that need more must read the document by ID
			items = [{k: v for k, v in item.items() if k not in SUMMARY_DROPS} for item in items]
		return json_reply(200, envelope(self.clock.now(), kind.collection, items, pagination))

	def _batch(
		self,
		req: ApiRequest,
		ctx: Ctx,
		collection: str,
		action: Callable[[Any], tuple[dict | None, list[str]]],
		kind: DocKind | None,
	) -> Reply:
		"""Run a PUT/POST batch: per-element results with summarizeErrors=false, else all-or-nothing."""
		elements = _elements(req.body, collection)
		if elements is None:
			return bad_request(
				"The request body could not be parsed as JSON.", "PostDataInvalidException", 14
			)
		summarize = is_true(req.query.get("summarizeErrors"), True)
		outcomes: list[tuple[str, Any]] = []
		for element in elements:
			mark = ctx.txn.mark()
			try:
				saved, errors = action(element if isinstance(element, dict) else {})
			except Exception:
				ctx.txn.rollback()  # an emulator bug must not leave half a batch behind
				raise
			if errors:
				ctx.txn.rollback(mark)
				outcomes.append(("error", self._echo(kind, element, errors)))
			else:
				outcomes.append(("ok", saved))
		failed = [item for status, item in outcomes if status == "error"]
		if failed and summarize:
			ctx.txn.rollback()
			return validation_error(failed)
		items = []
		for status, item in outcomes:
			if status == "error":
				items.append(item)
				continue
			rendered = self._render_saved(req.tenant, kind, item)
			if not summarize:
				rendered.update(StatusAttributeString="OK", ValidationErrors=[], Warnings=[])
			items.append(rendered)
		return json_reply(200, envelope(ctx.now, collection, items))

	def _echo(self, kind: DocKind | None, element: Any, errors: list[str]) -> dict:
		"""Echo a failed element for either documents or contacts."""
		if kind is not None:
			return documents.echo(kind, element, errors)
		out = {
			k: v for k, v in (element if isinstance(element, dict) else {}).items() if k != "ContactStatus"
		}
		status = (element or {}).get("ContactStatus") if isinstance(element, dict) else None
		if status in contacts.CONTACT_STATUSES:
			out["ContactStatus"] = status
		out.update(
			HasValidationErrors=True,
			StatusAttributeString="ERROR",
			ValidationErrors=[{"Message": m} for m in errors],
		)
		return out

	def _render_saved(self, tenant: Tenant, kind: DocKind | None, saved: dict) -> dict:
		"""Render the latest stored version of a saved object."""
		if kind is None:
			return contacts.render(tenant.contacts[saved["ContactID"]])
		current = tenant.store(kind.store)[saved[kind.id_key]]
		return documents.render(tenant, kind, current)

	def _update_one(self, req: ApiRequest, kind: DocKind, doc: dict) -> Reply:
		"""POST /Invoices/{id}: update one document from the first element of the body."""
		elements = _elements(req.body, kind.collection)
		if not elements:
			return bad_request(
				"The request body could not be parsed as JSON.", "PostDataInvalidException", 14
			)
		element = elements[0] if isinstance(elements[0], dict) else {}
		ctx = self.ctx(req)
		saved, errors = documents.update_doc(ctx, kind, doc, element)
		if errors:
			ctx.txn.rollback()
			return validation_error(
				[documents.echo(kind, {kind.id_key: doc[kind.id_key], **element}, errors)]
			)
		return json_reply(
			200, envelope(ctx.now, kind.collection, [documents.render(req.tenant, kind, saved)])
		)

	def _allocate(self, req: ApiRequest, note: dict) -> Reply:
		"""PUT /CreditNotes/{id}/Allocations."""
		elements = _elements(req.body, "Allocations")
		if elements is None:
			return bad_request(
				"The request body could not be parsed as JSON.", "PostDataInvalidException", 14
			)
		ctx = self.ctx(req)
		summarize = is_true(req.query.get("summarizeErrors"), True)
		results, failed = [], []
		for raw in elements:
			mark = ctx.txn.mark()
			result, errors = documents.allocate(ctx, note["CreditNoteID"], raw)
			if errors:
				ctx.txn.rollback(mark)
				echo = self._allocation_echo(ctx, raw, errors)
				results.append(echo)
				failed.append(echo)
			else:
				if not summarize:
					result.update(StatusAttributeString="OK", ValidationErrors=[])
				results.append(result)
		if failed and summarize:
			ctx.txn.rollback()
			return validation_error(failed)
		return json_reply(200, envelope(ctx.now, "Allocations", results))

	def _allocation_echo(self, ctx: Ctx, raw: Any, errors: list[str]) -> dict:
		"""Echo a failed allocation; Invoice, Amount and Date are filled because the SDK requires them."""
		raw = raw if isinstance(raw, dict) else {}
		try:
			date = parse_date(raw.get("Date")) or ctx.today
		except ValueError:
			date = ctx.today
		return {
			"Invoice": raw.get("Invoice") if isinstance(raw.get("Invoice"), dict) else {},
			"Amount": raw.get("Amount") if raw.get("Amount") is not None else 0,
			"Date": date,
			"StatusAttributeString": "ERROR",
			"ValidationErrors": [{"Message": m} for m in errors],
		}

	# ---- payments ------------------------------------------------------------------------------

	def _payments(self, req: ApiRequest) -> Reply:
		"""GET/PUT/POST /Payments and GET/POST /Payments/{id} (POST with Status DELETED deletes)."""
		parts, method, tenant = req.parts, req.method, req.tenant
		if len(parts) == 1 and method == "GET":
			predicate = compile_where(req.query.get("where"))
			listed = [p for p in payments.listed(tenant, _since(req.headers)) if predicate(p)]
			rows, pagination = _page(listed, req.query)
			return json_reply(200, envelope(self.clock.now(), "Payments", rows, pagination))
		if len(parts) == 1 and method in ("PUT", "POST"):
			elements = _elements(req.body, "Payments")
			if elements is None:
				return bad_request(
					"The request body could not be parsed as JSON.", "PostDataInvalidException", 14
				)
			ctx = self.ctx(req)
			summarize = is_true(req.query.get("summarizeErrors"), True)
			items, failed = [], []
			for element in elements:
				mark = ctx.txn.mark()
				saved, errors = payments.create_payment(ctx, element)
				if errors:
					ctx.txn.rollback(mark)
					echo = {
						**(element if isinstance(element, dict) else {}),
						"StatusAttributeString": "ERROR",
						"HasValidationErrors": True,
						"ValidationErrors": [{"Message": m} for m in errors],
					}
					items.append(echo)
					failed.append(echo)
				else:
					rendered = payments.render(tenant, saved)
					if not summarize:
						rendered.update(StatusAttributeString="OK", ValidationErrors=[])
					items.append(rendered)
			if failed and summarize:
				ctx.txn.rollback()
				return validation_error(failed)
			return json_reply(200, envelope(ctx.now, "Payments", items))
		payment = payments.store(tenant).get(parts[1]) if len(parts) == 2 else None
		if payment is None:
			return text_reply(404, NOT_FOUND_TEXT)
		if method == "GET":
			return json_reply(200, envelope(self.clock.now(), "Payments", [payments.render(tenant, payment)]))
		if method == "POST":
			elements = _elements(req.body, "Payments") or [{}]
			ctx = self.ctx(req)
			saved, errors = payments.delete_payment(ctx, parts[1], elements[0])
			if errors:
				ctx.txn.rollback()
				return validation_error(
					[{"PaymentID": parts[1], "ValidationErrors": [{"Message": m} for m in errors]}]
				)
			return json_reply(200, envelope(ctx.now, "Payments", [payments.render(tenant, saved)]))
		return text_reply(404, NOT_FOUND_TEXT)

	# ---- manual journals -----------------------------------------------------------------------

	def _manual_journals(self, req: ApiRequest) -> Reply:
		"""GET (list, by ID), PUT (create) and POST (status changes) /ManualJournals."""
		parts, method, tenant = req.parts, req.method, req.tenant
		if len(parts) == 1 and method == "GET":
			predicate = compile_where(req.query.get("where"))
			rows = [j for j in manual_journals.listed(tenant, _since(req.headers)) if predicate(j)]
			rows, pagination = _page(_order(rows, req.query.get("order")), req.query)
			items = [manual_journals.render(j) for j in rows]
			return json_reply(200, envelope(self.clock.now(), "ManualJournals", items, pagination))
		if len(parts) == 2 and method == "GET":
			journal = manual_journals.store(tenant).get(parts[1])
			if journal is None:
				return text_reply(404, NOT_FOUND_TEXT)
			return json_reply(
				200, envelope(self.clock.now(), "ManualJournals", [manual_journals.render(journal)])
			)
		if method in ("PUT", "POST") and len(parts) in (1, 2):
			elements = _elements(req.body, "ManualJournals")
			if elements is None:
				return bad_request(
					"The request body could not be parsed as JSON.", "PostDataInvalidException", 14
				)
			if len(parts) == 2:
				elements = [
					{**(e if isinstance(e, dict) else {}), "ManualJournalID": parts[1]} for e in elements
				]
			ctx = self.ctx(req)
			apply = manual_journals.create_journal if method == "PUT" else manual_journals.change_status
			summarize = is_true(req.query.get("summarizeErrors"), True)
			items, failed = [], []
			for element in elements:
				mark = ctx.txn.mark()
				saved, errors = apply(ctx, element)
				if errors:
					ctx.txn.rollback(mark)
					echo = {
						**(element if isinstance(element, dict) else {}),
						"StatusAttributeString": "ERROR",
						"ValidationErrors": [{"Message": m} for m in errors],
					}
					items.append(echo)
					failed.append(echo)
				else:
					rendered = manual_journals.render(saved)
					if not summarize:
						rendered.update(StatusAttributeString="OK", ValidationErrors=[])
					items.append(rendered)
			if failed and (summarize or len(parts) == 2):
				ctx.txn.rollback()
				return validation_error(failed)
			return json_reply(200, envelope(ctx.now, "ManualJournals", items))
		return text_reply(404, NOT_FOUND_TEXT)

	# ---- contacts ------------------------------------------------------------------------------

	def _contacts(self, req: ApiRequest) -> Reply:
		"""Contacts routes."""
		parts, method, tenant = req.parts, req.method, req.tenant
		if len(parts) == 1:
			if method == "GET":
				return self._list_contacts(req)
			if method in ("PUT", "POST"):
				ctx = self.ctx(req)
				action = contacts.create_contact if method == "PUT" else contacts.upsert_contact
				return self._batch(req, ctx, "Contacts", lambda e: action(ctx, e), None)
		contact = contacts.find_contact(tenant, parts[1]) if len(parts) == 2 else None
		if contact is None:
			return text_reply(404, NOT_FOUND_TEXT)
		if method == "GET":
			return json_reply(200, envelope(self.clock.now(), "Contacts", [contacts.render(contact)]))
		if method == "POST":
			elements = _elements(req.body, "Contacts") or [{}]
			ctx = self.ctx(req)
			saved, errors = contacts.update_contact(
				ctx, contact, elements[0] if isinstance(elements[0], dict) else {}
			)
			if errors:
				ctx.txn.rollback()
				return validation_error([self._echo(None, elements[0], errors)])
			return json_reply(200, envelope(ctx.now, "Contacts", [contacts.render(saved)]))
		return text_reply(404, NOT_FOUND_TEXT)

	def _list_contacts(self, req: ApiRequest) -> Reply:
		"""GET /Contacts with IDs/where/includeArchived/searchTerm/paging."""
		query = req.query
		predicate = compile_where(query.get("where"))
		ids = {v.lower() for v in _csv(query.get("IDs"))}
		archived = is_true(query.get("includeArchived"))
		search = (query.get("searchTerm") or "").casefold()
		since = _since(req.headers)
		rows = []
		for contact in sorted(req.tenant.contacts.values(), key=lambda c: c["_seq"]):
			if ids and contact["ContactID"].lower() not in ids:
				continue
			if contact["ContactStatus"] == "ARCHIVED" and not archived:
				continue
			if since is not None and contact["_updated"] <= since:
				continue
			if search and not any(
				search in str(contact.get(k) or "").casefold()
				for k in ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
			):
				continue
			if predicate(contact):
				rows.append(contact)
		rows, pagination = _page(_order(rows, query.get("order")), query)
		items = [contacts.render(c) for c in rows]
		return json_reply(200, envelope(self.clock.now(), "Contacts", items, pagination))

	# ---- settings ------------------------------------------------------------------------------

	def _filtered(self, req: ApiRequest, collection: str, rows: list[dict]) -> Reply:
		"""Apply where/order to a settings list and wrap it."""
		predicate = compile_where(req.query.get("where"))
		selected = _order([r for r in rows if predicate(r)], req.query.get("order"))
		return json_reply(200, envelope(self.clock.now(), collection, selected))

	def _tax_rates(self, req: ApiRequest) -> Reply:
		"""GET /TaxRates."""
		return self._filtered(req, "TaxRates", list(req.tenant.tax_rates.values()))

	def _accounts(self, req: ApiRequest) -> Reply:
		"""GET /Accounts (UpdatedDateUTC is the organisation's creation time)."""
		stamp = ms_datetime(req.tenant.created_at)
		rows = [{**a, "UpdatedDateUTC": stamp} for a in req.tenant.accounts.values()]
		return self._filtered(req, "Accounts", rows)

	def _currencies(self, req: ApiRequest) -> Reply:
		"""GET /Currencies."""
		rows = [{"Code": c, "Description": seed.CURRENCY_NAMES.get(c, c)} for c in req.tenant.currencies]
		return self._filtered(req, "Currencies", rows)

	def _tracking(self, req: ApiRequest) -> Reply:
		"""GET /TrackingCategories."""
		return self._filtered(req, "TrackingCategories", list(req.tenant.tracking))

	def _organisation(self, req: ApiRequest) -> Reply:
		"""GET /Organisation."""
		return json_reply(200, envelope(self.clock.now(), "Organisations", [organisation(req.tenant)]))


def organisation(tenant: Tenant) -> dict:
	"""The Organisation record for a tenant."""
	defaults = seed.COUNTRY_DEFAULTS[tenant.country]
	month = defaults["year_end_month"]
	org = {
		"OrganisationID": tenant.organisation_id,
		"APIKey": "",
		"Name": tenant.name,
		"LegalName": tenant.name,
		"PaysTax": True,
		"Version": tenant.country,
		"OrganisationType": "COMPANY",
		"BaseCurrency": tenant.base_currency,
		"CountryCode": tenant.country,
		"IsDemoCompany": False,
		"OrganisationStatus": "ACTIVE",
		"TaxNumber": "",
		"FinancialYearEndDay": 31 if month in (1, 3, 5, 7, 8, 10, 12) else 30,
		"FinancialYearEndMonth": month,
		"SalesTaxBasis": defaults["tax_basis"],
		"SalesTaxPeriod": defaults["tax_period"],
		"DefaultSalesTax": "Tax Exclusive",
		"DefaultPurchasesTax": "Tax Exclusive",
		"CreatedDateUTC": ms_datetime(tenant.created_at),
		"Timezone": tenant.timezone,
		"OrganisationEntityType": "COMPANY",
		"ShortCode": tenant.short_code,
		"Class": "PREMIUM",
		"Edition": "BUSINESS",
		"LineOfBusiness": "Testing",
		"Addresses": [],
		"Phones": [],
		"ExternalLinks": [],
	}
	if tenant.period_lock_date:
		org["PeriodLockDate"] = ms_date(tenant.period_lock_date)
	if tenant.end_of_year_lock_date:
		org["EndOfYearLockDate"] = ms_date(tenant.end_of_year_lock_date)
	return org
