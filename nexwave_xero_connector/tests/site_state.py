"""What the connector's tests never touch on the site they run on, and how they keep away from it.

`bench --site SITE run-tests --app nexwave_xero_connector` may run on a site in use. The suite never reads
nor writes that site's Xero connection: its Xero Sync Settings (the Singles rows, the child rows, the
encrypted secrets), its Connected Apps and its Token Caches. Every test class derives from XeroTestCase,
which for the length of the class:

- gives the app settings of its own (SettingsUnderTest, in memory, behind the settings functions of
  adapters), so no test depends on whether the site is connected, bound or never set up;
- holds every frappe.db.commit, so all a test writes (its own Connected App and Token Cache included) goes
  with FrappeTestCase's class rollback and is never visible to the site's workers;
- records frappe.enqueue instead of reaching Redis (a now=True call still runs inline), so no worker
  listening on the site's queues ever gets a test's job;
- reads the rows of the site's connection when it starts and compares them, row for row (names and every
  column, `modified` included), once it is rolled back: a class that leaves anything changed fails there,
  by table. test_zz_site_unchanged, the suite's last test, compares the end of the suite with its start.
"""

from __future__ import annotations

import copy
import functools
from unittest.mock import patch

import frappe
from frappe import _
from frappe.tests.utils import FrappeTestCase

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import (
	CONNECTED_APP_DOCTYPE,
	LOG_DOCTYPE,
	SETTINGS_DOCTYPE,
	TOKEN_CACHE_DOCTYPE,
)
from nexwave_xero_connector.tests.utils import EnqueueRecorder

# The state the first test class of this run started from (None until one ran).
SUITE_START: dict | None = None
CLASSES_CHECKED: list[str] = []

CONNECTION_DOCTYPES = (SETTINGS_DOCTYPE, CONNECTED_APP_DOCTYPE, TOKEN_CACHE_DOCTYPE)


def before_tests() -> None:
	"""The app's before_tests hook (bench run-tests --app nexwave_xero_connector).

	ERPNext's own preparation runs its setup wizard on a site without a Company, but it also deletes
	every Item Price and rewrites Selling and Stock Settings: it runs only on a site with no Company yet
	(a new test site). Frappe makes test records for every DocType the app's DocTypes link to; those of
	Connected App and Token Cache would be new rows next to the site's own connection, and the suite
	makes its own, so they are marked as made for this run."""
	if not frappe.db.a_row_exists("Company"):
		from erpnext.setup.utils import before_tests as prepare_new_site

		prepare_new_site()
	for doctype in (CONNECTED_APP_DOCTYPE, TOKEN_CACHE_DOCTYPE):
		frappe.local.test_objects.setdefault(doctype, [])


# ---- what is compared --------------------------------------------------------------------------------


def connection_rows() -> dict[str, list[dict]]:
	"""Every row of the site's Xero connection, straight from the database, in a stable order."""
	queries = {
		"tabSingles": ("SELECT * FROM `tabSingles` WHERE doctype = %(settings)s ORDER BY field", {}),
		"tabConnected App": ("SELECT * FROM `tabConnected App` ORDER BY name", {}),
		"tabToken Cache": ("SELECT * FROM `tabToken Cache` ORDER BY name", {}),
		"tabOAuth Scope": (
			"SELECT * FROM `tabOAuth Scope` WHERE parenttype IN %(parents)s ORDER BY name",
			{"parents": (CONNECTED_APP_DOCTYPE, TOKEN_CACHE_DOCTYPE)},
		),
		"tabQuery Parameters": (
			"SELECT * FROM `tabQuery Parameters` WHERE parenttype = %(app)s ORDER BY name",
			{"app": CONNECTED_APP_DOCTYPE},
		),
		"__Auth": (
			"SELECT * FROM `__Auth` WHERE doctype IN %(doctypes)s ORDER BY doctype, name, fieldname",
			{"doctypes": CONNECTION_DOCTYPES},
		),
	}
	# the settings' child tables hold nothing else: every row of them is the site's
	for df in frappe.get_meta(SETTINGS_DOCTYPE).get_table_fields():
		queries[f"tab{df.options}"] = (f"SELECT * FROM `tab{df.options}` ORDER BY name", {})
	params = {"settings": SETTINGS_DOCTYPE, "app": CONNECTED_APP_DOCTYPE}
	return {
		table: list(frappe.db.sql(sql, {**params, **extra}, as_dict=True))
		for table, (sql, extra) in queries.items()
	}


def snapshot() -> dict:
	"""The connection's rows, and the masters and log the connector's tests write to."""
	return {
		"rows": connection_rows(),
		"companies": sorted(frappe.get_all("Company", pluck="name")),
		"log_rows": frappe.db.count(LOG_DOCTYPE),
	}


def differences(before: dict, after: dict) -> list[str]:
	"""What changed between two snapshots, one line per table or value, naming the rows."""
	found = []
	for table in sorted(set(before["rows"]) | set(after["rows"])):
		old, new = before["rows"].get(table, []), after["rows"].get(table, [])
		if old != new:
			gone = [r for r in old if r not in new]
			came = [r for r in new if r not in old]
			found.append(f"{table}: rows before {gone}, rows after {came}")
	for key in ("companies", "log_rows"):
		if before[key] != after[key]:
			found.append(f"{key}: before {before[key]}, after {after[key]}")
	return found


# ---- the settings a test class gets --------------------------------------------------------------------


class SettingsUnderTest:
	"""Xero Sync Settings of one test class, in memory, behind adapters' settings functions.

	They behave as a Single does: nothing is stored until the first save, and a read then gives the
	DocType's defaults (a site that never saved its settings); a save validates as Frappe does (the
	controller, mandatory and Select fields) and stores every field; writing single fields stores just
	those (on a never-saved Single that is all a later read finds, as with tabSingles). Passwords are
	kept as typed and read from here only: never from the site's __Auth."""

	def __init__(self):
		self.stored: dict | None = None

	def install(self, cls) -> None:
		"""Put these settings behind adapters' settings functions until the class ends."""
		for name, method in (
			("get_settings", self.read),
			("read_settings", self.read),
			("save_settings", self.save),
			("settings_saved", self.saved),
			("settings_values", self.values),
			("set_settings_values", self.set_values),
		):
			patcher = patch.object(adapters, name, method)
			patcher.start()
			cls.addClassCleanup(patcher.stop)

	def forget(self) -> None:
		"""Back to settings never saved, as on a new site."""
		self.stored = None

	def read(self):
		if self.stored is None:
			values = frappe.new_doc(SETTINGS_DOCTYPE, as_dict=True)
			values.pop("__islocal", None)
			values["name"] = SETTINGS_DOCTYPE
		else:
			values = copy.deepcopy(self.stored)
		doc = frappe.get_doc(values)
		doc.get_password = functools.partial(_own_password, doc)
		return doc

	def save(self, doc, *, ignore_permissions: bool = False) -> None:
		doc._set_defaults()  # new child rows take their fields' defaults
		doc._doc_before_save = self.read() if self.stored is not None else None
		for method in ("before_validate", "validate", "before_save"):
			doc.run_method(method)
		doc._validate_mandatory()
		for d in (doc, *doc.get_all_children()):
			d._validate_selects()
			d._validate_length()
		for row in doc.get_all_children():
			row.name = row.name or frappe.generate_hash(length=10)
			row.__dict__.pop("__islocal", None)
		self.stored = doc.as_dict()
		doc.run_method("on_update")

	def saved(self) -> bool:
		return self.stored is not None

	def values(self, *fields: str, lock: bool = False) -> frappe._dict:
		stored = self.stored or {}
		return frappe._dict({field: stored.get(field) for field in fields})

	def set_values(self, values: dict) -> None:
		if self.stored is None:
			self.stored = {"doctype": SETTINGS_DOCTYPE, "name": SETTINGS_DOCTYPE}
		self.stored.update(values)


def _own_password(doc, fieldname: str = "password", raise_exception: bool = True) -> str | None:
	"""Document.get_password of in-memory settings: the value typed into them, never the site's secret."""
	value = doc.get(fieldname)
	if value and not doc.is_dummy_password(value):
		return value
	if raise_exception:
		frappe.throw(_("Password not found for {0}").format(fieldname), frappe.AuthenticationError)
	return None


# ---- the base class ----------------------------------------------------------------------------------


class XeroTestCase(FrappeTestCase):
	"""FrappeTestCase with settings of its own, commits held, jobs recorded, and the site's connection
	compared row for row once the class is rolled back."""

	settings: SettingsUnderTest
	held_commits: list[str]
	enqueued: EnqueueRecorder

	@classmethod
	def setUpClass(cls):
		global SUITE_START
		# Registered before FrappeTestCase's own cleanups, so it runs after them (LIFO): after the rollback.
		cls.addClassCleanup(cls._check_site_unchanged)
		super().setUpClass()
		cls._site_before = snapshot()
		if SUITE_START is None:
			SUITE_START = cls._site_before
		# Registered after FrappeTestCase's, so undone before its rollback.
		cls.settings = SettingsUnderTest()
		cls.settings.install(cls)
		cls.held_commits = []
		cls.enqueued = EnqueueRecorder()
		for target, value in (
			(frappe.db, {"commit": lambda: cls.held_commits.append("commit")}),
			(frappe, {"enqueue": cls.enqueued}),
		):
			for name, replacement in value.items():
				patcher = patch.object(target, name, replacement)
				patcher.start()
				cls.addClassCleanup(patcher.stop)

	@classmethod
	def _check_site_unchanged(cls):
		after = snapshot()
		CLASSES_CHECKED.append(cls.__name__)
		changed = differences(cls._site_before, after)
		if changed:
			raise AssertionError(
				f"{cls.__module__}.{cls.__name__} left the site's Xero connection changed (or a worker of "
				"the site changed it meanwhile):\n" + "\n".join(changed)
			)
