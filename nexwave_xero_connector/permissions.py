"""Who may act on Xero: the one check every whitelisted method runs first."""

from __future__ import annotations

import frappe
from frappe import _

from nexwave_xero_connector.constants import MANAGER_ROLES


def is_manager() -> bool:
	"""Whether the session user may push, retry, void and configure (Administrator always may)."""
	return frappe.session.user == "Administrator" or bool(set(MANAGER_ROLES) & set(frappe.get_roles()))


def require_manager() -> None:
	"""Raise PermissionError unless the user is an Accounts Manager or System Manager.

	frappe.only_for is not used: it lets everyone through in tests, so the check could not be tested.
	"""
	if not is_manager():
		frappe.throw(
			_("Only an Accounts Manager or System Manager can push, retry, void or configure Xero."),
			exc=frappe.PermissionError,
			title=_("Not permitted"),
		)
