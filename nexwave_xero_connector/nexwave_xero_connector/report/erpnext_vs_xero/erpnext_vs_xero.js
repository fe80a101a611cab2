// Copyright (c) 2026, NexWave and contributors
// For license information, please see license.txt

const XERO_REPORT = "nexwave_xero_connector.nexwave_xero_connector.report.erpnext_vs_xero.erpnext_vs_xero.";

// Say what reading Xero will cost before anyone ticks Read Xero (the report runs on every filter change).
function show_xero_estimate(report) {
	const f = report.get_values();
	if (!f || !f.company || !f.from_date || !f.to_date) return;
	frappe
		.xcall(XERO_REPORT + "estimate", { company: f.company, from_date: f.from_date, to_date: f.to_date })
		.then((calls) => report.page.set_indicator(__("Reading Xero: about {0} API calls", [calls]), "blue"));
}

// The desk's own fixes, offered on each difference row.
window.nxc_xero_fix = function (button) {
	const { fix, doctype, name, log } = button.dataset;
	const api = "nexwave_xero_connector.api.";
	let done;
	if (fix === "Push") {
		done = frappe.xcall(api + "push", { doctype, name });
	} else if (fix === "Retry") {
		done = frappe.xcall(api + "retry", { names: [log] });
	} else if (fix === "Void in Xero") {
		// a Synced row of a document cancelled without the hook is flagged first; an Orphan is voided
		done = frappe.xcall(api + "scan_orphans").then(() => (log ? frappe.xcall(api + "void_in_xero", { names: [log] }) : null));
	} else if (fix === "Backfill") {
		frappe.set_route("Form", "Xero Sync Settings");
		return;
	}
	if (done) done.then(() => frappe.show_alert({ message: __("{0}: done for {1}", [__(fix), name || log]), indicator: "green" }));
};

function on_period_change() {
	show_xero_estimate(frappe.query_report);
	frappe.query_report.refresh();
}

frappe.query_reports["ERPNext vs Xero"] = {
	filters: [
		{
			fieldname: "company",
			label: __("Company"),
			fieldtype: "Link",
			options: "Company",
			reqd: 1,
			default: frappe.defaults.get_user_default("Company"),
			onchange: on_period_change,
		},
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			reqd: 1,
			default: frappe.datetime.month_start(),
			onchange: on_period_change,
		},
		{
			fieldname: "to_date",
			label: __("To Date"),
			fieldtype: "Date",
			reqd: 1,
			default: frappe.datetime.month_end(),
			onchange: on_period_change,
		},
		{
			fieldname: "read_xero",
			label: __("Read Xero"),
			fieldtype: "Check",
			default: 0,
			description: __("Compare with Xero (spends the API calls shown above)."),
		},
	],
	onload(report) {
		show_xero_estimate(report);
	},
	formatter(value, row, column, data, default_formatter) {
		if (column.fieldname === "xero_link" && data && data.xero_link) {
			return `<a href="${encodeURI(data.xero_link)}" target="_blank" rel="noopener">${__("Open in Xero")}</a>`;
		}
		if (column.fieldname === "fix" && data && data.fix) {
			const attr = (v) => frappe.utils.escape_html(v || "");
			return `<button class="btn btn-xs btn-default" onclick="nxc_xero_fix(this)" data-fix="${attr(data.fix)}"
				data-doctype="${attr(data.reference_doctype)}" data-name="${attr(data.reference_name)}"
				data-log="${attr(data.log)}">${__(data.fix)}</button>`;
		}
		value = default_formatter(value, row, column, data);
		if (column.fieldname === "category" && data && data.category && data.category !== "Figures") {
			return `<span class="indicator-pill orange">${value}</span>`;
		}
		return value;
	},
};
