// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

// Admin actions on a season. Each one is confirmed in a dialog that names the season and its row
// count, then enqueued on the server (memora.api.desk.start_season_action), which refuses at once
// what is not allowed (an active season's archive, say) with a message Frappe shows as is. The form
// then follows the job: Frappe's realtime "progress" events move a bar on the form, and the job's
// status is polled so an end (or a failure that sent no event) is always seen.

const MEMORA_SEASON_ACTIONS = [
	{
		action: "create_partition",
		label: __("Create Partition"),
		question: __(
			"Give season {0} its own partition? Its {1} tracker rows in the default partition move into it."
		),
	},
	{
		action: "rebuild_cache",
		label: __("Rebuild Cache"),
		question: __("Rebuild the Redis review queues of season {0} from its {1} tracker rows?"),
	},
	{
		action: "reconcile",
		label: __("Reconcile"),
		question: __(
			"Compare the Redis queues of season {0} with its {1} tracker rows and repair any drift?"
		),
	},
	{
		action: "optimize",
		label: __("Optimize Parameters"),
		question: __(
			"Fit FSRS parameters to the review log of season {0} ({1} cards)? They are adopted only if they predict its latest reviews better than the current ones."
		),
	},
	{
		action: "archive",
		label: __("Archive"),
		question: __(
			"Archive season {0}? Its {1} tracker rows move to Archived Memory Tracker and its Redis queues are cleared. Players can no longer review it."
		),
	},
];
const MEMORA_POLL_MS = 1500;
const MEMORA_ANALYTICS_DAYS = 30;

frappe.ui.form.on("Memora Season", {
	refresh(frm) {
		memora_render_fits(frm);
		if (frm.is_new() || !frappe.user.has_role(["Memora Admin", "System Manager"])) {
			return;
		}
		for (const spec of MEMORA_SEASON_ACTIONS) {
			frm.add_custom_button(
				spec.label,
				() => memora_confirm_action(frm, spec),
				__("Actions")
			);
		}
		frm.add_custom_button(__("Workload & Analytics"), () => memora_show_analytics(frm));
	},
});

// Reads are GET-only endpoints; frappe.xcall always POSTs.
function memora_get(method, args) {
	return new Promise((resolve, reject) => {
		frappe.call({
			method,
			args,
			type: "GET",
			callback: (r) => resolve(r.message),
			error: reject,
		});
	});
}

function memora_confirm_action(frm, spec) {
	memora_get("memora.api.desk.season_summary", { season: frm.doc.name }).then((summary) => {
		const message = spec.question
			.replace("{0}", frappe.utils.escape_html(summary.season).bold())
			.replace("{1}", format_number(summary.active_records, null, 0).bold());
		frappe.confirm(message, () => memora_start_action(frm, spec));
	});
}

function memora_start_action(frm, spec) {
	frappe
		.xcall("memora.api.desk.start_season_action", {
			season: frm.doc.name,
			action: spec.action,
		})
		.then((started) => memora_follow_job(frm, spec, started.job_id));
}

function memora_follow_job(frm, spec, job_id) {
	const bar = `${spec.label}: ${frm.doc.name}`;
	let progressed = false;
	frm.dashboard.show_progress(bar, 0, __("Queued"));
	const on_progress = (data) => {
		if (data && data.percent !== undefined) {
			progressed = true;
			frm.dashboard.show_progress(bar, data.percent, data.description || data.title || "");
		}
	};
	frappe.realtime.on("progress", on_progress);

	const finish = (indicator, message) => {
		clearInterval(timer);
		frappe.realtime.off("progress", on_progress);
		frm.dashboard.hide_progress(bar);
		frappe.show_alert({ message, indicator }, 10);
		frm.reload_doc();
	};
	const timer = setInterval(() => {
		memora_get("memora.api.desk.job_status", { job_id })
			.then((job) => {
				if (job.status === "failed") {
					finish(
						"red",
						__("{0} failed: {1}", [spec.label, job.error || __("see the Error Log")])
					);
				} else if (job.status === "finished") {
					const refusal = memora_refusal(job.result);
					if (refusal) {
						finish("red", __("{0} did not complete: {1}", [spec.label, refusal]));
					} else {
						finish("green", __("{0} finished", [spec.label]));
					}
				} else if (job.status === "unknown") {
					finish(
						"orange",
						__("{0}: the job is no longer known; check the season's status.", [
							spec.label,
						])
					);
				} else if (job.status === "started" && !progressed) {
					frm.dashboard.show_progress(bar, 0, __("Running"));
				}
			})
			.catch(() => clearInterval(timer));
	}, MEMORA_POLL_MS);
}

// A service that ran but declined reports it in its result: {success: false, error} or {status: "failed"}.
function memora_refusal(result) {
	if (!result) return null;
	if (result.success === false) return result.error || __("refused");
	if (result.status === "failed" || result.status === "skipped")
		return result.error || result.reason || result.status;
	return null;
}

// The season's parameter fits (a JSON list, oldest first) as a table, newest first.
function memora_render_fits(frm) {
	const field = frm.fields_dict && frm.fields_dict.fits_html;
	if (!field) return;
	let fits = frm.doc.parameter_fits || [];
	if (typeof fits === "string") fits = JSON.parse(fits);
	if (!fits.length) {
		field.$wrapper.html(`<p class="text-muted">${__("No fit yet.")}</p>`);
		return;
	}
	const cell = (value) => frappe.utils.escape_html(String(value ?? ""));
	const pair = (fit, metric) =>
		`${cell(fit[`current_${metric}`])} → ${cell(fit[`fitted_${metric}`])}`;
	const rows = fits
		.slice()
		.reverse()
		.map(
			(fit) => `<tr>
				<td>${cell(fit.fitted_at)}</td>
				<td>${cell(fit.status)}${fit.adopted ? ` (${cell(fit.parameters_version)})` : ""}</td>
				<td>${cell(fit.train_reviews)} / ${cell(fit.test_reviews)}</td>
				<td>${pair(fit, "log_loss")}</td>
				<td>${pair(fit, "rmse_bins")}</td>
				<td>${pair(fit, "auc")}</td>
			</tr>`
		)
		.join("");
	field.$wrapper.html(`<table class="table table-bordered table-sm">
		<thead><tr>
			<th>${__("Fitted At")}</th><th>${__("Outcome")}</th><th>${__("Train / Held-out Reviews")}</th>
			<th>${__("Log Loss (current → fitted)")}</th><th>${__("RMSE (bins)")}</th><th>${__("AUC")}</th>
		</tr></thead>
		<tbody>${rows}</tbody>
	</table>`);
}

// "Help me decide": the workload simulator (reviews a day at each desired retention) and what the
// review log says (true retention, reviews, calibration of FSRS's predictions, cards due ahead), drawn
// with Frappe charts in a dialog. Both reads are GET endpoints of memora.api.analytics (admins only).
const MEMORA_ANALYTICS_FIELDS = [
	"workload",
	"workload_table",
	"workload_days",
	"retention",
	"reviews",
	"calibration",
	"forecast",
];

function memora_show_analytics(frm) {
	const dialog = new frappe.ui.Dialog({
		title: __("Workload & Analytics: {0}", [frm.doc.name]),
		size: "extra-large",
		fields: MEMORA_ANALYTICS_FIELDS.map((fieldname) => ({ fieldtype: "HTML", fieldname })),
	});
	dialog.show();
	const args = { season: frm.doc.name, days: MEMORA_ANALYTICS_DAYS };
	const fields = dialog.fields_dict;
	memora_get("memora.api.analytics.simulate_workload", args).then((result) =>
		memora_draw_workload(fields, result)
	);
	memora_get("memora.api.analytics.season_analytics", args).then((result) =>
		memora_draw_analytics(fields, result)
	);
	return dialog;
}

// A share (0..1) as a percent with one decimal; null stays null (no reviews to judge).
function memora_percent(share) {
	return share === null || share === undefined ? null : Math.round(share * 1000) / 10;
}

function memora_chart(field, title, type, labels, datasets, options = {}) {
	field.$wrapper.html("");
	return new frappe.Chart(field.$wrapper.get(0), {
		title,
		type,
		height: 240,
		data: { labels, datasets },
		...options,
	});
}

function memora_note(field, text) {
	field.$wrapper.html(`<p class="text-muted">${frappe.utils.escape_html(text)}</p>`);
}

function memora_draw_workload(fields, result) {
	const scenarios = result.scenarios;
	const labels = scenarios.map((s) => `${memora_percent(s.desired_retention)}%`);
	memora_chart(
		fields.workload,
		__("Average reviews a day over the next {0} days, by desired retention", [result.days]),
		"bar",
		labels,
		[{ name: __("Reviews a day"), values: scenarios.map((s) => s.average_reviews_per_day) }]
	);
	const cell = (value) => frappe.utils.escape_html(String(value ?? "–"));
	const rows = scenarios
		.map(
			(s, i) => `<tr${s.desired_retention === result.desired_retention ? ' class="bold"' : ""}>
				<td>${labels[i]}</td>
				<td>${cell(s.average_reviews_per_day)}</td>
				<td>${cell(Math.max(...s.reviews_per_day))}</td>
				<td>${cell(memora_percent(s.expected_retention))}</td>
				<td>${cell(s.memorized_at_end)}</td>
			</tr>`
		)
		.join("");
	fields.workload_table.$wrapper.html(`<p class="text-muted">${cell(
		__("{0} cards; parameters {1}; the season's desired retention is {2}%.", [
			result.cards,
			result.parameters_version,
			memora_percent(result.desired_retention),
		])
	)}</p>
	<table class="table table-bordered table-sm">
		<thead><tr>
			<th>${__("Desired Retention")}</th><th>${__("Reviews a Day")}</th><th>${__("Peak Day")}</th>
			<th>${__("Expected Retention (%)")}</th><th>${__("Cards Recalled at the End")}</th>
		</tr></thead>
		<tbody>${rows}</tbody>
	</table>`);
	memora_chart(
		fields.workload_days,
		__("Reviews on each coming day"),
		"line",
		scenarios[0].reviews_per_day.map((_, day) => String(day + 1)),
		scenarios.map((s, i) => ({ name: labels[i], values: s.reviews_per_day })),
		{ lineOptions: { hideDots: 1 } }
	);
}

function memora_draw_analytics(fields, result) {
	const rated = result.per_day.filter((day) => day.rated > 0);
	if (rated.length) {
		const in_review = (day) => day.by_state.find((s) => s.state === "Review").retention;
		memora_chart(
			fields.retention,
			__("True retention per day (% of reviews not rated Again)"),
			"line",
			rated.map((day) => day.date),
			[
				{ name: __("All reviews"), values: rated.map((day) => memora_percent(day.retention)) },
				{
					name: __("Cards in Review"),
					values: rated.map((day) => memora_percent(in_review(day)) ?? 0),
				},
			]
		);
	} else {
		memora_note(fields.retention, __("No rated reviews in the last {0} days.", [result.days]));
	}
	memora_chart(
		fields.reviews,
		__("Reviews per day"),
		"bar",
		result.per_day.map((day) => day.date),
		[{ name: __("Reviews"), values: result.per_day.map((day) => day.reviews) }]
	);
	const bins = result.calibration;
	if (bins.length) {
		memora_chart(
			fields.calibration,
			__("Calibration: predicted recall against observed (%)"),
			"line",
			bins.map((bin) => `${memora_percent(bin.low)}–${memora_percent(bin.high)}`),
			[
				{ name: __("Predicted"), values: bins.map((bin) => memora_percent(bin.predicted)) },
				{ name: __("Observed"), values: bins.map((bin) => memora_percent(bin.observed)) },
			]
		);
	} else {
		memora_note(
			fields.calibration,
			__("No reviews FSRS predicted in the last {0} days.", [result.days])
		);
	}
	const forecast = result.due_forecast;
	memora_chart(
		fields.forecast,
		__("Cards due per day ({0} overdue now, counted today)", [forecast.overdue]),
		"bar",
		forecast.per_day.map((day) => day.date),
		[{ name: __("Due"), values: forecast.per_day.map((day) => day.due) }]
	);
}
