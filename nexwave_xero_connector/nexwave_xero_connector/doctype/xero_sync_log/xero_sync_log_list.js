// Xero Sync Log list: one indicator per status, bulk Retry and bulk Void in Xero for managers.
// "Stuck" is derived on the server from time (api.stuck_rows), so it shows even when no worker runs.
// Filter by Reference Document Type (or Xero Type PAYMENT) to see only Payment Entries.
const XERO_SYNC_API = "nexwave_xero_connector.api";
const xero_stuck_rows = new Set();
// How the payment drain's message begins while a payment waits for its invoice (sync/kinds/payments_out.py
// WAITING_PREFIX); the workspace's "Payments waiting for their invoice" card filters on it too.
const XERO_WAITING_PREFIX = "Waiting for ";

frappe.listview_settings["Xero Sync Log"] = {
	add_fields: ["status", "reference_doctype", "xero_number", "error_class", "error_message"],
	hide_name_column: true,

	get_indicator(doc) {
		if (doc.status === "Queued" && xero_stuck_rows.has(doc.name)) {
			return [__("Stuck"), "red", "status,=,Queued"];
		}
		if (
			doc.status === "Queued" &&
			doc.reference_doctype === "Payment Entry" &&
			(doc.error_message || "").startsWith(XERO_WAITING_PREFIX)
		) {
			return [__("Waiting for invoice"), "orange", "status,=,Queued"];
		}
		const colours = {
			Queued: "orange",
			Synced: "green",
			Failed: "red",
			Voided: "gray",
			Skipped: "gray",
			Orphan: "purple",
		};
		return [__(doc.status), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},

	refresh(listview) {
		const queued = (listview.data || []).filter((d) => d.status === "Queued").map((d) => d.name);
		if (!queued.length) {
			return;
		}
		frappe.xcall(`${XERO_SYNC_API}.stuck_rows`, { names: queued }).then((stuck) => {
			const changed = queued.some((name) => xero_stuck_rows.has(name) !== stuck.includes(name));
			queued.forEach((name) => xero_stuck_rows.delete(name));
			stuck.forEach((name) => xero_stuck_rows.add(name));
			if (changed) {
				listview.render();
			}
		});
	},

	onload(listview) {
		frappe.xcall(`${XERO_SYNC_API}.connection_alerts`).then((alerts) => {
			if (alerts && alerts.length) {
				listview.page.set_indicator(__("Xero paused"), "red");
				listview.page.add_inner_message(alerts.map((a) => frappe.utils.escape_html(a.message)).join(" "));
			}
		});
		const can_manage =
			frappe.session.user === "Administrator" ||
			frappe.user.has_role(["Accounts Manager", "System Manager"]);
		if (!can_manage) {
			return;
		}
		listview.page.add_action_item(__("Retry"), () => {
			listview.call_for_selected_items(`${XERO_SYNC_API}.retry`);
		});
		listview.page.add_action_item(__("Void in Xero"), () => {
			frappe.confirm(
				__(
					"Void the selected Orphan documents in Xero? Rows that are not Orphans are left as they are."
				),
				() => listview.call_for_selected_items(`${XERO_SYNC_API}.void_in_xero`)
			);
		});
	},
};
