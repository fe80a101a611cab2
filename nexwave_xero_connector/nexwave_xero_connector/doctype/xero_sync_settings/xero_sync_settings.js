// Copyright (c) 2025, NexWave and contributors
// For license information, please see license.txt

const XERO_OAUTH = "nexwave_xero_connector.oauth.";
const DOCUMENT_FIELDS = ["sync_sales_invoices", "sync_sales_returns", "sync_purchase_invoices", "sync_purchase_returns"];

// Enabled with none of the Documents to Send ticked sends nothing: said under that section while it is so
// (saving says it too).
function warn_if_nothing_is_sent(frm) {
	const nothing = frm.doc.enabled && !DOCUMENT_FIELDS.some((field) => frm.doc[field]);
	const warning = `<span class="text-danger">${__(
		"Nothing will be sent to Xero: tick the documents to send."
	)}</span>`;
	frm.set_df_property("scope_section", "description", nothing ? warning : "");
}

frappe.ui.form.on("Xero Sync Settings", {
	enabled: warn_if_nothing_is_sent,
	sync_sales_invoices: warn_if_nothing_is_sent,
	sync_sales_returns: warn_if_nothing_is_sent,
	sync_purchase_invoices: warn_if_nothing_is_sent,
	sync_purchase_returns: warn_if_nothing_is_sent,
	refresh(frm) {
		const group = __("Xero");
		warn_if_nothing_is_sent(frm);
		show_background_reading(frm);
		frappe.xcall("nexwave_xero_connector.api.connection_alerts").then((alerts) => {
			for (const alert of alerts || []) {
				frm.dashboard.set_headline_alert(frappe.utils.escape_html(alert.message), alert.colour);
			}
		});
		frm.add_custom_button(
			__("Connect to Xero"),
			() => {
				if (frm.is_dirty()) {
					frappe.msgprint(__("Save the settings first."));
					return;
				}
				frappe.call({ method: XERO_OAUTH + "connect" }).then((r) => {
					if (r.message) window.open(r.message, "_self");
				});
			},
			group
		);
		frm.add_custom_button(
			__("Show Redirect URI"),
			() => {
				if (frm.is_dirty()) {
					frappe.msgprint(__("Save the settings first."));
					return;
				}
				// It names the Connected App in the settings (on a new site it stores them with their
				// defaults): reload, so the next Save is not refused as made on an old copy.
				frappe.call({ method: XERO_OAUTH + "get_redirect_uri" }).then((r) => {
					frm.reload_doc();
					frappe.msgprint({
						title: __("Redirect URI for your Xero app"),
						message: `<code>${frappe.utils.escape_html(r.message || "")}</code>`,
					});
				});
			},
			group
		);
		if (!frm.doc.connected_user) return;
		frm.add_custom_button(__("Choose Organisations"), () => choose_organisation(frm), group);
		frm.add_custom_button(__("Test Connection"), () => test_connection(frm), group);
		frm.add_custom_button(__("Load from Xero"), () => load_from_xero(frm), group);
		frm.add_custom_button(__("Backfill"), () => backfill_dialog(frm), group);
		frm.add_custom_button(
			__("Disconnect"),
			() =>
				frappe.confirm(__("Disconnect from Xero? Sending stops until you connect again."), () =>
					frappe
						.call({ method: XERO_OAUTH + "disconnect" })
						.then(() => frm.reload_doc())
				),
			group
		);
	},
});

function choose_organisation(frm) {
	frappe.call({ method: XERO_OAUTH + "list_organisations" }).then((r) => {
		const orgs = r.message || [];
		if (!orgs.length) {
			frappe.msgprint(__("No Xero organisation is connected. Press Connect to Xero."));
			return;
		}
		const dialog = new frappe.ui.Dialog({
			title: __("Choose the Xero organisation of a company"),
			fields: [
				{ fieldname: "company", fieldtype: "Link", options: "Company", label: __("Company"), reqd: 1 },
				{
					fieldname: "tenant_id",
					fieldtype: "Select",
					label: __("Xero Organisation"),
					reqd: 1,
					options: orgs.map((o) => ({ value: o.tenant_id, label: o.tenant_name })),
				},
			],
			primary_action_label: __("Bind"),
			primary_action(values) {
				const org = orgs.find((o) => o.tenant_id === values.tenant_id);
				const others = (org.companies || []).filter((c) => c !== values.company);
				const bind = (confirm_shared) =>
					frappe
						.call({
							method: XERO_OAUTH + "bind_organisation",
							args: { company: values.company, tenant_id: values.tenant_id, confirm_shared },
						})
						.then(() => {
							dialog.hide();
							frm.reload_doc();
						});
				if (others.length) {
					frappe.confirm(
						__("{0} is already bound to {1}. Do these companies really share it?", [
							org.tenant_name,
							others.join(", "),
						]),
						() => bind(1)
					);
				} else {
					bind(0);
				}
			},
		});
		dialog.show();
	});
}

function test_connection(frm) {
	frappe.call({ method: XERO_OAUTH + "test_connection", freeze: true }).then((r) => {
		const rows = (r.message || []).map((o) =>
			o.ok
				? `${frappe.utils.escape_html(o.company)}: ${frappe.utils.escape_html(o.name)} (${o.short_code}, ${o.base_currency})`
				: `${frappe.utils.escape_html(o.company)}: ${frappe.utils.escape_html(o.error)}`
		);
		frappe.msgprint(rows.join("<br>") || __("No company is bound to a Xero organisation."));
		frm.reload_doc();
	});
}

function load_from_xero(frm) {
	const tenants = (frm.doc.tenants || []).filter((t) => t.tenant_id);
	if (!tenants.length) {
		frappe.msgprint(__("Choose an organisation for a company first."));
		return;
	}
	frappe.prompt(
		{
			fieldname: "tenant_id",
			fieldtype: "Select",
			label: __("Xero Organisation"),
			options: tenants.map((t) => ({ value: t.tenant_id, label: `${t.tenant_name || t.tenant_id} (${t.company})` })),
			reqd: 1,
		},
		(values) =>
			frappe
				.call({ method: XERO_OAUTH + "load_from_xero", args: values, freeze: true })
				.then((r) => show_xero_lists(frm, r.message || {})),
		__("Load from Xero")
	);
}

function show_xero_lists(frm, data) {
	const esc = frappe.utils.escape_html;
	const table = (head, rows) =>
		`<table class="table table-bordered table-sm"><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>` +
		rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c ?? ""))}</td>`).join("")}</tr>`).join("") +
		"</table>";
	let html = "";
	if ((data.stale_tax_mappings || []).length || (data.stale_account_mappings || []).length) {
		html += `<p class="text-danger">${__("These mappings are no longer accepted by Xero:")}</p>`;
		html += table(
			[__("Row"), __("Company"), __("Mapped"), __("Xero")],
			[
				...data.stale_tax_mappings.map((m) => [m.row, m.company, m.tax_template, m.xero_tax_type]),
				...data.stale_account_mappings.map((m) => [m.row, m.company, m.account, `${m.xero_account_code} (${m.status})`]),
			]
		);
	}
	const proposals = data.tax_mapping_proposals || [];
	const to_add = proposals.filter((p) => p.proposed && !p.mapped);
	if (proposals.length) {
		html += `<h5>${__("Tax Templates")}</h5>`;
		html += `<p class="text-muted">${__("Sales templates are offered the tax types Xero allows on revenue, purchase templates those allowed on expenses, at the template's rate. An Item Tax Template left unmapped lets its lines take the invoice template's type.")}</p>`;
		html += table(
			[__("Company"), __("Template Type"), __("Template"), __("Rate"), __("Mapped"), __("Proposed"), __("Fits")],
			proposals.map((p) => [p.company, __(p.template_type), p.tax_template, p.rate, p.mapped, p.proposed, p.choices.join(", ")])
		);
	}
	html += `<h5>${__("Tax Rates")}</h5>` + table([__("Tax Type"), __("Name"), __("Rate"), __("Status")], (data.tax_rates || []).map((t) => [t.tax_type, t.name, t.rate, t.status]));
	html += `<h5>${__("Accounts")}</h5>` + table([__("Code"), __("Name"), __("Class"), __("Status")], (data.accounts || []).map((a) => [a.code, a.name, a.class, a.status]));
	html += `<h5>${__("Tracking Categories")}</h5>` + table([__("Category"), __("Options")], (data.tracking_categories || []).map((c) => [c.name, c.options.map((o) => o.name).join(", ")]));
	const message = { title: __("From Xero"), message: html, wide: true };
	if (to_add.length) {
		// Adds the rows to the form unsaved, so the admin reviews them and saves.
		message.primary_action = {
			label: __("Add {0} Proposed Tax Mappings", [to_add.length]),
			action: () => {
				for (const p of to_add) {
					frm.add_child("tax_mappings", {
						company: p.company,
						template_type: p.template_type,
						tax_template: p.tax_template,
						xero_tax_type: p.proposed,
						tax_rate: p.rate,
					});
				}
				frm.refresh_field("tax_mappings");
				frm.dirty();
				frappe.msg_dialog.hide();
				frappe.show_alert({ message: __("Review the new tax mappings and save."), indicator: "blue" });
			},
		};
	}
	frappe.msgprint(message);
}

const BACKFILL = "nexwave_xero_connector.backfill_job.";
const BACKFILL_KINDS = [
	{ label: __("Sales Invoices"), value: "ACCREC", checked: 1 },
	{ label: __("Sales Credit Notes"), value: "ACCRECCREDIT", checked: 1 },
	{ label: __("Bills"), value: "ACCPAY", checked: 1 },
	{ label: __("Supplier Credit Notes"), value: "ACCPAYCREDIT", checked: 1 },
];

function backfill_dialog(frm) {
	const companies = (frm.doc.tenants || []).map((t) => t.company);
	const first = (frm.doc.tenants || [])[0] || {};
	const dialog = new frappe.ui.Dialog({
		title: __("Backfill documents into Xero"),
		fields: [
			{
				fieldname: "company",
				fieldtype: "Select",
				label: __("Company"),
				options: companies,
				default: companies[0],
				reqd: 1,
			},
			{ fieldname: "kinds", fieldtype: "MultiCheck", label: __("Document Kinds"), options: BACKFILL_KINDS, columns: 2 },
			{ fieldname: "from_date", fieldtype: "Date", label: __("From Date"), reqd: 1 },
			{
				fieldname: "to_date",
				fieldtype: "Date",
				label: __("To Date"),
				reqd: 1,
				default: first.go_live_date ? frappe.datetime.add_days(first.go_live_date, -1) : undefined,
			},
			{
				fieldname: "mode",
				fieldtype: "Select",
				label: __("Mode"),
				options: ["Adopt only", "Adopt, then create"],
				default: "Adopt only",
				reqd: 1,
				description: __(
					"Adopt only: documents Xero already has (same number and total) are linked, differences are shown as conflicts, nothing is created. Adopt, then create: also creates what Xero does not have, after every live document."
				),
			},
		],
		primary_action_label: __("Start"),
		primary_action(values) {
			frappe
				.xcall(BACKFILL + "start_backfill", {
					company: values.company,
					from_date: values.from_date,
					to_date: values.to_date,
					mode: values.mode,
					kinds: values.kinds,
				})
				.then((run) => {
					dialog.hide();
					follow_backfill(run);
				});
		},
	});
	dialog.show();
}

function follow_backfill(run) {
	const title = __("Xero backfill {0}", [run]);
	frappe.show_alert({ message: __("Backfill {0} queued", [run]), indicator: "blue" });
	const handler = (data) => {
		if (data.run !== run) return;
		const description = __("{0} adopted, {1} conflicts, {2} queued, {3} not in Xero", [
			data.adopted,
			data.conflicts,
			data.queued,
			data.skipped,
		]);
		frappe.show_progress(title, data.examined, data.total || data.examined || 1, description);
		if (data.status) {
			frappe.hide_progress();
			frappe.realtime.off("xero_backfill_progress", handler);
			frappe.msgprint({
				title,
				message: `${frappe.utils.escape_html(data.status)}: ${frappe.utils.escape_html(description)}. ${
					data.stopped_by ? frappe.utils.escape_html(data.stopped_by) : ""
				}`,
			});
		}
	};
	frappe.realtime.on("xero_backfill_progress", handler);
}

// What background reading costs each organisation a day and when its next read runs (budget.overview).
function show_background_reading(frm) {
	const field = frm.get_field("background_html");
	if (!field) return;
	frappe.xcall("nexwave_xero_connector.budget.overview").then((plan) => {
		const esc = frappe.utils.escape_html;
		const rows = (plan.organisations || []).map((org) => {
			const when = org.next_read_at
				? `${frappe.datetime.str_to_user(org.next_read_at)} (${esc(org.next_read_why)})`
				: "";
			const listings = org.credit_notes_listed
				? __("invoices and credit notes")
				: __("invoices only");
			return `<tr>
				<td>${esc(org.organisation)}<div class="text-muted small">${esc(org.companies.join(", "))}</div></td>
				<td class="text-right">${org.background_today} / ${plan.budget}</td>
				<td class="text-right">${org.background_avg_7d}</td>
				<td class="text-right">${org.pushes_today}</td>
				<td>${org.cost_per_read} <span class="text-muted small">(${listings})</span></td>
				<td>${org.last_read_at ? frappe.datetime.str_to_user(org.last_read_at) : __("never")}</td>
				<td>${when}</td>
			</tr>`;
		});
		const source = plan.webhooks
			? __("Webhooks are configured: reading spends at most {0}% of the plan's {1} calls a day; changes arrive by webhook within a minute.", [plan.share_percent, plan.daily_limit])
			: __("No webhooks: reading spends at most {0}% of the plan's {1} calls a day and checks Xero at least every {2} minutes while the budget allows.", [plan.share_percent, plan.daily_limit, plan.freshness_minutes]);
		field.$wrapper.html(`
			<p class="text-muted">${esc(source)}</p>
			<table class="table table-bordered table-sm">
				<thead><tr>
					<th>${__("Organisation")}</th>
					<th class="text-right">${__("Background calls today / budget")}</th>
					<th class="text-right">${__("Background calls a day (7-day average)")}</th>
					<th class="text-right">${__("Push calls today")}</th>
					<th>${__("Calls per read")}</th>
					<th>${__("Last read")}</th>
					<th>${__("Next read")}</th>
				</tr></thead>
				<tbody>${rows.join("") || `<tr><td colspan="7">${__("No organisation is bound.")}</td></tr>`}</tbody>
			</table>`);
	}).catch(() => field.$wrapper.empty());
}
