"""Seeding helpers: ERP documents without outbox rows (posted before go-live) and documents keyed into
Xero by hand (no Url marker, contacts made by a person)."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

from nexwave_xero_connector.sync.config import PURCHASE_INVOICE
from nexwave_xero_connector.sync.model import Kind

from .erp import PARTY

ACCOUNT = {Kind.SALES_INVOICE: "200", Kind.SALES_CREDIT: "200", Kind.BILL: "300", Kind.BILL_CREDIT: "300"}
TAX = {
	Kind.SALES_INVOICE: "OUTPUT2",
	Kind.SALES_CREDIT: "OUTPUT2",
	Kind.BILL: "INPUT2",
	Kind.BILL_CREDIT: "INPUT2",
}


def insert_document(world, doc: dict) -> None:
	"""A submitted ERP document that the hook never queued (posted before go-live, or before install)."""
	party_field = PARTY[doc["doctype"]][1]
	values = {
		"name": doc["name"],
		"creation": world.clock(),
		"modified": world.clock(),
		"docstatus": doc.get("docstatus", 1),
		"company": doc["company"],
		party_field: doc[party_field],
		"is_return": int(bool(doc.get("is_return"))),
		"return_against": doc.get("return_against") if doc.get("is_return") else None,
		"data": json.dumps({**doc, "docstatus": doc.get("docstatus", 1)}, default=str),
		"posting_date": str(doc.get("posting_date"))[:10],
		"currency": doc.get("currency"),
		"party_account_currency": doc.get("party_account_currency") or doc.get("currency"),
		"outstanding_amount": str(doc.get("outstanding_amount") or 0),
	}
	if doc["doctype"] == PURCHASE_INVOICE:
		values["bill_no"] = doc.get("bill_no")
	columns = ", ".join(values)
	placeholders = ", ".join(f"%({c})s" for c in values)
	world.db.execute(f"INSERT INTO `tab{doc['doctype']}` ({columns}) VALUES ({placeholders})", values)
	world.db.commit("test: a document the hook never queued")


def hand_key(
	gateway,
	tenant_id: str,
	kind: Kind,
	number: str,
	contact_id: str,
	total: Decimal | str,
	on: datetime.date,
	status: str = "AUTHORISED",
) -> str:
	"""Key a one-line, tax-inclusive document into Xero as a person would; return its Xero ID.

	It is made by a person, not by this app: Xero's createdByMyApp does not list it."""
	gateway = person_in_xero(gateway)
	body = {
		"Type": kind.value,
		"Contact": {"ContactID": contact_id},
		"Date": on,
		"LineAmountTypes": "Inclusive",
		"LineItems": [
			{
				"Description": f"Keyed by hand: {number}",
				"Quantity": Decimal(1),
				"UnitAmount": Decimal(str(total)),
				"AccountCode": ACCOUNT[kind],
				"TaxType": TAX[kind],
			}
		],
		"Status": "AUTHORISED" if status == "VOIDED" else status,
		("CreditNoteNumber" if kind.is_credit_note else "InvoiceNumber"): number,
	}
	if not kind.is_credit_note:
		body["DueDate"] = on + datetime.timedelta(days=20)
	(result,) = gateway.create_documents(tenant_id, kind, [body], f"hand-{uuid.uuid4().hex}")
	assert result.ok, result.errors
	if status == "VOIDED":
		(voided,) = gateway.set_statuses(
			tenant_id, kind, [(result.record.xero_id, "VOIDED")], f"void-{number}"
		)
		assert voided.ok, voided.errors
	return result.record.xero_id


def keyed_and_adopted(world, doc: dict, kind: Kind, number: str, contact_id: str) -> str:
	"""An ERP document posted before go-live, keyed into Xero by a person (no Url marker) and adopted by
	an adopt-only Backfill of its day; returns the adopted Xero ID."""
	from nexwave_xero_connector.sync.backfill import ADOPT_ONLY, backfill
	from nexwave_xero_connector.sync.mapping import owed_total

	from .world import COMPANY

	day = datetime.date.fromisoformat(str(doc["posting_date"])[:10])
	insert_document(world, doc)
	xero_id = hand_key(world.gateway(), world.tenant_id, kind, number, contact_id, abs(owed_total(doc)), day)
	report = backfill(
		world.tenant_id,
		COMPANY,
		(kind,),
		day,
		day,
		ADOPT_ONLY,
		source=StandInBackfillSource(world),
		gateway=world.gateway(),
		db=world.db,
		clock=world.clock,
	)
	assert report.adopted == 1 and world.log(doc["name"])["xero_id"] == xero_id
	return xero_id


def person_in_xero(gateway):
	"""A gateway to the same emulator that acts as a person working in Xero, not as this app."""
	from .world import PERSON_TOKEN, emulator_gateway

	return emulator_gateway(gateway.api.base_url.removesuffix("/api.xro/2.0"), token=PERSON_TOKEN)


class StandInBackfillSource:
	"""BackfillSource over the stand-in ERP tables (the Frappe layer's does the same with frappe.db)."""

	def __init__(self, world):
		self.world = world

	def candidates(self, company, kinds, date_from, date_to, decided_since=None):
		from nexwave_xero_connector.sync.backfill import candidate_of
		from nexwave_xero_connector.sync.config import SALES_INVOICE

		out = []
		for doctype in (SALES_INVOICE, PURCHASE_INVOICE):
			rows = self.world.db.query(
				f"""SELECT d.data, l.name AS row_name, l.modified FROM `tab{doctype}` d
				LEFT JOIN `tabXero Sync Log` l ON l.reference_doctype = %(doctype)s AND l.reference_name = d.name
				WHERE d.docstatus = 1 AND d.company = %(company)s AND d.posting_date BETWEEN %(f)s AND %(t)s
					AND (l.name IS NULL OR l.status = 'Skipped')
				ORDER BY d.posting_date, d.name""",
				{"doctype": doctype, "company": company, "f": date_from, "t": date_to},
			)
			for r in rows:
				if r["row_name"] and decided_since and r["modified"] >= decided_since:
					continue  # decided by the run being resumed
				candidate = candidate_of({**json.loads(r["data"]), "doctype": doctype}, r["row_name"])
				if candidate.kind in kinds:
					out.append(candidate)
		return sorted(out, key=lambda c: (c.posting_date, c.name))

	def contact_id(self, party_type, party, tenant_id):
		return self.world.erp.contact_id(party_type, party, tenant_id)


def stand_in_erp_documents(world, company: str, date_from, date_to):
	"""The report's ERP side over the stand-in tables: documents dated in the period, submitted or
	cancelled, with the Xero ID their row (else the document) holds."""
	from nexwave_xero_connector.sync.backfill import candidate_of
	from nexwave_xero_connector.sync.config import SALES_INVOICE
	from nexwave_xero_connector.sync.reconciliation_report import ErpDocument

	world.db.rollback()
	out = []
	for doctype in (SALES_INVOICE, PURCHASE_INVOICE):
		rows = world.db.query(
			f"""SELECT d.data, d.docstatus, COALESCE(l.xero_id, d.xero_id) AS xero_id, l.status
			FROM `tab{doctype}` d
			LEFT JOIN `tabXero Sync Log` l ON l.reference_doctype = %(doctype)s AND l.reference_name = d.name
			WHERE d.docstatus IN (1, 2) AND d.company = %(company)s AND d.posting_date BETWEEN %(f)s AND %(t)s""",
			{"doctype": doctype, "company": company, "f": date_from, "t": date_to},
		)
		for r in rows:
			c = candidate_of({**json.loads(r["data"]), "doctype": doctype})
			out.append(
				ErpDocument(
					doctype, c.name, c.kind, c.number, c.total, int(r["docstatus"]), r["xero_id"], r["status"]
				)
			)
	return out
