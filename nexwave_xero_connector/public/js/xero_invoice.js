// Shared by the Sales Invoice and Purchase Invoice forms (loaded first through doctype_js lists in
// hooks.py): the Xero status indicator, View in Xero, Push to Xero and Retry. The server checks the
// user's roles again; the role test here only decides which buttons are worth showing.
frappe.provide("nexwave_xero");

nexwave_xero.API = "nexwave_xero_connector.api";
nexwave_xero.MANAGER_ROLES = ["Accounts Manager", "System Manager"];
nexwave_xero.STATUS_COLOURS = {
	Queued: "orange",
	Synced: "green",
	Failed: "red",
	Voided: "gray",
	Skipped: "gray",
	Orphan: "purple",
};
nexwave_xero.PUSHABLE = ["Failed", "Skipped"];

nexwave_xero.can_manage = function () {
	return frappe.session.user === "Administrator" || frappe.user.has_role(nexwave_xero.MANAGER_ROLES);
};

nexwave_xero.refresh_invoice_form = function (frm) {
	if (frm.is_new() || (frm.doc.docstatus === 0 && !frm.doc.xero_id)) {
		return;
	}
	const name = frm.doc.name;
	frappe
		.xcall(`${nexwave_xero.API}.sync_status`, { doctype: frm.doctype, name: name })
		.then((info) => {
			if (frm.doc.name !== name) {
				return; // the user moved to another document meanwhile
			}
			nexwave_xero.show_status(frm, info);
			nexwave_xero.add_buttons(frm, info);
			nexwave_xero.open_menu_leftwards(frm, __("Xero"));
		});
};

nexwave_xero.show_status = function (frm, info) {
	const row = info.row;
	nexwave_xero.show_payment_status(frm);
	if (row) {
		const stuck = row.status === "Queued" && row.stuck;
		frm.dashboard.add_indicator(
			__("Xero: {0}", [stuck ? __("Stuck") : __(row.status)]),
			stuck ? "red" : nexwave_xero.STATUS_COLOURS[row.status] || "gray"
		);
	} else if (frm.doc.xero_payment_id) {
		frm.dashboard.add_indicator(__("Xero: recorded from Xero"), "green");
	} else if (frm.doc.xero_id) {
		const colours = { PAID: "green", AUTHORISED: "blue", VOIDED: "gray", DELETED: "gray" };
		frm.dashboard.add_indicator(
			__("Xero: {0}", [frm.doc.xero_status || __("Sent")]),
			colours[frm.doc.xero_status] || "orange"
		);
	}
};

// What the status poll last read from Xero about the money (custom fields, document currency).
nexwave_xero.show_payment_status = function (frm) {
	const doc = frm.doc;
	if (!doc.xero_id || doc.xero_status === "VOIDED" || doc.xero_status === "DELETED") {
		return;
	}
	const settled = flt(doc.xero_amount_paid) + flt(doc.xero_amount_credited);
	let said = null;
	if (doc.xero_status === "PAID") {
		said = [__("Paid in Xero"), "green"];
	} else if (settled > 0 && flt(doc.xero_amount_due) > 0) {
		const due = format_currency(doc.xero_amount_due, doc.currency);
		said = [__("Part paid in Xero ({0} due)", [due]), "blue"];
	}
	if (said) {
		frm.dashboard.add_indicator(...said);
		// On a tabbed form the dashboard lives on the Connections tab: say it above the tabs as well.
		frm.set_intro(...said);
	}
};

nexwave_xero.add_buttons = function (frm, info) {
	const row = info.row;
	const group = __("Xero");
	// labels come translated from the server: one per Xero payment of a Payment Entry
	(info.xero_links || []).forEach((link) => {
		const label = frappe.utils.escape_html(link.label); // it names the invoice a payment is on
		frm.add_custom_button(label, () => window.open(link.url, "_blank"), group);
	});
	if (row) {
		frm.add_custom_button(
			__("Xero Sync Log"),
			() => frappe.set_route("Form", "Xero Sync Log", row.name),
			group
		);
	}
	if (!info.can_manage || !nexwave_xero.can_manage()) {
		return;
	}
	const pushable = !row || nexwave_xero.PUSHABLE.includes(row.status);
	// a Payment Entry made from a payment recorded in Xero is never pushed back
	if (frm.doc.docstatus === 1 && !frm.doc.xero_id && !frm.doc.xero_payment_id && pushable) {
		frm.add_custom_button(__("Push to Xero"), () => nexwave_xero.push(frm), group);
	}
	if (row && (row.status === "Failed" || (row.status === "Queued" && row.stuck))) {
		frm.add_custom_button(__("Retry"), () => nexwave_xero.retry(frm, [row.name]), group);
	}
};

// The group is often the toolbar's last button (always on a Payment Entry), and its labels can be long
// ("View in Xero: payment of ... on ..."): its menu opens from the button's right edge, inside the page.
nexwave_xero.open_menu_leftwards = function (frm, group) {
	frm.page.get_inner_group_button(group).find(".dropdown-menu").addClass("dropdown-menu-right");
};

nexwave_xero.push = function (frm) {
	frappe
		.xcall(`${nexwave_xero.API}.push`, { doctype: frm.doctype, name: frm.doc.name })
		.then((row) => {
			frappe.show_alert({
				message: __("Xero: {0}", [__(row.status)]),
				indicator: nexwave_xero.STATUS_COLOURS[row.status] || "gray",
			});
			frm.reload_doc();
		});
};

nexwave_xero.retry = function (frm, names) {
	frappe.xcall(`${nexwave_xero.API}.retry`, { names: names }).then(() => frm.reload_doc());
};
