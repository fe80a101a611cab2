"""The suite's last test (files run in name order): the site is as the suite's first class found it."""

from nexwave_xero_connector.tests import site_state


class TestSiteUnchanged(site_state.XeroTestCase):
	def test_settings_and_masters_are_as_the_suite_found_them(self):
		others = [c for c in site_state.CLASSES_CHECKED if c != type(self).__name__]
		self.assertTrue(
			others,
			"no other test class ran before this one: run the whole suite "
			"(bench --site SITE run-tests --app nexwave_xero_connector)",
		)
		self.assertEqual(site_state.snapshot(), site_state.SUITE_START)
