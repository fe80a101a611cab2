"""The row kinds, registered in claim and processing order (protocol.py says what a kind answers).

Invoices come first: payments are made against them, so a claim that holds both pushes the invoice before
its payment. Adding a kind is one module and one line here (docs/architecture.md).
"""

from __future__ import annotations

from .invoices import INVOICES
from .manual_journals import MANUAL_JOURNALS
from .payments_in import PAYMENTS_IN
from .payments_out import PAYMENTS_OUT
from .protocol import KindRegistry

REGISTRY = KindRegistry((INVOICES, PAYMENTS_OUT, PAYMENTS_IN, MANUAL_JOURNALS), default=INVOICES)
