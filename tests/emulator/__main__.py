"""Run the emulator standalone: python -m tests.emulator --port 8080 [--rate-limits] [--time-scale 60] [--seed-demo]."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from .server import XeroEmulator


def seed_demo(emu: XeroEmulator) -> None:
	"""Add tenant-nz and tenant-au with a few contacts."""
	emu.add_tenant(
		"tenant-nz",
		name="Kiwi Test Ltd",
		country="NZ",
		base_currency="NZD",
		currencies=("NZD", "USD", "AUD"),
		short_code="!kTl1",
		tracking={"Region": ["North", "South"]},
	)
	emu.add_tenant(
		"tenant-au",
		name="Roo Test Pty Ltd",
		country="AU",
		base_currency="AUD",
		currencies=("AUD", "NZD", "USD"),
		short_code="!rTp2",
	)
	emu.add_contact("tenant-nz", name="Tui Hardware Ltd", contact_number="CUST-1")
	emu.add_contact("tenant-nz", name="Kea Supplies Ltd", contact_number="SUPP-1")
	emu.add_contact("tenant-nz", name="Moa Archived Ltd", contact_number="OLD-1", status="ARCHIVED")
	emu.add_contact("tenant-au", name="Wombat Retail Pty Ltd", contact_number="CUST-1")
	emu.add_contact("tenant-au", name="Koala Freight Pty Ltd", contact_number="SUPP-1")


def main(argv: list[str] | None = None) -> None:
	"""Parse arguments, start the server and block until interrupted."""
	parser = argparse.ArgumentParser(prog="python -m tests.emulator", description="Local Xero emulator")
	parser.add_argument("--host", default="127.0.0.1")
	parser.add_argument("--port", type=int, default=8080)
	parser.add_argument("--rate-limits", action="store_true", help="enforce Xero's rate limits")
	parser.add_argument("--time-scale", type=float, default=1.0, help="emulator seconds per real second")
	parser.add_argument("--strict-auth", action="store_true", help="only accept tokens issued here")
	parser.add_argument("--seed-demo", action="store_true", help="add tenant-nz and tenant-au with contacts")
	args = parser.parse_args(argv)
	emu = XeroEmulator(rate_limits=args.rate_limits, time_scale=args.time_scale, strict_auth=args.strict_auth)
	base = emu.start(port=args.port, host=args.host)
	if args.seed_demo:
		seed_demo(emu)
	print(f"Xero emulator listening on {base}", flush=True)
	print("site_config keys:", flush=True)
	print(json.dumps(emu.site_config(), indent=1), flush=True)
	stop = threading.Event()
	signal.signal(signal.SIGTERM, lambda *_: stop.set())
	try:
		stop.wait()
	except KeyboardInterrupt:
		pass
	finally:
		emu.stop()


if __name__ == "__main__":
	main()
