"""Which system owns a company's payments: nobody's are copied until its binding names ERPNext or Xero."""

from nexwave_xero_connector.sync.config import (
	PAYMENTS_IN_ERPNEXT,
	PAYMENTS_IN_XERO,
	PAYMENTS_NOT_SYNCED,
	SyncConfig,
	TenantLink,
)


def test_payments_are_not_synced_until_the_binding_names_an_owner():
	config = SyncConfig(
		tenants=(
			TenantLink("Kiwi Ltd", "t-1"),
			TenantLink("Pos Ltd", "t-4", payments_owned_by=PAYMENTS_IN_ERPNEXT),
			TenantLink("Roo Pty", "t-2", payments_owned_by=PAYMENTS_IN_XERO),
			TenantLink("Odd Ltd", "t-3", payments_owned_by="something else"),
		)
	)
	assert config.payments_owner("Kiwi Ltd") == PAYMENTS_NOT_SYNCED
	assert config.payments_owner("Pos Ltd") == PAYMENTS_IN_ERPNEXT
	assert config.payments_owner("Roo Pty") == PAYMENTS_IN_XERO
	assert config.payments_owner("Odd Ltd") == PAYMENTS_NOT_SYNCED
	assert config.payments_owner("Unbound Ltd") == PAYMENTS_NOT_SYNCED
	# only a company whose payments ERPNext owns pushes its Payment Entries
	assert [config.pushes_payments(c) for c in ("Kiwi Ltd", "Pos Ltd", "Roo Pty")] == [False, True, False]
