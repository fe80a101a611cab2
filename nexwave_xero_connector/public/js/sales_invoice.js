// Xero sync on the Sales Invoice form (additive: ERPNext's own handlers still run); see xero_invoice.js.
frappe.ui.form.on("Sales Invoice", {
	refresh(frm) {
		nexwave_xero.refresh_invoice_form(frm);
	},
});
