"""Install and migrate hooks: the custom fields the connector keeps on ERPNext documents."""

from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

from nexwave_xero_connector.constants import (
	CUSTOMER_DOCTYPE,
	INVOICE_DOCTYPES,
	PAYMENT_ENTRY_DOCTYPE,
	SUPPLIER_DOCTYPE,
	XERO_AMOUNT_CREDITED_FIELD,
	XERO_AMOUNT_DUE_FIELD,
	XERO_AMOUNT_PAID_FIELD,
	XERO_CONTACT_ID_FIELD,
	XERO_CONTACT_MAP_FIELD,
	XERO_FULLY_PAID_ON_FIELD,
	XERO_ID_FIELD,
	XERO_LAST_SYNCED_FIELD,
	XERO_PAYMENT_ID_FIELD,
	XERO_SECTION_FIELD,
	XERO_STATUS_FIELD,
)

# Sync metadata: written by background jobs, never by users, never copied to an amendment.
_SYNC_FIELD = {"read_only": 1, "allow_on_submit": 1, "no_copy": 1, "print_hide": 1}


def after_install():
	"""Create the custom fields once the app is installed."""
	make_custom_fields()


def after_migrate():
	"""Re-create the custom fields on every migrate (idempotent)."""
	make_custom_fields()


def make_custom_fields():
	"""Create or update the Xero fields on invoices and parties."""
	create_custom_fields(get_custom_fields(), update=True)


def get_custom_fields() -> dict[str | tuple[str, ...], list[dict]]:
	"""Return the custom fields keyed by doctype, as create_custom_fields expects."""
	invoice_fields = [
		{
			"fieldname": XERO_SECTION_FIELD,
			"fieldtype": "Section Break",
			"label": "Xero",
			"insert_after": "remarks",
			"collapsible": 1,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_ID_FIELD,
			"fieldtype": "Data",
			"label": "Xero ID",
			"insert_after": XERO_SECTION_FIELD,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_STATUS_FIELD,
			"fieldtype": "Data",
			"label": "Xero Status",
			"insert_after": XERO_ID_FIELD,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_LAST_SYNCED_FIELD,
			"fieldtype": "Datetime",
			"label": "Xero Last Synced",
			"insert_after": XERO_STATUS_FIELD,
			**_SYNC_FIELD,
		},
		# What Xero says about the money, kept by the status poll (status_job). In the document's currency;
		# for a return (a credit note in Xero): paid = refunded, credited = allocated, due = credit left.
		{
			"fieldname": XERO_AMOUNT_PAID_FIELD,
			"fieldtype": "Currency",
			"label": "Paid in Xero",
			"options": "currency",
			"insert_after": XERO_LAST_SYNCED_FIELD,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_AMOUNT_CREDITED_FIELD,
			"fieldtype": "Currency",
			"label": "Credited in Xero",
			"options": "currency",
			"insert_after": XERO_AMOUNT_PAID_FIELD,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_AMOUNT_DUE_FIELD,
			"fieldtype": "Currency",
			"label": "Due in Xero",
			"options": "currency",
			"insert_after": XERO_AMOUNT_CREDITED_FIELD,
			**_SYNC_FIELD,
		},
		{
			"fieldname": XERO_FULLY_PAID_ON_FIELD,
			"fieldtype": "Date",
			"label": "Fully Paid in Xero On",
			"insert_after": XERO_AMOUNT_DUE_FIELD,
			**_SYNC_FIELD,
		},
	]
	party_fields = [
		{
			"fieldname": XERO_CONTACT_ID_FIELD,
			"fieldtype": "Data",
			"label": "Xero Contact ID",
			"insert_after": "tax_id",
			"read_only": 1,
			"no_copy": 1,
		},
		{
			# the per-organisation truth behind xero_contact_id (which shows the latest one)
			"fieldname": XERO_CONTACT_MAP_FIELD,
			"fieldtype": "Small Text",
			"label": "Xero Contacts by Organisation",
			"insert_after": XERO_CONTACT_ID_FIELD,
			"read_only": 1,
			"hidden": 1,
			"no_copy": 1,
		},
	]
	entry_fields = [
		{
			# Set only on entries made from a payment recorded in Xero; unique (empty stays NULL), so the
			# database itself refuses a second entry for one Xero payment.
			"fieldname": XERO_PAYMENT_ID_FIELD,
			"fieldtype": "Data",
			"label": "Xero Payment ID",
			"insert_after": "reference_date",
			"unique": 1,
			"search_index": 0,
			**_SYNC_FIELD,
		},
	]
	return {
		INVOICE_DOCTYPES: invoice_fields,
		(CUSTOMER_DOCTYPE, SUPPLIER_DOCTYPE): party_fields,
		PAYMENT_ENTRY_DOCTYPE: entry_fields,
	}
