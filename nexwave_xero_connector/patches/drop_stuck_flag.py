"""Drop Xero Sync Log.stuck: whether a row is stuck is now derived from time where it is shown (a flag
set by the minute job stayed unset exactly when no worker ran). Frappe's model sync leaves the column
of a removed field in place, so this removes it once the field is gone from the doctype."""

import frappe

from nexwave_xero_connector.constants import LOG_DOCTYPE


def execute():
	if frappe.get_meta(LOG_DOCTYPE).has_field("stuck"):
		return  # the field still exists (an older version of the app): keep its column
	if frappe.db.has_column(LOG_DOCTYPE, "stuck"):
		frappe.db.sql_ddl(f"ALTER TABLE `tab{LOG_DOCTYPE}` DROP COLUMN `stuck`")
