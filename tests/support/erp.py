"""A stand-in for ERPNext kept in MariaDB: documents, submit and cancel as the Frappe hooks do them.

`submit` inserts the document and its Queued Xero Sync Log row in one transaction, as on_submit does;
`cancel` flips docstatus and runs sync.journal.request_cancel in one transaction, as on_cancel does.
`SqlErp` implements the core's ErpSource port over the same tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE
from nexwave_xero_connector.sync.journal import (
	detach_deleted,
	insert_row,
	queue_void_of_cleared,
	request_cancel,
	requeue_on_submit,
)
from nexwave_xero_connector.sync.model import ContactRequest, Kind
from nexwave_xero_connector.sync.payment_mapping import PAYMENT, PAYMENT_ENTRY, Target

from .db import PyMySqlDb

PARTY = {SALES_INVOICE: ("Customer", "customer"), PURCHASE_INVOICE: ("Supplier", "supplier")}


def xero_type(doc: dict) -> str:
	"""The Xero kind a document becomes (what on_submit stores in xero_type)."""
	if doc["doctype"] == PURCHASE_INVOICE:
		return (Kind.BILL_CREDIT if doc.get("is_return") else Kind.BILL).value
	return (Kind.SALES_CREDIT if doc.get("is_return") else Kind.SALES_INVOICE).value


class SqlErp:
	"""ErpSource over the stand-in tables; shares the journal's connection like frappe.db does."""

	def __init__(self, db: PyMySqlDb, clock: Callable[[], datetime]):
		self.db = db
		self.clock = clock

	# -- what the hooks do ----------------------------------------------------------------------

	def add_party(self, party_type: str, name: str, email: str | None = None) -> None:
		field = "customer_name" if party_type == "Customer" else "supplier_name"
		self.db.execute(
			f"INSERT IGNORE INTO `tab{party_type}` (name, creation, modified, {field}, email_id) "
			"VALUES (%(name)s, %(now)s, %(now)s, %(name)s, %(email)s)",
			{"name": name, "now": self.clock(), "email": email},
		)
		self.db.commit("test: party")

	def submit(self, doc: dict, tenant_id: str) -> str:
		"""Insert a submitted document and its Queued log row in one transaction; return the row name."""
		party_field = PARTY[doc["doctype"]][1]
		now = self.clock()
		doc = {**doc, "docstatus": 1}
		self.db.execute(
			f"INSERT INTO `tab{doc['doctype']}` (name, creation, modified, docstatus, company, {party_field}, "
			"is_return, data, posting_date) VALUES (%(name)s, %(now)s, %(now)s, 1, %(company)s, %(party)s, "
			"%(ret)s, %(data)s, %(posting_date)s)",
			{
				"name": doc["name"],
				"now": now,
				"company": doc["company"],
				"party": doc[party_field],
				"ret": int(bool(doc.get("is_return"))),
				"data": json.dumps(doc, default=str),
				"posting_date": str(doc.get("posting_date") or "")[:10] or None,
			},
		)
		if doc["doctype"] == PURCHASE_INVOICE:  # the supplier's number, as ERPNext keeps it in a column
			self.db.execute(
				"UPDATE `tabPurchase Invoice` SET bill_no = %(bill_no)s WHERE name = %(name)s",
				{"bill_no": doc.get("bill_no"), "name": doc["name"]},
			)
		log_name = insert_row(
			self.db,
			doctype=doc["doctype"],
			name=doc["name"],
			company=doc["company"],
			tenant_id=tenant_id,
			xero_type=xero_type(doc),
			now=now,
			user="test",
		)
		self.db.commit("test: submit (document and outbox row together)")
		return log_name

	def submit_payment(self, doc: dict, tenant_id: str) -> str:
		"""Insert a submitted Payment Entry and its Queued log row in one transaction (as on_submit does)."""
		now = self.clock()
		doc = {**doc, "docstatus": 1}
		self.db.execute(
			"INSERT INTO `tabPayment Entry` (name, creation, modified, docstatus, company, payment_type, "
			"party_type, party, data) VALUES (%(name)s, %(now)s, %(now)s, 1, %(company)s, %(type)s, %(pt)s, "
			"%(party)s, %(data)s)",
			{
				"name": doc["name"],
				"now": now,
				"company": doc["company"],
				"type": doc["payment_type"],
				"pt": doc["party_type"],
				"party": doc["party"],
				"data": json.dumps(doc, default=str),
			},
		)
		log_name = insert_row(
			self.db,
			doctype=PAYMENT_ENTRY,
			name=doc["name"],
			company=doc["company"],
			tenant_id=tenant_id,
			xero_type=PAYMENT,
			now=now,
			user="test",
		)
		self.db.commit("test: submit payment (document and outbox row together)")
		return log_name

	def cancel(self, doctype: str, name: str, tenant_id: str | None = None) -> int:
		"""Cancel the document and flag its row, in one transaction (as on_cancel does); with no row (the
		log was cleared) a document still carrying a live Xero ID gets a row that voids it."""
		now = self.clock()
		self.db.execute(
			f"UPDATE `tab{doctype}` SET docstatus = 2, modified = %(now)s WHERE name = %(name)s",
			{"name": name, "now": now},
		)
		changed = request_cancel(self.db, doctype, name, now)
		if not changed and tenant_id:
			changed = int(self._settle_untracked(doctype, name, tenant_id, now, deleted=False))
		self.db.commit("test: cancel (docstatus and void request together)")
		return changed

	def delete(self, doctype: str, name: str, tenant_id: str | None = None) -> int:
		"""Delete a cancelled document, in one transaction with what on_trash does to its row."""
		now = self.clock()
		changed = detach_deleted(self.db, doctype, name, now)
		if not changed and tenant_id:
			changed = int(self._settle_untracked(doctype, name, tenant_id, now, deleted=True))
		self.db.execute(f"DELETE FROM `tab{doctype}` WHERE name = %(name)s", {"name": name})
		self.db.commit("test: delete (document gone, row detached)")
		return changed

	def _settle_untracked(
		self, doctype: str, name: str, tenant_id: str, now: datetime, deleted: bool
	) -> bool:
		"""No row, but the document's own Xero ID is live: queue a row that voids that copy."""
		rows = self.db.query(
			f"SELECT company, is_return, xero_id, xero_status FROM `tab{doctype}` WHERE name = %(name)s",
			{"name": name},
		)
		if not rows or not rows[0]["xero_id"] or (rows[0]["xero_status"] or "") in ("VOIDED", "DELETED"):
			return False
		doc = rows[0]
		queue_void_of_cleared(
			self.db,
			doctype=doctype,
			name=name,
			company=doc["company"],
			tenant_id=tenant_id,
			xero_type=xero_type({"doctype": doctype, "is_return": doc["is_return"]}),
			xero_id=doc["xero_id"],
			xero_status=doc["xero_status"],
			now=now,
			deleted=deleted,
		)
		return True

	def add_named_party(self, party_type: str, name: str, title: str, email: str | None = None) -> None:
		"""A party whose ID and display name differ (two Customers may share a customer_name)."""
		field = "customer_name" if party_type == "Customer" else "supplier_name"
		self.db.execute(
			f"INSERT IGNORE INTO `tab{party_type}` (name, creation, modified, {field}, email_id) "
			"VALUES (%(name)s, %(now)s, %(now)s, %(title)s, %(email)s)",
			{"name": name, "title": title, "now": self.clock(), "email": email},
		)
		self.db.commit("test: party")

	def submit_over_row(self, doc: dict, tenant_id: str) -> str:
		"""Submit a document whose name already has a log row (a deleted document's name, reused), as
		events.queue_push does it: a Failed or Skipped row is requeued for the tenant with no cancel standing.
		(The delete hook detaches a deleted document's row, so a reused name normally gets a fresh row.)"""
		party_field = PARTY[doc["doctype"]][1]
		now = self.clock()
		doc = {**doc, "docstatus": 1}
		self.db.execute(
			f"INSERT INTO `tab{doc['doctype']}` (name, creation, modified, docstatus, company, {party_field}, "
			"is_return, data) VALUES (%(name)s, %(now)s, %(now)s, 1, %(company)s, %(party)s, %(ret)s, %(data)s)",
			{
				"name": doc["name"],
				"now": now,
				"company": doc["company"],
				"party": doc[party_field],
				"ret": int(bool(doc.get("is_return"))),
				"data": json.dumps(doc, default=str),
			},
		)
		rows = self.db.query(
			"SELECT name FROM `tabXero Sync Log` WHERE reference_doctype = %(dt)s AND reference_name = %(dn)s",
			{"dt": doc["doctype"], "dn": doc["name"]},
		)
		requeue_on_submit(
			self.db, rows[0]["name"], tenant_id=tenant_id, company=doc["company"], user="test", now=now
		)
		self.db.commit("test: submit over an existing row (document and requeue together)")
		return rows[0]["name"]

	# -- ErpSource ------------------------------------------------------------------------------

	def load(self, doctype: str, name: str) -> dict:
		rows = self.db.query(
			f"SELECT docstatus, data FROM `tab{doctype}` WHERE name = %(name)s", {"name": name}
		)
		if not rows:
			raise LookupError(f"{doctype} {name} not found")
		return {**json.loads(rows[0]["data"]), "docstatus": rows[0]["docstatus"]}

	def docstatuses(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
		out = {}
		for doctype in {d for d, _ in refs}:
			names = tuple(n for d, n in refs if d == doctype)
			for r in self.db.query(
				f"SELECT name, docstatus FROM `tab{doctype}` WHERE name IN %(names)s", {"names": names}
			):
				out[(doctype, r["name"])] = r["docstatus"]
		return out

	def contact_id(self, party_type: str, party: str, tenant_id: str) -> str | None:
		rows = self.db.query(
			f"SELECT xero_contact_id FROM `tab{party_type}` WHERE name = %(name)s", {"name": party}
		)
		ids = json.loads(rows[0]["xero_contact_id"] or "{}") if rows else {}
		return ids.get(tenant_id)

	def set_contact_id(self, party_type: str, party: str, tenant_id: str, contact_id: str) -> None:
		rows = self.db.query(
			f"SELECT xero_contact_id FROM `tab{party_type}` WHERE name = %(name)s", {"name": party}
		)
		ids = json.loads(rows[0]["xero_contact_id"] or "{}") if rows else {}
		ids[tenant_id] = contact_id
		self.db.execute(
			f"UPDATE `tab{party_type}` SET xero_contact_id = %(ids)s WHERE name = %(name)s",
			{"ids": json.dumps(ids), "name": party},
		)

	def contact_request(self, party_type: str, party: str) -> ContactRequest:
		field = "customer_name" if party_type == "Customer" else "supplier_name"
		rows = self.db.query(
			f"SELECT {field} AS title, email_id, tax_id FROM `tab{party_type}` WHERE name = %(name)s",
			{"name": party},
		)
		row = rows[0] if rows else {"title": party, "email_id": None, "tax_id": None}
		title = row["title"] or party
		shared = self.db.query(
			f"SELECT COUNT(*) AS n FROM `tab{party_type}` WHERE {field} = %(title)s AND name != %(name)s",
			{"title": title, "name": party},
		)[0]["n"]
		return ContactRequest(
			party_type, party, title, row["email_id"], row["tax_id"], name_shared=bool(shared)
		)

	def payment_targets(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Target]:
		out = {}
		for doctype in {d for d, _ in refs}:
			names = tuple(n for d, n in refs if d == doctype)
			for r in self.db.query(
				f"SELECT name, docstatus, is_return, xero_id, data FROM `tab{doctype}` WHERE name IN %(names)s",
				{"names": names},
			):
				out[(doctype, r["name"])] = Target(
					doctype=doctype,
					name=r["name"],
					xero_id=r["xero_id"] or None,
					is_return=bool(r["is_return"]),
					currency=json.loads(r["data"])["currency"],
					docstatus=r["docstatus"],
					number=(json.loads(r["data"]).get("bill_no") or "").strip() or r["name"],
				)
		return out

	def xero_id_of(self, doctype: str, name: str) -> str | None:
		rows = self.db.query(f"SELECT xero_id FROM `tab{doctype}` WHERE name = %(name)s", {"name": name})
		return rows[0]["xero_id"] if rows else None
