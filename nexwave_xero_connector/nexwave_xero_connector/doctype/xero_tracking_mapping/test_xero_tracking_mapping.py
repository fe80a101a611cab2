# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from nexwave_xero_connector.tests.site_state import XeroTestCase


class TestXeroTrackingMapping(XeroTestCase):
	"""Child table: behaviour is tested through its parent."""
