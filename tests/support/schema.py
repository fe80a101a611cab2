"""Tables as Frappe creates them from our doctype JSON (same names, same columns, same types).

The integration and chaos tests run the journal's SQL against these on the local MariaDB, so the lease,
claim and cancel statements are exercised exactly as the Frappe adapter executes them.
"""

STANDARD = """
	name VARCHAR(140) NOT NULL PRIMARY KEY,
	creation DATETIME(6), modified DATETIME(6), modified_by VARCHAR(140), owner VARCHAR(140),
	docstatus INT(1) NOT NULL DEFAULT 0, idx INT(8) NOT NULL DEFAULT 0"""

CHILD = """
	parent VARCHAR(140), parentfield VARCHAR(140), parenttype VARCHAR(140)"""

TABLES = {
	"tabXero Sync Log": f"""{STANDARD},
	title VARCHAR(140), status VARCHAR(140) DEFAULT 'Queued', reference_doctype VARCHAR(140),
	reference_name VARCHAR(140), company VARCHAR(140), tenant_id VARCHAR(140), xero_type VARCHAR(140),
	xero_id VARCHAR(140), xero_number VARCHAR(140), xero_status VARCHAR(140), error_class VARCHAR(140),
	error_message TEXT, attempts INT(11) NOT NULL DEFAULT 0, next_attempt_at DATETIME(6),
	lease_owner VARCHAR(140), lease_expires_at DATETIME(6), send_started INT(1) NOT NULL DEFAULT 0,
	key_generation INT(11) NOT NULL DEFAULT 0, cancel_requested INT(1) NOT NULL DEFAULT 0,
	void_confirmed INT(1) NOT NULL DEFAULT 0, backfill INT(1) NOT NULL DEFAULT 0,
	queued_by VARCHAR(140), last_attempt_at DATETIME(6), synced_at DATETIME(6), request LONGTEXT,
	response LONGTEXT, sent_at DATETIME(6), sent_identity LONGTEXT, deleted_reference VARCHAR(140),
	error_log VARCHAR(140), xero_amount_paid DECIMAL(21,9), xero_amount_credited DECIMAL(21,9), xero_amount_due DECIMAL(21,9),
	xero_fully_paid_on DATE,
	UNIQUE KEY reference_doctype_reference_name (reference_doctype, reference_name),
	KEY status_tenant_id_index (status, tenant_id)""",
	"tabXero Sync Attempt": f"""{STANDARD},{CHILD},
	attempt INT(11) NOT NULL DEFAULT 0, started_at DATETIME(6), finished_at DATETIME(6),
	worker VARCHAR(140), action VARCHAR(140), outcome VARCHAR(140), message TEXT,
	calls INT(11) NOT NULL DEFAULT 0, error_log VARCHAR(140), KEY parent (parent)""",
	"tabXero Untracked Document": f"""{STANDARD},
	tenant_id VARCHAR(140), xero_type VARCHAR(140), xero_id VARCHAR(140), number VARCHAR(140),
	status VARCHAR(140) DEFAULT 'Orphan', xero_status VARCHAR(140), reference_doctype VARCHAR(140),
	reference_name VARCHAR(140), reason TEXT, found_at DATETIME(6), voided_at DATETIME(6),
	UNIQUE KEY xero_id (xero_id)""",
	# ERPNext's tables, cut down to what the connector reads and writes (custom fields included).
	"tabSales Invoice": f"""{STANDARD},
	company VARCHAR(140), customer VARCHAR(140), is_return INT(1) NOT NULL DEFAULT 0, data LONGTEXT,
	return_against VARCHAR(140),
	posting_date DATE, currency VARCHAR(140), party_account_currency VARCHAR(140),
	outstanding_amount DECIMAL(21,9),
	xero_id VARCHAR(140), xero_status VARCHAR(140), xero_last_synced DATETIME(6),
	xero_amount_paid DECIMAL(21,9), xero_amount_credited DECIMAL(21,9), xero_amount_due DECIMAL(21,9),
	xero_fully_paid_on DATE""",
	"tabPurchase Invoice": f"""{STANDARD},
	company VARCHAR(140), supplier VARCHAR(140), is_return INT(1) NOT NULL DEFAULT 0, data LONGTEXT,
	return_against VARCHAR(140),
	posting_date DATE, bill_no VARCHAR(140), currency VARCHAR(140), party_account_currency VARCHAR(140),
	outstanding_amount DECIMAL(21,9),
	xero_id VARCHAR(140), xero_status VARCHAR(140), xero_last_synced DATETIME(6),
	xero_amount_paid DECIMAL(21,9), xero_amount_credited DECIMAL(21,9), xero_amount_due DECIMAL(21,9),
	xero_fully_paid_on DATE""",
	"tabPayment Entry": f"""{STANDARD},
	company VARCHAR(140), payment_type VARCHAR(140), party_type VARCHAR(140), party VARCHAR(140), data LONGTEXT,
	posting_date DATE, paid_from VARCHAR(140), paid_to VARCHAR(140), mode_of_payment VARCHAR(140),
	reference_no VARCHAR(140), xero_payment_id VARCHAR(140),
	UNIQUE KEY xero_payment_id (xero_payment_id)""",
	"tabPayment Entry Reference": f"""{STANDARD},{CHILD},
	reference_doctype VARCHAR(140), reference_name VARCHAR(140), allocated_amount DECIMAL(21,9),
	exchange_rate DECIMAL(21,9), KEY parent (parent)""",
	"tabCompany": f"""{STANDARD}, default_currency VARCHAR(140)""",
	"tabCustomer": f"""{STANDARD}, customer_name VARCHAR(140), email_id VARCHAR(140), tax_id VARCHAR(140),
	xero_contact_id TEXT""",
	"tabSupplier": f"""{STANDARD}, supplier_name VARCHAR(140), email_id VARCHAR(140), tax_id VARCHAR(140),
	xero_contact_id TEXT""",
}


def create_all(cursor) -> None:
	"""Create every table (InnoDB, utf8mb4) in the current database."""
	for table, columns in TABLES.items():
		cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
		cursor.execute(
			f"CREATE TABLE `{table}` ({columns}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
		)
