// Copyright (c) 2026, NexWave and contributors
// For license information, please see license.txt

const BACKFILL_RUN = "nexwave_xero_connector.backfill_job.";

frappe.ui.form.on("Xero Backfill Run", {
	refresh(frm) {
		if (["Queued", "Running"].includes(frm.doc.status) && !frm.doc.stop_requested) {
			frm.add_custom_button(__("Stop"), () =>
				frappe.xcall(BACKFILL_RUN + "stop_backfill", { run: frm.doc.name }).then(() => frm.reload_doc())
			);
		}
		if (["Stopped", "Paused", "Failed"].includes(frm.doc.status)) {
			frm.add_custom_button(__("Resume"), () =>
				frappe.xcall(BACKFILL_RUN + "resume_backfill", { run: frm.doc.name }).then(() => frm.reload_doc())
			);
		}
		frappe.realtime.off("xero_backfill_progress");
		frappe.realtime.on("xero_backfill_progress", (data) => {
			if (data.run === frm.doc.name && data.status) frm.reload_doc();
		});
	},
});
