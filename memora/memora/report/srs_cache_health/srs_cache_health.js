// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

frappe.query_reports["SRS Cache Health"] = {
	filters: [
		{
			fieldname: "season",
			label: __("Season"),
			fieldtype: "Link",
			options: "Memora Season",
		},
	],
};
