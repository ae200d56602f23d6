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

function desk({ roles, job }) {
	const calls = [];
	const state = { handlers: null, realtime: {}, alerts: [], confirmations: [], interval: null };
	const responses = {
		"memora.api.desk.season_summary": () => ({ season: "Old Season", active_records: 1234 }),
		"memora.api.desk.start_season_action": (args) => ({ job_id: "job-1", ...args }),
		"memora.api.desk.job_status": () => job(),
	};
	const frappe = {
		ui: { form: { on: (doctype, handlers) => (state.handlers = handlers) } },
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
		utils: { escape_html: (text) => text },
	};
	const context = {
		frappe,
		__: (text, args) => text.replace(/{(\d+)}/g, (match, n) => (args ? args[n] : match)),
		format_number: (value) => value.toLocaleString("en-US"),
		setInterval: (callback) => (state.interval = callback),
		clearInterval: () => (state.interval = null),
		String,
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

test("only Memora admins get the four actions", () => {
	const admin = desk({ roles: ["Memora Admin"], job: () => ({}) });
	const frm = form();
	admin.state.handlers.refresh(frm);
	assert.deepStrictEqual(
		frm.buttons.map((b) => [b.label, b.group]),
		[
			["Create Partition", "Actions"],
			["Rebuild Cache", "Actions"],
			["Reconcile", "Actions"],
			["Archive", "Actions"],
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
