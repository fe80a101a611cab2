"""A stand-in for ERPNext kept in MariaDB: documents, submit and cancel as the Frappe hooks do them.

`submit` inserts the document and its Queued Xero Sync Log row in one transaction, as on_submit does;
`cancel` flips docstatus and runs sync.journal.request_cancel in one transaction, as on_cancel does.
`SqlErp` implements the core's ErpSource port over the same tables.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE
from nexwave_xero_connector.sync.journal import (
	detach_deleted,
	insert_row,
	queue_void_of_cleared,
	request_cancel,
	requeue_on_submit,
)
from nexwave_xero_connector.sync.manual_journal_mapping import JOURNAL_ENTRY, MANUAL_JOURNAL, marker_identity
from nexwave_xero_connector.sync.model import ContactRequest, EntryPlan, EntryRefused, Kind
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
		self._entry_numbers = itertools.count(1)
		# When set, ERPNext refuses to create or cancel Payment Entries with this message.
		self.refuse_entries: str | None = None

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
		now = self.clock()
		doc = {**doc, "docstatus": 1}
		self._insert_document(doc, now)
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

	def _insert_document(self, doc: dict, now: datetime) -> None:
		"""The submitted invoice's row, with its outstanding as ERPNext sets it: a return applied to the
		invoice it reverses (`update_outstanding_for_self` unset) has none of its own and lowers that one's."""
		party_field = PARTY[doc["doctype"]][1]
		outstanding = Decimal(str(doc.get("outstanding_amount") or 0))
		applied = _applied_to(doc)
		self.db.execute(
			f"INSERT INTO `tab{doc['doctype']}` (name, creation, modified, docstatus, company, {party_field}, "
			"is_return, return_against, data, posting_date, currency, party_account_currency, "
			"outstanding_amount) VALUES "
			"(%(name)s, %(now)s, %(now)s, 1, %(company)s, %(party)s, %(ret)s, %(against)s, %(data)s, "
			"%(posting_date)s, %(currency)s, %(party_currency)s, %(outstanding)s)",
			{
				"against": doc.get("return_against") if doc.get("is_return") else None,
				"currency": doc.get("currency"),
				"party_currency": doc.get("party_account_currency") or doc.get("currency"),
				"outstanding": "0" if applied else str(outstanding),
				"name": doc["name"],
				"now": now,
				"company": doc["company"],
				"party": doc[party_field],
				"ret": int(bool(doc.get("is_return"))),
				"data": json.dumps(doc, default=str),
				"posting_date": str(doc.get("posting_date") or "")[:10] or None,
			},
		)
		if applied:
			self._apply_return(doc["doctype"], applied, outstanding)
		if doc["doctype"] == PURCHASE_INVOICE:  # the supplier's number, as ERPNext keeps it in a column
			self.db.execute(
				"UPDATE `tabPurchase Invoice` SET bill_no = %(bill_no)s WHERE name = %(name)s",
				{"bill_no": doc.get("bill_no"), "name": doc["name"]},
			)

	def _apply_return(self, doctype: str, against: str, amount: Decimal) -> None:
		"""A return's (negative) amount moves the outstanding of the invoice it is applied to."""
		self.db.execute(
			f"UPDATE `tab{doctype}` SET outstanding_amount = outstanding_amount + %(amount)s "
			"WHERE name = %(name)s",
			{"amount": str(amount), "name": against},
		)

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
		self._allocate(doc["name"], doc.get("references") or [], sign=1)
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

	def add_company(self, name: str, currency: str) -> None:
		self.db.execute(
			"INSERT IGNORE INTO `tabCompany` (name, creation, modified, default_currency) "
			"VALUES (%(name)s, %(now)s, %(now)s, %(currency)s)",
			{"name": name, "now": self.clock(), "currency": currency},
		)
		self.db.commit("test: company")

	def _allocate(self, entry: str, references: Sequence[dict], sign: int) -> None:
		"""What submitting (sign 1) or cancelling (-1) a Payment Entry does to its invoices' outstanding:
		ERPNext subtracts each allocated amount (negative against a return)."""
		if sign > 0:
			for n, ref in enumerate(references, 1):
				self.db.execute(
					"INSERT INTO `tabPayment Entry Reference` (name, creation, modified, docstatus, idx, parent, "
					"parentfield, parenttype, reference_doctype, reference_name, allocated_amount) VALUES "
					"(%(name)s, %(now)s, %(now)s, 1, %(idx)s, %(parent)s, 'references', 'Payment Entry', %(dt)s, "
					"%(dn)s, %(amount)s)",
					{
						"name": f"{entry}-{n}",
						"now": self.clock(),
						"idx": n,
						"parent": entry,
						"dt": ref["reference_doctype"],
						"dn": ref["reference_name"],
						"amount": str(ref["allocated_amount"]),
					},
				)
		rows = self.db.query(
			"SELECT reference_doctype, reference_name, allocated_amount FROM `tabPayment Entry Reference` "
			"WHERE parent = %(parent)s",
			{"parent": entry},
		)
		for ref in rows:
			if ref["reference_doctype"] in PARTY:
				self.db.execute(
					f"UPDATE `tab{ref['reference_doctype']}` SET outstanding_amount = outstanding_amount - "
					"%(amount)s WHERE name = %(name)s",
					{"amount": sign * ref["allocated_amount"], "name": ref["reference_name"]},
				)

	def outstanding(self, doctype: str, name: str) -> Decimal:
		rows = self.db.query(
			f"SELECT outstanding_amount FROM `tab{doctype}` WHERE name = %(name)s", {"name": name}
		)
		return Decimal(rows[0]["outstanding_amount"])

	# -- EntryBook (payments made in Xero) ------------------------------------------------------

	def create_entry(self, plan: EntryPlan) -> str:
		"""Create and submit the Payment Entry the plan describes (in the caller's transaction)."""
		if self.refuse_entries:
			raise EntryRefused(self.refuse_entries)
		# unique across processes (each drain of the chaos run has its own SqlErp)
		name = f"ACC-PAY-X-{next(self._entry_numbers):05d}-{uuid.uuid4().hex[:8]}"
		party_type = "Customer" if plan.against_doctype == SALES_INVOICE else "Supplier"
		party = self.db.query(
			f"SELECT {PARTY[plan.against_doctype][1]} AS party FROM `tab{plan.against_doctype}` "
			"WHERE name = %(n)s",
			{"n": plan.against_name},
		)[0]["party"]
		self.db.execute(
			"INSERT INTO `tabPayment Entry` (name, creation, modified, docstatus, company, payment_type, "
			"party_type, party, data, posting_date, paid_from, paid_to, mode_of_payment, reference_no, "
			"xero_payment_id) VALUES (%(name)s, %(now)s, %(now)s, 1, %(company)s, %(type)s, %(pt)s, %(party)s, "
			"%(data)s, %(date)s, %(paid_from)s, %(paid_to)s, %(mode)s, %(ref)s, %(pid)s)",
			{
				"name": name,
				"now": self.clock(),
				"company": plan.company,
				"type": plan.payment_type,
				"pt": party_type,
				"party": party,
				"data": json.dumps(asdict(plan), default=str),
				"date": plan.posting_date,
				"paid_from": plan.bank_account if plan.payment_type == "Pay" else None,
				"paid_to": plan.bank_account if plan.payment_type == "Receive" else None,
				"mode": plan.mode_of_payment,
				"ref": plan.reference_no,
				"pid": plan.payment_id,
			},
		)
		refs = [
			{
				"reference_doctype": plan.against_doctype,
				"reference_name": plan.against_name,
				"allocated_amount": plan.allocated,
			}
		]
		self._allocate(name, refs, sign=1)
		return name

	def cancel_entry(self, name: str) -> None:
		if self.refuse_entries:
			raise EntryRefused(self.refuse_entries)
		self.db.execute(
			"UPDATE `tabPayment Entry` SET docstatus = 2, modified = %(now)s WHERE name = %(name)s",
			{"name": name, "now": self.clock()},
		)
		self._allocate(name, [], sign=-1)
		request_cancel(self.db, PAYMENT_ENTRY, name, self.clock())

	def cancel(self, doctype: str, name: str, tenant_id: str | None = None) -> int:
		"""Cancel the document and flag its row, in one transaction (as on_cancel does); with no row (the
		log was cleared) a document still carrying a live Xero ID gets a row that voids it."""
		now = self.clock()
		self.db.execute(
			f"UPDATE `tab{doctype}` SET docstatus = 2, modified = %(now)s WHERE name = %(name)s",
			{"name": name, "now": now},
		)
		if doctype == PAYMENT_ENTRY:
			self._allocate(name, [], sign=-1)
		elif doctype in PARTY:
			rows = self.db.query(f"SELECT data FROM `tab{doctype}` WHERE name = %(name)s", {"name": name})
			doc = json.loads(rows[0]["data"]) if rows else {}
			if against := _applied_to(doc):
				self._apply_return(doctype, against, -Decimal(str(doc.get("outstanding_amount") or 0)))
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
		"""No row, but something may be live in Xero: queue a row that undoes it, as events.settle_untracked
		does. An invoice whose own Xero ID is live: that copy is voided. A Payment Entry (not one the pull
		made from a Xero payment): its payments are deleted. A Journal Entry: its journal, found by our
		marker and date, is voided."""
		what = self._left_in_xero(doctype, name)
		if what is None:
			return False
		queue_void_of_cleared(
			self.db, doctype=doctype, name=name, tenant_id=tenant_id, now=now, deleted=deleted, **what
		)
		return True

	def _left_in_xero(self, doctype: str, name: str) -> dict | None:
		"""What a cleared row's void needs to know of the document, or None when nothing can be in Xero."""
		if doctype == JOURNAL_ENTRY:
			from .world import SITE_URL  # world builds this stand-in: import it only when needed

			rows = self.db.query(
				f"SELECT company, posting_date FROM `tab{JOURNAL_ENTRY}` WHERE name = %(name)s",
				{"name": name},
			)
			if not rows:
				return None
			identity = marker_identity(SITE_URL, name, rows[0]["posting_date"])
			return {"company": rows[0]["company"], "xero_type": MANUAL_JOURNAL, "identity": identity}
		if doctype == PAYMENT_ENTRY:
			rows = self.db.query(
				"SELECT company, xero_payment_id FROM `tabPayment Entry` WHERE name = %(name)s",
				{"name": name},
			)
			if not rows or rows[0]["xero_payment_id"]:
				return None
			return {"company": rows[0]["company"], "xero_type": PAYMENT}
		rows = self.db.query(
			f"SELECT company, is_return, xero_id, xero_status FROM `tab{doctype}` WHERE name = %(name)s",
			{"name": name},
		)
		if not rows or not rows[0]["xero_id"] or (rows[0]["xero_status"] or "") in ("VOIDED", "DELETED"):
			return None
		doc = rows[0]
		return {
			"company": doc["company"],
			"xero_type": xero_type({"doctype": doctype, "is_return": doc["is_return"]}),
			"xero_id": doc["xero_id"],
			"xero_status": doc["xero_status"],
		}

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
		now = self.clock()
		doc = {**doc, "docstatus": 1}
		self._insert_document(doc, now)
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


def _applied_to(doc: dict) -> str | None:
	"""The invoice a return is applied to (ERPNext posts it there when update_outstanding_for_self is 0)."""
	if doc.get("is_return") and doc.get("return_against") and not doc.get("update_outstanding_for_self", 1):
		return doc["return_against"]
	return None
