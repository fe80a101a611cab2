"""The core and the gateway import without Frappe: every module, with `frappe` made unimportable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import nexwave_xero_connector

PACKAGE = Path(nexwave_xero_connector.__file__).parent
CORE_PACKAGES = ("sync", "xero")

PROBE = """
import importlib, sys
sys.modules["frappe"] = None  # any `import frappe` now raises ImportError
for name in sys.argv[1:]:
	importlib.import_module(name)
	print("imported", name)
"""


def _modules() -> list[str]:
	names = []
	for package in CORE_PACKAGES:
		names.append(f"nexwave_xero_connector.{package}")
		for info in pkgutil.iter_modules([str(PACKAGE / package)]):
			names.append(f"nexwave_xero_connector.{package}.{info.name}")
	return names


def test_every_core_module_imports_with_frappe_blocked():
	modules = _modules()
	assert "nexwave_xero_connector.sync.drain" in modules and "nexwave_xero_connector.xero.gateway" in modules
	done = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=60)
	assert done.returncode == 0, done.stderr
	assert done.stdout.count("imported") == len(modules)


def test_the_probe_really_blocks_frappe():
	done = subprocess.run(
		[sys.executable, "-c", PROBE.replace("for name", "import frappe\nfor name")],
		capture_output=True,
		text=True,
		timeout=60,
	)
	assert done.returncode != 0 and "import of frappe halted" in done.stderr
