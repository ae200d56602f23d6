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
		action: "archive",
		label: __("Archive"),
		question: __(
			"Archive season {0}? Its {1} tracker rows move to Archived Memory Tracker and its Redis queues are cleared. Players can no longer review it."
		),
	},
];
const MEMORA_POLL_MS = 1500;

frappe.ui.form.on("Memora Season", {
	refresh(frm) {
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
