"""A small chaos run (issue #7) as part of the suite: workers killed, faults injected, ledger checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(
	r"^docs=(\d+) kills=(\d+) faults=(\d+) duplicates=(\d+) lost=(\d+) desynced=(\d+) "
	r"wrong_totals=(\d+) quiesce_s=([\d.]+)$"
)


@pytest.mark.mariadb
@pytest.mark.redis
@pytest.mark.timeout(150)
def test_small_chaos_run_loses_and_duplicates_nothing():
	"""300 documents, 30 SIGKILLs, emulator faults: no duplicate, lost, desynced or wrong total."""
	run = subprocess.run(
		[sys.executable, "-m", "tests.chaos", "--docs", "300", "--kills", "30", "--seed", "1"],
		cwd=REPO,
		capture_output=True,
		text=True,
		timeout=140,
	)
	lines = run.stdout.strip().splitlines()
	assert lines, run.stderr[-3000:]
	match = LAST_LINE.match(lines[-1])
	assert match, run.stdout[-3000:] + run.stderr[-3000:]
	docs, kills, _faults, duplicates, lost, desynced, wrong_totals = map(int, match.groups()[:7])
	assert (docs, kills) == (300, 30), run.stdout
	assert (duplicates, lost, desynced, wrong_totals) == (0, 0, 0, 0), run.stdout
	assert run.returncode == 0, run.stdout + run.stderr[-3000:]
