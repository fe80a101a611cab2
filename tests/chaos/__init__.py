"""Chaos harness: RQ workers killed at random, MariaDB journal, emulator faults, ledger checks (issue #7)."""
