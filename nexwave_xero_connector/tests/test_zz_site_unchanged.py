"""The suite's last test (Frappe's runner walks the app's folders and files in name order): the site's
Xero connection is, row for row, as the suite's first class found it."""

from nexwave_xero_connector.tests import site_state


class TestSiteUnchanged(site_state.XeroTestCase):
	def test_the_sites_connection_rows_are_as_the_suite_found_them(self):
		others = [c for c in site_state.CLASSES_CHECKED if c != type(self).__name__]
		self.assertTrue(
			others,
			"no other test class ran before this one: run the whole suite "
			"(bench --site SITE run-tests --app nexwave_xero_connector)",
		)
		self.assertEqual(site_state.differences(site_state.SUITE_START, site_state.snapshot()), [])
