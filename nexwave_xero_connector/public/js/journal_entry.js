// Xero sync on the Journal Entry form (additive: ERPNext's own handlers still run); see xero_invoice.js.
// A Journal Entry has no Xero ID field of its own: its log row (one per entry) says where it is in Xero.
frappe.ui.form.on("Journal Entry", {
	refresh(frm) {
		nexwave_xero.refresh_invoice_form(frm);
	},
});
