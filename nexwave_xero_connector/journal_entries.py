"""Journal Entries for companies that send them (Send Journal Entries on their binding): the submit hook
and the organisation facts their pre-flight needs. The cancel and delete hooks are the generic ones
(events.request_void, events.detach_on_delete): the row is the same kind of outbox row as an invoice's.

The hook runs inside the submit's own transaction: it writes one outbox row (or a Skipped row saying why
the entry is not sent) and wakes the tenant's drain after commit; it never calls Xero."""

from __future__ import annotations

import dataclasses

from frappe import _

from nexwave_xero_connector.adapters import FrappeDb, scope_config
from nexwave_xero_connector.events import log_name_for, queue_row, record_skipped
from nexwave_xero_connector.sync.manual_journal_mapping import MANUAL_JOURNAL, skip_reason
from nexwave_xero_connector.sync.preflight import OrgInfo


def queue_journal_entry(doc, method=None):
	"""on_submit of a Journal Entry: queue it for Xero when its company sends Journal Entries; one ERPNext
	made for what is already sent (exchange gain or loss, payment-linked, opening, receivable or payable
	lines, before go-live) gets a Skipped row with the reason instead."""
	config = scope_config()
	if not config.sends_journal_entries(doc.company):
		return
	existing = log_name_for(doc.doctype, doc.name)
	reason = skip_reason(doc.as_dict(), config)
	if reason:
		if not existing:
			record_skipped(
				FrappeDb(), doc, MANUAL_JOURNAL, _("{0} not sent to Xero").format(doc.name), reason
			)
		return
	queue_row(FrappeDb(), doc, existing, config.tenant_for(doc.company), MANUAL_JOURNAL)


def with_system_accounts(facts: OrgInfo, tenant_id: str, gateway) -> OrgInfo:
	"""The organisation facts with the codes of Xero's system accounts when a company of this organisation
	sends Journal Entries (one GET /Accounts, cached with the facts); unchanged otherwise."""
	config = scope_config()
	if not any(t.tenant_id == tenant_id and config.sends_journal_entries(t.company) for t in config.tenants):
		return facts
	return dataclasses.replace(facts, system_accounts=gateway.manual_journals.system_accounts(tenant_id))
