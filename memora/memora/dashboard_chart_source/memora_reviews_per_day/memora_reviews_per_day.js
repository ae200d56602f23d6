// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Memora Reviews per Day"] = {
	method: "memora.memora.dashboard_chart_source.memora_reviews_per_day.memora_reviews_per_day.get_data",
	filters: [
		{
			fieldname: "days",
			label: __("Days"),
			fieldtype: "Int",
			default: 30,
		},
	],
};
