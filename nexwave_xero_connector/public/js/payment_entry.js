// Xero sync on the Payment Entry form (additive: ERPNext's own handlers still run); see xero_invoice.js.
// A Payment Entry has no Xero ID of its own: its log row (one per entry, all its Xero payments) says it.
frappe.ui.form.on("Payment Entry", {
	refresh(frm) {
		nexwave_xero.refresh_invoice_form(frm);
	},
});
