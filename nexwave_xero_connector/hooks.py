app_name = "nexwave_xero_connector"
app_title = "NexWave Xero Connector"
app_publisher = "NexWave"
app_description = "Crash-safe push of ERPNext invoices, credit notes and bills to Xero"
app_email = "dev@nexwave.example"
app_license = "mit"

# "org/repo" form: frappe 15 resolves a bare "erpnext" through api.github.com, which fails offline
required_apps = ["frappe/erpnext"]

# Installation
# ------------
after_install = "nexwave_xero_connector.install.after_install"
after_migrate = "nexwave_xero_connector.install.after_migrate"

# Desk scripts on ERPNext forms (additive frappe.ui.form.on handlers)
# xero_invoice.js holds the shared helper; each doctype's file only binds it to its form.
doctype_js = {
	"Sales Invoice": ["public/js/xero_invoice.js", "public/js/sales_invoice.js"],
	"Purchase Invoice": ["public/js/xero_invoice.js", "public/js/purchase_invoice.js"],
	"Payment Entry": ["public/js/xero_invoice.js", "public/js/payment_entry.js"],
	"Journal Entry": ["public/js/xero_invoice.js", "public/js/journal_entry.js"],
}

# Document events: all run inside the document's own transaction and only write the outbox row.
# on_trash runs before Frappe's link checks, so the log row lets go of a deleted document's name.
doc_events = {
	("Sales Invoice", "Purchase Invoice"): {
		"on_submit": "nexwave_xero_connector.events.queue_push",
		"on_cancel": "nexwave_xero_connector.events.request_void",
		"on_trash": "nexwave_xero_connector.events.detach_on_delete",
	},
	"Payment Entry": {
		"on_submit": "nexwave_xero_connector.events.queue_payment",
		"on_cancel": "nexwave_xero_connector.events.request_void",
		"on_trash": "nexwave_xero_connector.events.detach_on_delete",
	},
	"Journal Entry": {
		"on_submit": "nexwave_xero_connector.journal_entries.queue_journal_entry",
		"on_cancel": "nexwave_xero_connector.events.request_void",
		"on_trash": "nexwave_xero_connector.events.detach_on_delete",
	},
}

# Xero's webhook: an unsigned request answers 401 even when Frappe failed on its body before the endpoint
# ran (webhook.py)
after_request = ["nexwave_xero_connector.webhook.refuse_unsigned"]

# Scheduled tasks: every minute wake drains for queues nobody is draining (new, retry due, or lease
# expired), and read back from Xero (status, amounts, drift, untracked copies, payments) for each
# organisation whose background budget says a read is due (sync/background.py: 2% of the plan's daily
# calls with webhooks, 10% without, pushes first); every hour look for documents cancelled behind our back
scheduler_events = {
	"cron": {
		"* * * * *": [
			"nexwave_xero_connector.jobs.sweep",
			"nexwave_xero_connector.status_job.read_due",
		],
	},
	"hourly": [
		"nexwave_xero_connector.jobs.scan_orphans",
		"nexwave_xero_connector.backfill_job.resume_paused",
	],
	"daily": ["nexwave_xero_connector.oauth.refresh_idle_connection"],
}

# Log Settings clears old finished rows (Synced, Voided, Skipped) after this many days
default_log_clearing_doctypes = {"Xero Sync Log": 90}

# Testing
# -------
# ERPNext's own preparation (setup wizard) on a site with no Company yet, so its test factories work here
# too; never on a site in use (it deletes every Item Price). The suite keeps away from the site's Xero
# connection: tests/site_state.py.
before_tests = "nexwave_xero_connector.tests.site_state.before_tests"

# The workspace's status banner (a Custom HTML Block: what stops pushes right now)
fixtures = [{"dt": "Custom HTML Block", "filters": [["name", "=", "Xero Sync Status"]]}]
