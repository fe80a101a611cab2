"""A local Xero emulator (Accounting + Identity + OAuth) that the real xero-python SDK can talk to."""

from .server import XeroEmulator

__all__ = ["XeroEmulator"]
