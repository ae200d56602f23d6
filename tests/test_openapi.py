"""The OpenAPI document and docs/api.md are generated from the whitelisted functions and kept in sync."""

import textwrap

import pytest

from memora import api_source, openapi

pytestmark = pytest.mark.unit

SAMPLE = textwrap.dedent(
	'''
	from typing import Literal, TypedDict

	import frappe

	from memora.api.endpoint import endpoint
	from memora.api.utils import ADMIN_ROLES, SERVICE_ROLES, require_roles


	class Session(TypedDict):
		"""A review session."""

		items: list[str]
		remaining: int


	def _staff_only():
		require_roles(SERVICE_ROLES)


	@frappe.whitelist(methods=["GET"])
	@endpoint(acts_for_player=True)
	def get_session(season: str | None = None, limit: int = 20, player: str | None = None) -> Session:
		"""Due items of the session user.

		More words.
		"""


	@frappe.whitelist(methods=["POST"])
	@endpoint(ADMIN_ROLES, limit=ARCHIVES, camel_case=True)
	def archive(
		season: str, mode: Literal["fast", "safe"] = "safe", fan_ids: list[str] | str | None = None
	) -> dict[str, int]:
		pass


	@frappe.whitelist()
	def stats(creator_id: str, fans: list[str], *, details: bool = False) -> "list[dict] | None":
		_staff_only()


	def not_an_endpoint(x: int) -> int:
		return x
	'''
)


def sample_endpoints(tmp_path, monkeypatch):
	package = tmp_path / "memora" / "api"
	package.mkdir(parents=True)
	path = package / "sample.py"
	path.write_text(SAMPLE)
	monkeypatch.setattr(api_source, "REPO_ROOT", tmp_path)
	return {e.path.rsplit(".", 1)[-1]: e for e in api_source.endpoints_in(path)}


def test_whitelisted_functions_methods_and_types(tmp_path, monkeypatch):
	found = sample_endpoints(tmp_path, monkeypatch)
	assert set(found) == {"get_session", "archive", "stats"}

	session = found["get_session"]
	assert session.path == "memora.api.sample.get_session"
	assert session.methods == ("GET",)
	assert [(p.name, p.required, p.default) for p in session.params] == [
		("season", False, None),
		("limit", False, 20),
		("player", False, None),
	]
	assert session.params[0].schema == {"type": "string", "nullable": True}
	assert session.returns["properties"] == {
		"items": {"type": "array", "items": {"type": "string"}},
		"remaining": {"type": "integer"},
	}
	assert session.summary == "Due items of the session user."
	assert session.acts_for_player and not session.roles

	archive = found["archive"]
	assert archive.methods == ("POST",) and archive.rate_limited and archive.camel_case
	assert archive.roles == ("Memora Admin", "System Manager")
	assert archive.params[1].schema == {"type": "string", "enum": ["fast", "safe"]}
	assert archive.returns == {"type": "object", "additionalProperties": {"type": "integer"}}

	stats = found["stats"]
	assert stats.methods == api_source.FRAPPE_DEFAULT_METHODS
	assert stats.roles == ("Memora Admin", "Memora Service", "System Manager")
	assert [(p.name, p.required) for p in stats.params] == [
		("creator_id", True),
		("fans", True),
		("details", False),
	]
	assert stats.returns == {"type": "array", "items": {"type": "object"}, "nullable": True}


def test_types_imported_from_another_app_module_are_resolved(tmp_path, monkeypatch):
	sample_endpoints(tmp_path, monkeypatch)
	other = tmp_path / "memora" / "api" / "other.py"
	other.write_text(
		textwrap.dedent(
			"""
			import frappe
			from memora.api.sample import Session

			@frappe.whitelist(methods=["GET"])
			def again() -> list[Session]:
				pass
			"""
		)
	)
	(endpoint,) = api_source.endpoints_in(other)
	assert endpoint.returns["items"]["title"] == "Session"
	assert "`remaining` (integer)" in openapi.markdown_section(endpoint)


def test_operations_put_get_args_in_query_and_post_args_in_body(tmp_path, monkeypatch):
	found = sample_endpoints(tmp_path, monkeypatch)
	document = openapi.build(list(found.values()))
	get_op = document["paths"]["/api/method/memora.api.sample.get_session"]["get"]
	assert [p["name"] for p in get_op["parameters"]] == ["season", "limit", "player"]
	assert set(get_op["responses"]) == {"200", "401", "403", "404", "417", "503"}
	assert "X-Correlation-ID" in get_op["responses"]["200"]["headers"]
	assert get_op["responses"]["403"]["content"]["application/json"]["schema"] == {
		"$ref": "#/components/schemas/MemoraError"
	}

	post_op = document["paths"]["/api/method/memora.api.sample.archive"]["post"]
	body = post_op["requestBody"]["content"]["application/json"]["schema"]
	assert body["required"] == ["season"]
	assert body["properties"]["mode"]["default"] == "safe"
	assert body["properties"]["season"] == {"type": "string", "minLength": 1, "example": "2025-2026"}
	# A list may come as JSON, or as JSON text in a form post.
	assert body["properties"]["fan_ids"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
	assert body["properties"]["fan_ids"]["anyOf"][1]["type"] == "string"
	assert "Retry-After" in post_op["responses"]["429"]["headers"]
	assert "X-RateLimit-Remaining" in post_op["responses"]["200"]["headers"]
	assert "get" not in document["paths"]["/api/method/memora.api.sample.archive"]


def test_markdown_reference_has_url_verb_role_and_curl(tmp_path, monkeypatch):
	found = sample_endpoints(tmp_path, monkeypatch)
	section = openapi.markdown_section(found["archive"])
	assert "/api/method/memora.api.sample.archive" in section
	assert "- **HTTP**: POST" in section
	assert "- **Role**: Memora Admin or System Manager" in section
	assert "Authorization: token <api_key>:<api_secret>" in section
	assert '"season": "<season>"' in section


def test_openapi_json_is_in_sync_with_the_code():
	expected = openapi.render_json(openapi.build(api_source.collect()))
	assert openapi.OPENAPI_PATH.read_text() == expected, "run: python -m memora.openapi"


def test_api_md_is_in_sync_and_mentions_every_whitelisted_method():
	endpoints = api_source.collect()
	markdown = openapi.API_MD_PATH.read_text()
	assert markdown == openapi.splice(
		markdown, openapi.markdown_reference(endpoints)
	), "run: python -m memora.openapi"
	for endpoint in endpoints:
		assert f"`{endpoint.url}`" in markdown
