app_name = "memora"
app_title = "Memora"
app_publisher = "Memora contributors"
app_description = "Spaced-repetition scheduling on Redis sorted sets and fan memory for AI personalisation"
app_email = "dev@memora.invalid"
app_license = "mit"

# Installation
# ------------

after_install = "memora.install.after_install"
after_migrate = "memora.install.after_migrate"

# Permissions
# -----------
# A player reads only their own trackers, in Desk lists and through the REST resource API.

permission_query_conditions = {
	"Player Memory Tracker": "memora.permissions.tracker_query_conditions",
}

has_permission = {
	"Player Memory Tracker": "memora.permissions.has_tracker_permission",
}
