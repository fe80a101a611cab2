frappe.provide("frappe.dashboards.chart_sources");

// Xero calls per day (UTC) of a company's organisation, pushes and background reading stacked, against
// the background budget; without a company, every bound organisation together.
frappe.dashboards.chart_sources["Xero Calls per Day"] = {
	method: "nexwave_xero_connector.nexwave_xero_connector.dashboard_chart_source.xero_calls_per_day.xero_calls_per_day.get",
	filters: [
		{
			fieldname: "company",
			label: __("Company"),
			fieldtype: "Link",
			options: "Company",
		},
	],
};
