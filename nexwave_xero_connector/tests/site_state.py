"""What the connector's tests must leave as they found it: Xero Sync Settings and the masters.

Every test class of the app derives from XeroTestCase: once FrappeTestCase has rolled the class back,
its state is compared with the one it started from, and a class that leaves anything behind (a committed
Single, a Company, a Connected App) fails there, by name. The first class also records the state the
suite started from, which the suite's last test (test_zz_site_unchanged) compares against.
"""

from __future__ import annotations

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils.password import get_decrypted_password

from nexwave_xero_connector.constants import (
	CONNECTED_APP_DOCTYPE,
	LOG_DOCTYPE,
	SETTINGS_DOCTYPE,
	TOKEN_CACHE_DOCTYPE,
)

# The state the first test class of this run started from (None until one ran).
SUITE_START: dict | None = None
CLASSES_CHECKED: list[str] = []


def snapshot() -> dict:
	"""The settings (content only, child rows in order, whether a secret is stored) and the masters the
	connector's tests touch, read from the database (never from the document cache)."""
	settings = frappe.get_single(SETTINGS_DOCTYPE).as_dict(no_default_fields=True, convert_dates_to_str=True)
	settings.pop("client_secret", None)
	return {
		"settings": settings,
		"client_secret_stored": bool(
			get_decrypted_password(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE, "client_secret", raise_exception=False)
		),
		"companies": sorted(frappe.get_all("Company", pluck="name")),
		"connected_apps": sorted(frappe.get_all(CONNECTED_APP_DOCTYPE, pluck="name")),
		"token_caches": sorted(frappe.get_all(TOKEN_CACHE_DOCTYPE, pluck="name")),
		"log_rows": frappe.db.count(LOG_DOCTYPE),
	}


class XeroTestCase(FrappeTestCase):
	"""FrappeTestCase that fails the class if it leaves the site changed after its rollback."""

	@classmethod
	def setUpClass(cls):
		global SUITE_START
		# Registered before FrappeTestCase's own cleanups, so it runs after them (LIFO): after the rollback.
		cls.addClassCleanup(cls._check_site_unchanged)
		super().setUpClass()
		frappe.clear_document_cache(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE)
		cls._site_before = snapshot()
		if SUITE_START is None:
			SUITE_START = cls._site_before

	@classmethod
	def _check_site_unchanged(cls):
		# the class rollback does not clear the document cache: a cached copy of rolled-back settings
		# would otherwise leak into the next class
		frappe.clear_document_cache(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE)
		after = snapshot()
		CLASSES_CHECKED.append(cls.__name__)
		if after != cls._site_before:
			changed = sorted(k for k in after if after[k] != cls._site_before[k])
			raise AssertionError(
				f"{cls.__module__}.{cls.__name__} left the site changed ({', '.join(changed)}): "
				f"before {[cls._site_before[k] for k in changed]}, after {[after[k] for k in changed]}"
			)
