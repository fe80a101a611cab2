"""Amounts in messages read as money: two decimals and the currency code, never a float's 60.0 or 0.0."""

from decimal import Decimal

from nexwave_xero_connector.sync.money import shown
from nexwave_xero_connector.sync.payments_from_xero import PaidInXero


def test_amounts_in_messages_have_two_decimals_and_the_currency_when_known():
	assert shown(60.0) == "60.00"
	assert shown(Decimal("0.0")) == "0.00"
	assert shown("1052", "NZD") == "1052.00 NZD"
	assert shown(Decimal("0.125")) == "0.12"  # to the cent as ERPNext rounds (half to even)


def test_a_payment_from_xero_describes_its_amount_as_money():
	paid = PaidInXero.of(
		{"payment_id": "pay-1", "amount": "60.0", "currency": "NZD", "target_number": "INV-0007"}
	)
	assert paid.describe() == "Xero payment of 60.00 NZD on INV-0007"
