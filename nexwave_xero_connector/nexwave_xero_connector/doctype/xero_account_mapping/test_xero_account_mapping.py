# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

from frappe.tests.utils import FrappeTestCase


class TestXeroAccountMapping(FrappeTestCase):
	"""Child table: behaviour is tested through its parent."""
