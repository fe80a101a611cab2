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


@pytest.mark.mariadb
@pytest.mark.redis
@pytest.mark.timeout(150)
def test_chaos_run_with_payments_in_xero_ends_with_every_status_matching():
	"""Payments recorded (and some deleted) in Xero during a chaos run: after quiescence the status poll
	alone has brought every Synced document's status and amount due in line with Xero."""
	run = subprocess.run(
		[
			sys.executable,
			"-m",
			"tests.chaos",
			"--docs",
			"150",
			"--kills",
			"15",
			"--seed",
			"3",
			"--payments",
			"60",
		],
		cwd=REPO,
		capture_output=True,
		text=True,
		timeout=140,
	)
	lines = run.stdout.strip().splitlines()
	assert lines, run.stderr[-3000:]
	match = re.match(r"^(.*) payments=(\d+) payment_mismatch=(\d+)$", lines[-1])
	assert match and LAST_LINE.match(match.group(1)), run.stdout[-3000:] + run.stderr[-3000:]
	payments, mismatch = int(match.group(2)), int(match.group(3))
	assert payments >= 30 and mismatch == 0, run.stdout
	assert run.returncode == 0, run.stdout + run.stderr[-3000:]
