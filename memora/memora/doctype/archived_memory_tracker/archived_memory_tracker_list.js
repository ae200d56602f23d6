// Copyright (c) 2026, Memora contributors
// For license information, please see license.txt

// Archived trackers pile up season after season until retention deletes them: like the live
// tracker list, this list skips the full COUNT(*), the sidebar GROUP BYs and the comment counts.
frappe.listview_settings["Archived Memory Tracker"] = {
	onload(listview) {
		if (listview.list_view_settings) {
			listview.list_view_settings.disable_count = 1;
			listview.list_view_settings.disable_comment_count = 1;
			listview.list_view_settings.disable_sidebar_stats = 1;
		}
	},
};
