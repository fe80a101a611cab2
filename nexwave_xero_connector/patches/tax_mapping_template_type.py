"""Give every Xero Tax Mapping row the doctype of the template it names.

Until now the resolver matched a mapping by (company, template name) alone and ignored Template Type, which
defaulted to Item Tax Template. A stock New Zealand company has a Sales, a Purchase and an Item Tax Template
all named "New Zealand - KTL", so its one row served all three. This patch keeps exactly that behaviour
under the new (company, doctype, name) key: a row keeps its type when that doctype has the name (else takes
the first doctype that has it), and gets a copy for every other doctype with the same name. The admin then
corrects the copies that were wrong all along (the purchase row of a stock NZ company wants INPUT2); the
patch says which rows it added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nexwave_xero_connector.constants import SETTINGS_DOCTYPE, TAX_MAPPING_DOCTYPE
from nexwave_xero_connector.sync.config import TEMPLATE_DOCTYPES

COPIED = ("company", "tax_template", "xero_tax_type", "tax_rate")


def plan(rows: Sequence[dict], doctypes_named: Callable[[str], list[str]]) -> tuple[list, list[dict]]:
	"""Return ([(row name, new template_type)], [new rows]) for the mapping rows, in row order."""
	have = {(r["company"], r["template_type"], r["tax_template"]) for r in rows}
	retype: list[tuple[str, str]] = []
	added: list[dict] = []
	for row in rows:
		found = doctypes_named(row["tax_template"]) if row["tax_template"] else []
		if not found:
			continue  # the template is gone; the row stays as it is and maps nothing, as before
		keep = row["template_type"] if row["template_type"] in found else found[0]
		if keep != row["template_type"]:
			have.discard((row["company"], row["template_type"], row["tax_template"]))
			have.add((row["company"], keep, row["tax_template"]))
			retype.append((row["name"], keep))
		for doctype in found:
			key = (row["company"], doctype, row["tax_template"])
			if key not in have:
				have.add(key)
				added.append({**{f: row[f] for f in COPIED}, "template_type": doctype})
	return retype, added


def execute():
	import frappe

	split_mappings(SETTINGS_DOCTYPE)
	frappe.clear_document_cache(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE)


def split_mappings(parent: str) -> None:
	"""Retype and copy the tax mapping rows of the settings document `parent` (the Single's own name; a
	test passes a name of its own so it never touches the site's rows)."""
	import frappe

	rows = frappe.get_all(
		TAX_MAPPING_DOCTYPE,
		filters={"parent": parent, "parenttype": SETTINGS_DOCTYPE, "parentfield": "tax_mappings"},
		fields=["name", "idx", "template_type", *COPIED],
		order_by="idx asc",
	)
	if not rows:
		return
	retype, added = plan(
		rows, lambda name: [doctype for doctype in TEMPLATE_DOCTYPES if frappe.db.exists(doctype, name)]
	)
	for name, doctype in retype:
		frappe.db.set_value(TAX_MAPPING_DOCTYPE, name, "template_type", doctype, update_modified=False)
	next_idx = max(r.idx or 0 for r in rows) + 1
	for idx, values in enumerate(added, start=next_idx):
		child = frappe.new_doc(TAX_MAPPING_DOCTYPE)
		child.update(
			{
				**values,
				"parent": parent,
				"parenttype": SETTINGS_DOCTYPE,
				"parentfield": "tax_mappings",
				"idx": idx,
			}
		)
		child.db_insert()
		print(
			f"Xero Tax Mapping: {values['tax_template']} of {values['company']} is also a "
			f"{values['template_type']}; added a row mapping it to {values['xero_tax_type']} as before. "
			"Check it in Xero Sync Settings."
		)
