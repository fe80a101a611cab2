"""Names shared by the Frappe layer: doctypes, fields, statuses, jobs and cache keys."""

from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE

# ERPNext doctypes we read or extend
SALES_INVOICE_DOCTYPE = SALES_INVOICE
PURCHASE_INVOICE_DOCTYPE = PURCHASE_INVOICE
INVOICE_DOCTYPES = (SALES_INVOICE_DOCTYPE, PURCHASE_INVOICE_DOCTYPE)
CUSTOMER_DOCTYPE = "Customer"
SUPPLIER_DOCTYPE = "Supplier"
CONNECTED_APP_DOCTYPE = "Connected App"
TOKEN_CACHE_DOCTYPE = "Token Cache"

PAYMENT_ENTRY_DOCTYPE = "Payment Entry"

# Our doctypes
SETTINGS_DOCTYPE = "Xero Sync Settings"
LOG_DOCTYPE = "Xero Sync Log"
TAX_MAPPING_DOCTYPE = "Xero Tax Mapping"

# Custom fields on ERPNext doctypes (created by install.py)
XERO_SECTION_FIELD = "xero_section"
XERO_ID_FIELD = "xero_id"
# On a Payment Entry made from a payment recorded in Xero: that payment's PaymentID (unique, so a payment
# can never be recorded twice, whatever crashed where).
XERO_PAYMENT_ID_FIELD = "xero_payment_id"
XERO_STATUS_FIELD = "xero_status"
XERO_LAST_SYNCED_FIELD = "xero_last_synced"
XERO_AMOUNT_PAID_FIELD = "xero_amount_paid"
XERO_AMOUNT_CREDITED_FIELD = "xero_amount_credited"
XERO_AMOUNT_DUE_FIELD = "xero_amount_due"
XERO_FULLY_PAID_ON_FIELD = "xero_fully_paid_on"
XERO_CONTACT_ID_FIELD = "xero_contact_id"
# {tenant_id: contact_id} as JSON: a party can be a contact in several Xero organisations
XERO_CONTACT_MAP_FIELD = "xero_contact_map"

# Xero document types (sync.model.Kind values), by (doctype, is_return)
XERO_TYPES = {
	(SALES_INVOICE_DOCTYPE, False): "ACCREC",
	(SALES_INVOICE_DOCTYPE, True): "ACCRECCREDIT",
	(PURCHASE_INVOICE_DOCTYPE, False): "ACCPAY",
	(PURCHASE_INVOICE_DOCTYPE, True): "ACCPAYCREDIT",
	(PAYMENT_ENTRY_DOCTYPE, False): "PAYMENT",  # all of a Payment Entry's Xero payments (sync/payments.py)
}

# Background jobs
DRAIN_JOB = "nexwave_xero_connector.jobs.drain_tenant"
DRAIN_QUEUE = "long"
DRAIN_JOB_ID_PREFIX = "xero-drain::"
# frappe.cache key (per tenant) that exists while a drain of it is pending (events.wake_drain)
DRAIN_JOB_KEY = "xero-drain-job"

# Roles: managers may push, retry and void; Accounts User only reads the log
MANAGER_ROLES = ("Accounts Manager", "System Manager")

# Xero Sync Log statuses, in the order the accountant reads them
LOG_STATUSES = ("Queued", "Synced", "Failed", "Voided", "Skipped", "Orphan")

# Xero Sync Settings.stuck_after_minutes when left blank
DEFAULT_STUCK_AFTER_MINUTES = 30

# OAuth (oauth.py): Connected App provider, scope sets, plans and connection states
XERO_PROVIDER_NAME = "Xero"
OAUTH_SCOPE_SETS = {
	# accounting.payments: Payment Entries pushed as Xero payments (PUT/GET/POST /Payments); under granular
	# scopes Payments are not covered by accounting.invoices. Legacy's accounting.transactions covers them.
	"Granular": (
		"offline_access",
		"accounting.invoices",
		"accounting.payments",
		"accounting.contacts",
		"accounting.settings.read",
	),
	"Legacy": (
		"offline_access",
		"accounting.transactions",
		"accounting.contacts",
		"accounting.settings.read",
	),
}
DEFAULT_SCOPE_SET = "Granular"
XERO_PLAN_DAILY_LIMITS = {"Starter": 1000, "Standard or higher": 5000}
DEFAULT_DAILY_LIMIT = 5000
CONNECTION_NOT_CONNECTED = "Not Connected"
CONNECTION_CONNECTED = "Connected"
CONNECTION_BROKEN = "Broken"
# frappe.cache key prefix of the shared rate governor
GOVERNOR_KEY = "xero-governor"
# Refresh an unused login after this many days (Xero drops refresh tokens unused for 60 days)
IDLE_REFRESH_DAYS = 7

# Organisation facts (base currency, currencies, lock dates) cached per tenant for the pre-flight
ORG_CACHE_KEY = "xero-organisation"
ORG_CACHE_SECONDS = 6 * 3600
# The status poll's If-Modified-Since watermark per organisation (a DefaultValue row: durable, written in
# the poll's own transaction), and the job that runs it
STATUS_POLL_KEY = "xero_status_poll"
STATUS_POLL_JOB = "nexwave_xero_connector.status_job.poll_statuses"
