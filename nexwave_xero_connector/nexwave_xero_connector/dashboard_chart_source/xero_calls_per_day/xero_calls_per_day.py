"""Dashboard chart source: Xero calls per day per organisation against its plan's budget (budget.py)."""

import frappe
from frappe import _
from frappe.utils.dashboard import cache_source

from nexwave_xero_connector.constants import LOG_DOCTYPE


@frappe.whitelist()
@cache_source
def get(
	chart_name=None,
	chart=None,
	no_cache=None,
	filters=None,
	from_date=None,
	to_date=None,
	timespan=None,
	time_interval=None,
	heatmap_year=None,
):
	"""The last 30 UTC days: pushes and background reading (stacked bars), the budget as a line."""
	from nexwave_xero_connector.budget import calls_per_day

	if not frappe.has_permission(LOG_DOCTYPE, "read"):
		frappe.throw(_("Not permitted to read the Xero Sync Log."), frappe.PermissionError)
	filters = frappe.parse_json(filters) or {}
	return calls_per_day(filters.get("company"))
