// Xero Untracked Document form: the manager's two actions on an Orphan copy.
frappe.ui.form.on("Xero Untracked Document", {
	refresh(frm) {
		const api = "nexwave_xero_connector.reconcile_job";
		const doc = frm.doc;
		const can_manage =
			frappe.session.user === "Administrator" ||
			frappe.user.has_role(["Accounts Manager", "System Manager"]);

		frm.disable_save();
		frm.set_intro(doc.reason || "", { Orphan: "red", Voided: "gray", Ignored: "gray" }[doc.status]);
		if (doc.reference_doctype && doc.reference_name) {
			frm.add_custom_button(__("Open {0}", [__(doc.reference_doctype)]), () =>
				frappe.set_route("Form", doc.reference_doctype, doc.reference_name)
			);
		}
		if (!can_manage || doc.status !== "Orphan") {
			return;
		}
		frm.add_custom_button(__("Ignore"), () =>
			frappe.xcall(`${api}.ignore_untracked`, { names: [doc.name] }).then(() => frm.reload_doc())
		);
		frm.add_custom_button(__("Void in Xero"), () => {
			frappe.confirm(
				__("Void {0} in Xero? No Xero Sync Log row points to it.", [doc.number || doc.xero_id]),
				() =>
					frappe
						.xcall(`${api}.void_untracked`, { names: [doc.name] })
						.then(() => frm.reload_doc())
			);
		}).addClass("btn-danger");
	},
});
