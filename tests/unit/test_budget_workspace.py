"""The background budget on the desk, read as the JSON and JS files bench migrate imports: the workspace's
calls-per-day chart, its source and its links, and the settings page's Background Reading section."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "nexwave_xero_connector/nexwave_xero_connector"
WORKSPACE = json.loads((MODULE / "workspace/xero_sync/xero_sync.json").read_text())
SETTINGS = MODULE / "doctype/xero_sync_settings"


def _blocks(kind: str) -> list[dict]:
	return [b["data"] for b in json.loads(WORKSPACE["content"]) if b["type"] == kind]


def test_the_chart_block_names_a_chart_row_whose_chart_and_source_exist():
	# Frappe 15's block.js finds a chart block's widget by the chart row's LABEL
	assert [b["chart_name"] for b in _blocks("chart")] == [c["label"] for c in WORKSPACE["charts"]]
	for row in WORKSPACE["charts"]:
		folder = row["chart_name"].lower().replace(" ", "_")
		chart = json.loads((MODULE / "dashboard_chart" / folder / f"{folder}.json").read_text())
		assert chart["name"] == row["chart_name"] and chart["chart_type"] == "Custom"
		assert chart["is_standard"] == 1 and chart["module"] == "Nexwave Xero Connector"
		assert json.loads(chart["custom_options"])["barOptions"]["stacked"] == 1
		source_dir = MODULE / "dashboard_chart_source" / chart["source"].lower().replace(" ", "_")
		source = json.loads((source_dir / f"{source_dir.name}.json").read_text())
		assert source["name"] == chart["source"]
		js = (source_dir / f"{source_dir.name}.js").read_text()
		assert f'chart_sources["{source["name"]}"]' in js
		method = re.search(r'method: "([\w.]+)"', js).group(1)
		module, _, function = method.rpartition(".")
		assert (MODULE.parent.parent / (module.replace(".", "/") + ".py")).exists()
		assert f"def {function}(" in (MODULE.parent.parent / (module.replace(".", "/") + ".py")).read_text()


def test_the_links_card_reaches_the_report_and_the_backfill_runs():
	breaks = [link for link in WORKSPACE["links"] if link["type"] == "Card Break"]
	assert [b["card_name"] for b in _blocks("card")] == [b["label"] for b in breaks]
	links = [link for link in WORKSPACE["links"] if link["type"] == "Link"]
	assert breaks[0]["link_count"] == len(links)
	targets = {(link["link_type"], link["link_to"]) for link in links}
	assert {("Report", "ERPNext vs Xero"), ("DocType", "Xero Backfill Run")} <= targets
	assert (MODULE / "report/erpnext_vs_xero/erpnext_vs_xero.json").exists()
	assert (MODULE / "doctype/xero_backfill_run/xero_backfill_run.json").exists()
	ids = [b["id"] for b in json.loads(WORKSPACE["content"])]
	assert len(ids) == len(set(ids))


def test_the_settings_page_shows_the_background_reading_from_a_guarded_method():
	doctype = json.loads((SETTINGS / "xero_sync_settings.json").read_text())
	assert "background_html" in doctype["field_order"]
	assert {f["fieldname"]: f["fieldtype"] for f in doctype["fields"]}["background_html"] == "HTML"
	js = (SETTINGS / "xero_sync_settings.js").read_text()
	method = re.search(r'xcall\("(nexwave_xero_connector\.budget\.overview)"\)', js).group(1)
	source = (MODULE.parent / "budget.py").read_text()
	assert "@frappe.whitelist()\ndef overview()" in source
	assert "require_manager()" in source.split("def overview()")[1].split("\ndef ")[0]
	assert importlib.util.find_spec("nexwave_xero_connector.sync.background") and method
