"""Which system owns a company's payments: ERPNext unless its binding says Xero."""

from nexwave_xero_connector.sync.config import PAYMENTS_IN_ERPNEXT, PAYMENTS_IN_XERO, SyncConfig, TenantLink


def test_erpnext_owns_payments_unless_the_binding_says_xero():
	config = SyncConfig(
		tenants=(
			TenantLink("Kiwi Ltd", "t-1"),
			TenantLink("Roo Pty", "t-2", payments_owned_by=PAYMENTS_IN_XERO),
			TenantLink("Odd Ltd", "t-3", payments_owned_by="something else"),
		)
	)
	assert config.payments_owner("Kiwi Ltd") == PAYMENTS_IN_ERPNEXT
	assert config.payments_owner("Roo Pty") == PAYMENTS_IN_XERO
	assert config.payments_owner("Odd Ltd") == PAYMENTS_IN_ERPNEXT
	assert config.payments_owner("Unbound Ltd") == PAYMENTS_IN_ERPNEXT
