"""The invoice kind: Sales Invoices, sales returns, Purchase Invoices and purchase returns, as Xero sales
invoices (ACCREC), bills (ACCPAY) and their credit notes (ACCRECCREDIT, ACCPAYCREDIT)."""

from __future__ import annotations

from ..config import PURCHASE_INVOICE, SALES_INVOICE
from ..model import Kind, Outcome, SyncRow
from .invoice_push import InvoicePush
from .invoice_undo import InvoiceUndo
from .protocol import Context, Item


class Invoices:
	"""Pushes each document as one Xero document; a cancel or delete voids or deletes it there."""

	name = "invoices"
	xero_types = tuple(k.value for k in (Kind.SALES_INVOICE, Kind.BILL, Kind.SALES_CREDIT, Kind.BILL_CREDIT))
	doctypes = (SALES_INVOICE, PURCHASE_INVOICE)
	writes_to_xero = True
	waits_for_invoices = False
	link_paths = {
		Kind.SALES_INVOICE.value: "/AccountsReceivable/View.aspx?InvoiceID=",
		Kind.BILL.value: "/AccountsPayable/View.aspx?InvoiceID=",
		Kind.SALES_CREDIT.value: "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID=",
		Kind.BILL_CREDIT.value: "/AccountsPayable/ViewCreditNote.aspx?creditNoteID=",
	}

	def title(self, row: SyncRow, outcome: Outcome, reference: str | None) -> None:
		"""The journal's words for a document."""
		return None

	def push(self, ctx: Context, items: list[Item]) -> None:
		"""Push the claim's documents, then undo those cancelled (before or while they were pushed)."""
		voids = [i for i in items if i.row.cancel_requested]
		pushes = [i for i in items if not i.row.cancel_requested]
		synced = ctx.report.synced
		InvoicePush(ctx).push(pushes, voids)
		if ctx.report.synced > synced:
			ctx.journal.wake_waiting(ctx.tenant_id, ctx.kinds.xero_types(lambda k: k.waits_for_invoices))
		self.undo(ctx, voids)

	def undo(self, ctx: Context, items: list[Item]) -> None:
		"""Void or delete in Xero what was cancelled or deleted in ERPNext; explain what cannot be."""
		InvoiceUndo(ctx).undo(items)


INVOICES = Invoices()
