// Xero Sync Log form: what happened in words, links to both sides, and the one action that fits.
frappe.ui.form.on("Xero Sync Log", {
	refresh(frm) {
		const api = "nexwave_xero_connector.api";
		const doc = frm.doc;
		// derived on the server from time (XeroSyncLog.onload): shows even when no worker runs
		const stuck = doc.status === "Queued" && Boolean((doc.__onload || {}).stuck);
		const can_manage =
			frappe.session.user === "Administrator" ||
			frappe.user.has_role(["Accounts Manager", "System Manager"]);

		frm.disable_save();
		frm.set_intro(nexwave_xero_log_intro(doc, stuck), nexwave_xero_log_colour(doc, stuck));

		if (doc.reference_doctype && doc.reference_name) {
			frm.add_custom_button(__("Open {0}", [__(doc.reference_doctype)]), () =>
				frappe.set_route("Form", doc.reference_doctype, doc.reference_name)
			);
		}
		// one button per Xero document: a Payment Entry's row may stand for several Xero payments
		((doc.__onload || {}).xero_links || []).forEach((link) => {
			const label = frappe.utils.escape_html(link.label); // it names the invoice a payment is on
			frm.add_custom_button(label, () => window.open(link.url, "_blank"));
		});
		if (!can_manage) {
			return;
		}
		if (doc.status === "Failed" || stuck) {
			frm.add_custom_button(__("Retry"), () => {
				frappe.xcall(`${api}.retry`, { names: [doc.name] }).then(() => frm.reload_doc());
			}).addClass("btn-primary");
		}
		if (doc.status === "Orphan") {
			frm.add_custom_button(__("Void in Xero"), () => {
				frappe.confirm(
					__("Void {0} in Xero? It is cancelled here but still live in Xero.", [
						doc.xero_number || doc.reference_name,
					]),
					() =>
						frappe
							.xcall(`${api}.void_in_xero`, { names: [doc.name] })
							.then(() => frm.reload_doc())
				);
			}).addClass("btn-danger");
		}
	},
});

function nexwave_xero_log_colour(doc, stuck) {
	if (stuck) {
		return "red";
	}
	return (
		{ Queued: "orange", Synced: "green", Failed: "red", Voided: "gray", Skipped: "gray", Orphan: "red" }[
			doc.status
		] || "gray"
	);
}

function nexwave_xero_log_intro(doc, stuck) {
	const message = doc.error_message ? frappe.utils.escape_html(doc.error_message) : "";
	const number = doc.xero_number || doc.xero_id || "";
	if (stuck) {
		return __("Stuck: queued but not moved for a while. The sweep keeps trying; press Retry to try now.") +
			(message ? "<br>" + message : "");
	}
	const intros = {
		Queued: doc.cancel_requested
			? __("Queued to be voided in Xero because the document was cancelled.")
			: __("Queued: it will be sent to Xero within a minute or two."),
		Synced: __("Sent to Xero as {0}.", [number]),
		Failed: __("Failed: nothing more will be tried until you fix the cause and press Retry."),
		Voided: __("Voided in Xero."),
		Skipped: __("Skipped: nothing was sent to Xero."),
		Orphan: __(
			"Cancelled here but still live in Xero. Check it in Xero, then press Void in Xero."
		),
	};
	// a payment made in Xero (xero_type XERO PAYMENT) moves the other way: recorded here, never sent there
	const pulled = {
		Queued: __("Queued: this payment made in Xero will be recorded here within a minute or two."),
		Synced: __("Payment made in Xero, recorded here."),
		Voided: __("Deleted in Xero: undone here."),
		Skipped: __("Skipped: nothing was recorded here."),
	};
	const own = doc.xero_type === "XERO PAYMENT" ? pulled : {};
	const intro = own[doc.status] || intros[doc.status] || "";
	return message ? `${intro}<br>${message}` : intro;
}
