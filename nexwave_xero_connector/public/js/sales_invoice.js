// Xero sync status on the Sales Invoice form (additive: ERPNext's own handlers still run).
frappe.ui.form.on("Sales Invoice", {
	refresh(frm) {
		if (frm.doc.docstatus === 0 || !frm.doc.xero_id) {
			return;
		}
		const status = frm.doc.xero_status || __("Sent");
		const colours = { PAID: "green", AUTHORISED: "blue", VOIDED: "gray", DELETED: "gray" };
		frm.dashboard.add_indicator(__("Xero: {0}", [status]), colours[frm.doc.xero_status] || "orange");
		const path = frm.doc.is_return
			? "AccountsReceivable/ViewCreditNote.aspx?creditNoteID="
			: "AccountsReceivable/View.aspx?InvoiceID=";
		frm.add_custom_button(
			__("View in Xero"),
			() => window.open("https://go.xero.com/" + path + encodeURIComponent(frm.doc.xero_id), "_blank"),
			__("View")
		);
	},
});
