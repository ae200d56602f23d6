// The Memora Season form script (memora/memora/doctype/memora_season/memora_season.js) against a
// stand-in for the few Desk APIs it uses: buttons for admins only, a confirmation that names the
// season and its row count, the enqueue call, the live progress bar and the end of the job.
// Run by tests/test_desk_scripts.py (node --test); a browser test needs a bench.

const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");
const vm = require("node:vm");

const SCRIPT = path.join(__dirname, "../../memora/memora/doctype/memora_season/memora_season.js");

// A Desk HTML field: what was written into it, and the element a chart is drawn in.
function html_field() {
	const field = { content: null, element: {} };
	field.$wrapper = { html: (value) => (field.content = value), get: () => field.element };
	return field;
}

function desk({ roles, job, analytics = {} }) {
	const calls = [];
	const state = {
		handlers: null,
		realtime: {},
		alerts: [],
		confirmations: [],
		interval: null,
		dialogs: [],
		charts: [],
	};
	const responses = {
		"memora.api.desk.season_summary": () => ({ season: "Old Season", active_records: 1234 }),
		"memora.api.desk.start_season_action": (args) => ({ job_id: "job-1", ...args }),
		"memora.api.desk.job_status": () => job(),
		...analytics,
	};
	class Dialog {
		constructor(options) {
			this.options = options;
			this.fields_dict = Object.fromEntries(options.fields.map((f) => [f.fieldname, html_field()]));
			state.dialogs.push(this);
		}
		show() {
			this.shown = true;
		}
	}
	class Chart {
		constructor(element, options) {
			state.charts.push({ element, options });
		}
	}
	const frappe = {
		ui: { form: { on: (doctype, handlers) => (state.handlers = handlers) }, Dialog },
		Chart,
		user: { has_role: (wanted) => wanted.some((role) => roles.includes(role)) },
		xcall: (method, args) => {
			calls.push({ method, args, type: "POST" });
			return Promise.resolve(responses[method](args));
		},
		call: ({ method, args, type, callback }) => {
			calls.push({ method, args, type });
			callback({ message: responses[method](args) });
		},
		confirm: (message, yes) => {
			state.confirmations.push(message);
			yes();
		},
		realtime: {
			on: (event, handler) => (state.realtime[event] = handler),
			off: (event) => delete state.realtime[event],
		},
		show_alert: (alert) => state.alerts.push(alert),
		utils: {
			escape_html: (text) => text.replace(/</g, "&lt;").replace(/>/g, "&gt;"),
		},
	};
	const context = {
		frappe,
		__: (text, args) => text.replace(/{(\d+)}/g, (match, n) => (args ? args[n] : match)),
		format_number: (value) => value.toLocaleString("en-US"),
		setInterval: (callback) => (state.interval = callback),
		clearInterval: () => (state.interval = null),
		String,
		Math,
		Object,
	};
	vm.createContext(context);
	vm.runInContext(fs.readFileSync(SCRIPT, "utf8"), context);
	return { state, calls };
}

function form() {
	const frm = { buttons: [], progress: {}, reloaded: 0, doc: { name: "Old Season" } };
	frm.is_new = () => false;
	frm.add_custom_button = (label, action, group) => frm.buttons.push({ label, action, group });
	frm.reload_doc = () => frm.reloaded++;
	frm.dashboard = {
		show_progress: (title, percent, message) => (frm.progress[title] = { percent, message }),
		hide_progress: (title) => delete frm.progress[title],
	};
	return frm;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
// Objects made inside the script's context have that context's prototypes.
const plain = (value) => JSON.parse(JSON.stringify(value));

test("only Memora admins get the five actions and the analytics", () => {
	const admin = desk({ roles: ["Memora Admin"], job: () => ({}) });
	const frm = form();
	admin.state.handlers.refresh(frm);
	assert.deepStrictEqual(
		frm.buttons.map((b) => [b.label, b.group]),
		[
			["Create Partition", "Actions"],
			["Rebuild Cache", "Actions"],
			["Reconcile", "Actions"],
			["Optimize Parameters", "Actions"],
			["Archive", "Actions"],
			["Workload & Analytics", undefined],
		]
	);

	const player = desk({ roles: ["Memora Player"], job: () => ({}) });
	const other = form();
	player.state.handlers.refresh(other);
	assert.strictEqual(other.buttons.length, 0);
});

test("archive: confirmation names season and rows, progress is drawn, success reloads", async () => {
	let status = { status: "started", result: null, error: null };
	const { state, calls } = desk({ roles: ["System Manager"], job: () => status });
	const frm = form();
	state.handlers.refresh(frm);
	frm.buttons.find((b) => b.label === "Archive").action();
	await settle();

	assert.match(
		state.confirmations[0],
		/Archive season <b>Old Season<\/b>\? Its <b>1,234<\/b> tracker rows/
	);
	assert.deepStrictEqual(plain(calls.slice(0, 2)), [
		{ method: "memora.api.desk.season_summary", args: { season: "Old Season" }, type: "GET" },
		{
			method: "memora.api.desk.start_season_action",
			args: { season: "Old Season", action: "archive" },
			type: "POST",
		},
	]);

	state.realtime.progress({ percent: 40, title: "Archiving Old Season", description: "" });
	assert.strictEqual(frm.progress["Archive: Old Season"].percent, 40);
	state.interval();
	await settle();
	assert.strictEqual(
		frm.progress["Archive: Old Season"].percent,
		40,
		"a poll must not reset real progress"
	);

	status = { status: "finished", result: { success: true, archived_count: 1234 }, error: null };
	state.interval();
	await settle();
	assert.strictEqual(calls.at(-1).type, "GET");
	assert.deepStrictEqual(plain(state.alerts.at(-1)), {
		message: "Archive finished",
		indicator: "green",
	});
	assert.strictEqual(frm.reloaded, 1);
	assert.deepStrictEqual(frm.progress, {});
	assert.strictEqual(state.realtime.progress, undefined);
	assert.strictEqual(state.interval, null);
});

test("a job that declined or failed is reported in red", async () => {
	for (const [job, expected] of [
		[
			{ status: "finished", result: { success: false, error: "Season is being archived" } },
			/did not complete: Season is being archived/,
		],
		[
			{ status: "finished", result: { status: "failed", error: "Redis down" } },
			/did not complete: Redis down/,
		],
		[
			{ status: "failed", result: null, error: "OperationalError: lost connection" },
			/failed: OperationalError: lost connection/,
		],
	]) {
		const { state } = desk({ roles: ["Memora Admin"], job: () => job });
		const frm = form();
		state.handlers.refresh(frm);
		frm.buttons.find((b) => b.label === "Rebuild Cache").action();
		await settle();
		state.interval();
		await settle();
		assert.strictEqual(state.alerts.at(-1).indicator, "red");
		assert.match(state.alerts.at(-1).message, expected);
	}
});

test("the season's fits are drawn newest first, escaped", () => {
	const { state } = desk({ roles: ["Memora Admin"], job: () => ({}) });
	const frm = form();
	let html = "";
	frm.fields_dict = { fits_html: { $wrapper: { html: (value) => (html = value) } } };
	frm.doc.parameter_fits = JSON.stringify([
		{
			fitted_at: "2026-11-26 04:00:00",
			status: "kept",
			adopted: false,
			train_reviews: 900,
			test_reviews: 200,
		},
		{
			fitted_at: "2026-12-03 04:00:00",
			status: "adopted",
			adopted: true,
			parameters_version: "20261203-<b>",
			current_log_loss: 0.45,
			fitted_log_loss: 0.42,
		},
	]);
	state.handlers.refresh(frm);
	assert.ok(html.indexOf("2026-12-03") < html.indexOf("2026-11-26"));
	assert.match(html, /adopted \(20261203-&lt;b&gt;\)/);
	assert.match(html, /0.45 → 0.42/);
	assert.match(html, /900 \/ 200/);
});

const WORKLOAD = {
	season: "Old Season",
	days: 3,
	cards: 120,
	parameters_version: "20261203-ab12cd34",
	desired_retention: 0.9,
	ratings_from_log: true,
	scenarios: [0.7, 0.9].map((r, i) => ({
		desired_retention: r,
		reviews_per_day: [10 + i, 4 + i, 6 + i],
		average_reviews_per_day: 6.67 + i,
		total_reviews: 20 + 3 * i,
		due_reviews: 15,
		expected_retention: r,
		memorized_at_end: 100 + i,
	})),
};
const state_figures = (review) =>
	["New", "Learning", "Review", "Relearning"].map((state) => ({
		state,
		reviews: 0,
		recalled: 0,
		retention: state === "Review" ? review : null,
	}));
const ANALYTICS = {
	season: "Old Season",
	days: 3,
	per_day: [
		{ date: "2026-12-01", reviews: 0, rated: 0, recalled: 0, retention: null, by_state: state_figures(null) },
		{ date: "2026-12-02", reviews: 8, rated: 8, recalled: 6, retention: 0.75, by_state: state_figures(0.8) },
		{ date: "2026-12-03", reviews: 2, rated: 2, recalled: 2, retention: 1, by_state: state_figures(null) },
	],
	calibration: [{ low: 0.85, high: 0.9, reviews: 40, predicted: 0.8765, observed: 0.85 }],
	due_forecast: {
		overdue: 4,
		per_day: [
			{ date: "2026-12-03", due: 9 },
			{ date: "2026-12-04", due: 3 },
			{ date: "2026-12-05", due: 0 },
		],
	},
};

async function analytics_desk(analytics) {
	const { state, calls } = desk({
		roles: ["Memora Admin"],
		job: () => ({}),
		analytics: {
			"memora.api.analytics.simulate_workload": () => WORKLOAD,
			"memora.api.analytics.season_analytics": () => analytics,
		},
	});
	const frm = form();
	state.handlers.refresh(frm);
	frm.buttons.find((b) => b.label === "Workload & Analytics").action();
	await settle();
	return { state, calls, dialog: state.dialogs[0] };
}

test("workload and analytics: two GET reads, every chart drawn with the figures", async () => {
	const { state, calls, dialog } = await analytics_desk(ANALYTICS);
	assert.ok(dialog.shown);
	assert.deepStrictEqual(
		plain(calls.filter((c) => c.method.startsWith("memora.api.analytics"))),
		[
			{ method: "memora.api.analytics.simulate_workload", args: { season: "Old Season", days: 30 }, type: "GET" },
			{ method: "memora.api.analytics.season_analytics", args: { season: "Old Season", days: 30 }, type: "GET" },
		]
	);
	const chart = (field) => state.charts.find((c) => c.element === dialog.fields_dict[field].element).options;

	const workload = chart("workload");
	assert.strictEqual(workload.type, "bar");
	assert.deepStrictEqual(plain(workload.data), {
		labels: ["70%", "90%"],
		datasets: [{ name: "Reviews a day", values: [6.67, 7.67] }],
	});
	const per_day = chart("workload_days");
	assert.deepStrictEqual(plain(per_day.data.labels), ["1", "2", "3"]);
	assert.deepStrictEqual(plain(per_day.data.datasets[1]), { name: "90%", values: [11, 5, 7] });
	const table = dialog.fields_dict.workload_table.content;
	assert.match(table, /120 cards; parameters 20261203-ab12cd34; the season's desired retention is 90%/);
	assert.match(table, /<tr class="bold">\s*<td>90%<\/td>\s*<td>7.67<\/td>\s*<td>11<\/td>\s*<td>90<\/td>/);

	// Days without rated reviews are left out of the retention chart, not drawn as 0 %.
	assert.deepStrictEqual(plain(chart("retention").data), {
		labels: ["2026-12-02", "2026-12-03"],
		datasets: [
			{ name: "All reviews", values: [75, 100] },
			{ name: "Cards in Review", values: [80, 0] },
		],
	});
	assert.deepStrictEqual(plain(chart("reviews").data.datasets[0].values), [0, 8, 2]);
	assert.deepStrictEqual(plain(chart("calibration").data), {
		labels: ["85–90"],
		datasets: [
			{ name: "Predicted", values: [87.7] },
			{ name: "Observed", values: [85] },
		],
	});
	const forecast = chart("forecast");
	assert.match(forecast.title, /4 overdue now/);
	assert.deepStrictEqual(plain(forecast.data.datasets[0].values), [9, 3, 0]);
});

test("a season without reviews gets notes, not empty charts", async () => {
	const quiet = {
		...ANALYTICS,
		per_day: ANALYTICS.per_day.map((day) => ({ ...day, reviews: 0, rated: 0, retention: null })),
		calibration: [],
	};
	const { state, dialog } = await analytics_desk(quiet);
	assert.match(dialog.fields_dict.retention.content, /No rated reviews in the last 3 days/);
	assert.match(dialog.fields_dict.calibration.content, /No reviews FSRS predicted/);
	assert.ok(!state.charts.some((c) => c.element === dialog.fields_dict.calibration.element));
});
