// Xero sync on the Purchase Invoice form (additive: ERPNext's own handlers still run); see xero_invoice.js.
frappe.ui.form.on("Purchase Invoice", {
	refresh(frm) {
		nexwave_xero.refresh_invoice_form(frm);
	},
});
