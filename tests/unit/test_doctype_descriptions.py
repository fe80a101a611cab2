"""Field descriptions as the desk shows them: Frappe renders a description as HTML, so a placeholder in
angle brackets vanishes (the webhook URL read "https:///api/..." on a real bench), and the scopes the
settings form lists are the scopes Connect to Xero asks for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nexwave_xero_connector.constants import OAUTH_SCOPE_SETS

MODULE = Path(__file__).resolve().parents[2] / "nexwave_xero_connector/nexwave_xero_connector"
DOCTYPES = sorted(MODULE.glob("doctype/*/*.json"))
SETTINGS = json.loads((MODULE / "doctype/xero_sync_settings/xero_sync_settings.json").read_text())
# An HTML tag the desk would render as such: a known element name, optionally with attributes.
TAG = re.compile(r"</?(a|b|i|br|p|code|strong|em|span|ul|ol|li)\b[^<>]*>", re.IGNORECASE)


@pytest.mark.parametrize("path", DOCTYPES, ids=lambda p: p.parent.name)
def test_no_description_hides_a_placeholder_in_angle_brackets(path):
	for field in json.loads(path.read_text()).get("fields", []):
		text = TAG.sub("", field.get("description") or "")
		assert "<" not in text and ">" not in text, (path.parent.name, field["fieldname"], text)


def test_the_scopes_listed_on_the_settings_form_are_the_ones_requested():
	field = next(f for f in SETTINGS["fields"] if f["fieldname"] == "scope_set")
	listed = dict(re.findall(r"(Granular|Legacy): ([a-z_. ]+?)(?: \(|\.(?: |$))", field["description"]))
	assert {name: tuple(scopes.split()) for name, scopes in listed.items()} == OAUTH_SCOPE_SETS
