// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

// One row per (player, season, question): millions of rows. Frappe's list view would run a full
// COUNT(*) on every refresh, a GROUP BY per sidebar statistic and a comment count per page; none is
// needed to browse trackers and each grows with the table, so they are switched off (as Frappe does
// for its own RQ Job list). Paging, filters and sorting by an indexed column stay cheap.
frappe.listview_settings["Player Memory Tracker"] = {
	onload(listview) {
		if (listview.list_view_settings) {
			listview.list_view_settings.disable_count = 1;
			listview.list_view_settings.disable_comment_count = 1;
			listview.list_view_settings.disable_sidebar_stats = 1;
		}
	},
};
