"""Installing the app into a bench-like environment keeps pkg_resources importable.

A bench env is a plain `python -m venv` into which bench pip-installs each app. xero-python asks for
setuptools>=75.1, so pip upgrades setuptools there; left unpinned it takes the newest, and setuptools 82
removed pkg_resources, which a Frappe 15 bench still imports. pyproject.toml caps setuptools below 82.
This test builds such an env and installs the app from this checkout with its real dependency resolution
(needs the package index, or pip's cache; about 10 s with a warm cache).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAST_WITH_PKG_RESOURCES = 81  # setuptools 81.0.0 still ships pkg_resources, 82.0.0 does not


def run(*args: str | Path, cwd: Path | None = None) -> str:
	done = subprocess.run(
		[str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
	)
	assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
	return done.stdout.strip()


def test_pyproject_caps_setuptools_below_the_release_without_pkg_resources() -> None:
	pyproject = (ROOT / "pyproject.toml").read_text()
	dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
	assert re.findall(r'"(setuptools[^"]*)"', dependencies) == [
		f"setuptools>=75.1,<{LAST_WITH_PKG_RESOURCES + 1}"
	]


@pytest.mark.timeout(300)
def test_pip_install_into_a_bench_like_venv_keeps_pkg_resources(tmp_path: Path) -> None:
	venv = tmp_path / "env"
	run(sys.executable, "-m", "venv", venv)
	python = venv / "bin" / "python"
	# what bench does for an app: pip install the app directory, dependencies resolved by pip
	run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ROOT)
	version = run(python, "-c", "import importlib.metadata as m; print(m.version('setuptools'))")
	assert int(version.split(".")[0]) <= LAST_WITH_PKG_RESOURCES, version
	run(python, "-W", "ignore", "-c", "import pkg_resources, xero_python, nexwave_xero_connector")
