"""Names shared by the Frappe layer: doctypes, fields, jobs and site-config keys."""

from nexwave_xero_connector.sync.config import PURCHASE_INVOICE, SALES_INVOICE

APP_NAME = "nexwave_xero_connector"
MODULE_NAME = "Nexwave Xero Connector"

# ERPNext doctypes we read or extend
SALES_INVOICE_DOCTYPE = SALES_INVOICE
PURCHASE_INVOICE_DOCTYPE = PURCHASE_INVOICE
INVOICE_DOCTYPES = (SALES_INVOICE_DOCTYPE, PURCHASE_INVOICE_DOCTYPE)
CUSTOMER_DOCTYPE = "Customer"
SUPPLIER_DOCTYPE = "Supplier"
PARTY_DOCTYPES = (CUSTOMER_DOCTYPE, SUPPLIER_DOCTYPE)
CONNECTED_APP_DOCTYPE = "Connected App"
TOKEN_CACHE_DOCTYPE = "Token Cache"

PAYMENT_ENTRY_DOCTYPE = "Payment Entry"

# Our doctypes
SETTINGS_DOCTYPE = "Xero Sync Settings"
LOG_DOCTYPE = "Xero Sync Log"
ATTEMPT_DOCTYPE = "Xero Sync Attempt"
TENANT_MAP_DOCTYPE = "Xero Tenant Map"
TAX_MAPPING_DOCTYPE = "Xero Tax Mapping"
ACCOUNT_MAPPING_DOCTYPE = "Xero Account Mapping"
TRACKING_MAPPING_DOCTYPE = "Xero Tracking Mapping"

# Custom fields on ERPNext doctypes (created by install.py)
XERO_SECTION_FIELD = "xero_section"
XERO_ID_FIELD = "xero_id"
XERO_STATUS_FIELD = "xero_status"
XERO_LAST_SYNCED_FIELD = "xero_last_synced"
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

# Statuses of Xero Sync Log rows that the log clean-up may delete
CLEARABLE_LOG_STATUSES = ("Synced", "Voided", "Skipped")

# Background jobs
DRAIN_JOB = "nexwave_xero_connector.jobs.drain_tenant"
DRAIN_QUEUE = "long"
DRAIN_JOB_ID_PREFIX = "xero-drain::"

# Site-config keys that point the app at Xero (or at a sandbox/emulator)
CONF_API_URL = "xero_api_url"
CONF_IDENTITY_URL = "xero_identity_url"
CONF_TOKEN_URL = "xero_token_url"
CONF_REVOKE_URL = "xero_revoke_url"
CONF_AUTHORIZE_URL = "xero_authorize_url"

# Roles: managers may push, retry and void; Accounts User only reads the log
MANAGER_ROLES = ("Accounts Manager", "System Manager")

# Xero Sync Log statuses, in the order the accountant reads them
LOG_STATUSES = ("Queued", "Synced", "Failed", "Voided", "Skipped", "Orphan")

# Xero Sync Settings.stuck_after_minutes when left blank
DEFAULT_STUCK_AFTER_MINUTES = 30

# Deep links into Xero's web app, by Xero document type (sync.model.Kind values)
XERO_LOGIN_URL = "https://go.xero.com/organisationlogin/default.aspx"
XERO_APP_URL = "https://go.xero.com"
XERO_DEEP_LINK_PATHS = {
	"ACCREC": "/AccountsReceivable/View.aspx?InvoiceID=",
	"ACCPAY": "/AccountsPayable/View.aspx?InvoiceID=",
	"ACCRECCREDIT": "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID=",
	"ACCPAYCREDIT": "/AccountsPayable/ViewCreditNote.aspx?creditNoteID=",
}

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
# Roles allowed to call the connector's whitelisted methods
GOVERNOR_KEY = "xero-governor"
# Refresh an unused login after this many days (Xero drops refresh tokens unused for 60 days)
IDLE_REFRESH_DAYS = 7

# Organisation facts (base currency, currencies, lock dates) cached per tenant for the pre-flight
ORG_CACHE_KEY = "xero-organisation"
ORG_CACHE_SECONDS = 6 * 3600
# When each organisation was last asked what was voided or deleted in Xero (the drift scan)
DRIFT_SCAN_KEY = "xero-drift-scan"
