"""Seeding helpers: ERP documents without outbox rows (posted before go-live) and documents keyed into
Xero by hand (no Url marker, contacts made by a person)."""

from __future__ import annotations

import datetime
import json
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
		"data": json.dumps({**doc, "docstatus": doc.get("docstatus", 1)}, default=str),
		"posting_date": str(doc.get("posting_date"))[:10],
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
	"""Key a one-line, tax-inclusive document into Xero as a person would; return its Xero ID."""
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
		"Status": status,
		("CreditNoteNumber" if kind.is_credit_note else "InvoiceNumber"): number,
	}
	if not kind.is_credit_note:
		body["DueDate"] = on + datetime.timedelta(days=20)
	(result,) = gateway.create_documents(tenant_id, kind, [body], f"hand-{kind.value}-{number}-{contact_id}")
	assert result.ok, result.errors
	return result.record.xero_id
