// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

frappe.query_reports["Fan Memory Stats"] = {
	filters: [
		{
			fieldname: "creator_id",
			label: __("Creator"),
			fieldtype: "Data",
		},
		{
			fieldname: "limit",
			label: __("Creators (most fans first)"),
			fieldtype: "Int",
			default: 50,
		},
	],
};
