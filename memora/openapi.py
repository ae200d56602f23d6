"""OpenAPI 3 document and the reference part of docs/api.md, generated from the whitelisted functions.

The endpoints come from `api_source`, which reads the API modules' source. Run
`python -m memora.openapi` after changing an endpoint; tests/test_openapi.py fails until you do.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from memora import __version__
from memora.api_source import ERRORS, FRAPPE_DEFAULT_METHODS, REPO_ROOT, Endpoint, Param, collect

OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"
API_MD_PATH = REPO_ROOT / "docs" / "api.md"
BEGIN_MARK = "<!-- BEGIN GENERATED REFERENCE: python -m memora.openapi -->"
END_MARK = "<!-- END GENERATED REFERENCE -->"

# --- OpenAPI ------------------------------------------------------------------------------------


CORRELATION_HEADER = {
	"X-Correlation-ID": {
		"description": "The call's correlation id: the client's X-Correlation-ID when valid, else a new one",
		"schema": {"type": "string"},
	}
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
RATE_LIMIT_HEADERS = {
	f"X-RateLimit-{name}": {"description": description, "schema": {"type": "integer"}}
	for name, description in (
		("Limit", "Calls allowed in the window (of the budget closest to running out)"),
		("Remaining", "Calls left in the window"),
		("Reset", "Seconds until the window starts again"),
	)
}
ERROR_TYPES = [
	"VALIDATION_ERROR",
	"NOT_FOUND",
	"CONFLICT",
	"TIMEOUT",
	"CACHE_ERROR",
	"DATABASE_ERROR",
	"NOT_PERMITTED",
	"RATE_LIMITED",
	"INTERNAL_ERROR",
]
# Sample values for the arguments every client meets, for the documents' examples.
EXAMPLES = {
	"fan_id": "fan-123",
	"creator_id": "creator-456",
	"fan_ids": ["fan-123", "fan-789"],
	"season": "2025-2026",
	"season_name": "2024-2025",
	"player": "ana@example.com",
	"type": "message",
	"content": "I love your content!",
	"responses": [{"question_id": "q-1", "is_correct": True, "duration_ms": 2400}],
	"job_id": "memora-persist-8f1c2a",
	"action": "rebuild_cache",
}


def _error_responses(endpoint: Endpoint) -> dict:
	responses = {}
	for code in endpoint.error_codes:
		headers = dict(CORRELATION_HEADER)
		if code in ("429", "503"):
			headers.update(RETRY_AFTER_HEADER)
		responses[code] = {
			"description": ERRORS[code],
			"headers": headers,
			"content": {"application/json": {"schema": {"$ref": "#/components/schemas/MemoraError"}}},
		}
	return responses


def _success_response(endpoint: Endpoint) -> dict:
	headers = dict(CORRELATION_HEADER)
	if endpoint.rate_limited:
		headers.update(RATE_LIMIT_HEADERS)
	if endpoint.raw_response:
		return {
			"description": "The response the function builds, sent as is.",
			"headers": headers,
			"content": {"text/plain": {"schema": {"type": "string"}}},
		}
	body: dict = {"type": "object", "properties": {"message": endpoint.returns}}
	# Frappe leaves `message` out when the function returns None.
	if not endpoint.returns.get("nullable"):
		body["required"] = ["message"]
	return {
		"description": "The function's return value, wrapped by Frappe in `message` (left out for null).",
		"headers": headers,
		"content": {"application/json": {"schema": body}},
	}


def _json_text(schema: dict) -> dict | None:
	"""The JSON-typed member of `list | str` or `dict | str`: an argument sent as JSON text in a form."""
	members = schema.get("anyOf", [])
	kinds = {m.get("type") for m in members}
	if len(members) == 2 and "string" in kinds and kinds & {"array", "object"}:
		return next(m for m in members if m.get("type") != "string")
	return None


def _param_schema(param: Param, in_query: bool = False) -> dict:
	schema = dict(param.schema)
	if (structured := _json_text(schema)) is not None:
		kind = structured["type"]
		text = {"type": "string", "description": f"the {kind} as JSON text", "minLength": 1}
		schema = text if in_query else {"anyOf": [structured, text]}
		schema.update({"nullable": True} if param.schema.get("nullable") else {})
	elif schema.get("type") == "string" and param.required:
		schema["minLength"] = 1
	if param.default is not None:
		schema["default"] = param.default
	if param.name in EXAMPLES:
		example = EXAMPLES[param.name]
		schema["example"] = json.dumps(example) if in_query and not isinstance(example, str) else example
	return schema


def operation(endpoint: Endpoint, method: str) -> dict:
	op: dict = {
		"operationId": f"{endpoint.path}.{method.lower()}",
		"summary": endpoint.summary,
		"description": f"{endpoint.doc}\n\nRequired role: {endpoint.role_text}.".strip(),
		"tags": [endpoint.path.rsplit(".", 1)[0]],
		"x-memora-roles": list(endpoint.roles),
		"responses": {"200": _success_response(endpoint), **_error_responses(endpoint)},
	}
	if method == "GET":
		op["parameters"] = [
			{"name": p.name, "in": "query", "required": p.required, "schema": _param_schema(p, in_query=True)}
			for p in endpoint.params
		]
	elif endpoint.params:
		body = {
			"type": "object",
			"properties": {p.name: _param_schema(p) for p in endpoint.params},
		}
		if required := [p.name for p in endpoint.params if p.required]:
			body["required"] = required
		op["requestBody"] = {
			"required": bool(required),
			"content": {"application/json": {"schema": body}},
		}
	if endpoint.allow_guest:
		op["security"] = []
	return op


def build(endpoints: list[Endpoint]) -> dict:
	"""The OpenAPI 3.0 document for `endpoints`."""
	return {
		"openapi": "3.0.3",
		"info": {
			"title": "Memora API",
			"version": __version__,
			"description": (
				"Whitelisted methods of the Memora Frappe app. Every call returns its result under "
				"`message`; errors carry `error_type`, `field` (for a bad argument) and `correlation_id` "
				"besides Frappe's `exc_type` and `_server_messages`. "
				"Generated by `python -m memora.openapi` from the functions' type hints; see docs/api.md."
			),
		},
		"servers": [{"url": "https://{site}", "variables": {"site": {"default": "mysite.local"}}}],
		"security": [{"tokenAuth": []}, {"sessionCookie": []}],
		"components": {
			"securitySchemes": {
				"tokenAuth": {
					"type": "apiKey",
					"in": "header",
					"name": "Authorization",
					"description": "`token <api_key>:<api_secret>` of a User with API access",
				},
				"sessionCookie": {"type": "apiKey", "in": "cookie", "name": "sid"},
			},
			"schemas": {
				"MemoraError": {
					"type": "object",
					"description": "Frappe's error body with Memora's fields (docs/api.md, Errors)",
					"properties": {
						"error_type": {"type": "string", "enum": ERROR_TYPES},
						"field": {"type": "string", "description": "The argument at fault"},
						"correlation_id": {"type": "string"},
						"exc_type": {"type": "string"},
						"exception": {"type": "string"},
						"_server_messages": {
							"type": "string",
							"description": "JSON list of JSON-encoded messages",
						},
					},
				}
			},
		},
		"paths": {
			e.url: {m.lower(): operation(e, m) for m in e.methods if m in FRAPPE_DEFAULT_METHODS}
			for e in endpoints
		},
	}


def render_json(document: dict) -> str:
	return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- docs/api.md reference ------------------------------------------------------------------------


def _type_text(schema: dict) -> str:
	if "anyOf" in schema:
		text = " or ".join(_type_text(s) for s in schema["anyOf"])
	elif "enum" in schema:
		text = " | ".join(json.dumps(v) for v in schema["enum"])
	elif schema.get("type") == "array":
		text = f"list of {_type_text(schema.get('items', {}))}"
	elif "title" in schema:
		text = schema["title"]
	else:
		text = schema.get("type") or schema.get("description", "any")
	return f"{text} or null" if schema.get("nullable") else text


def _fields_text(schema: dict) -> str:
	"""The fields of a typed result (a TypedDict, or a list of them), as ` — name (type), ...`."""
	record = schema.get("items", {}) if schema.get("type") == "array" else schema
	fields = record.get("properties")
	if not fields:
		return ""
	return " — " + ", ".join(f"`{name}` ({_type_text(field)})" for name, field in fields.items())


def _example_value(param: Param) -> Any:
	if param.default is not None:
		return param.default
	return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(
		param.schema.get("type", ""), f"<{param.name}>"
	)


def curl_example(endpoint: Endpoint) -> str:
	"""A read as GET with its required arguments in the query string; anything else as POST with JSON."""
	required = [p for p in endpoint.params if p.required]
	if "GET" in endpoint.methods:
		query = "&".join(f"{p.name}={_example_value(p)}" for p in required)
		return (
			f"curl 'https://mysite.local{endpoint.url}{'?' + query if query else ''}' \\\n"
			"  -H 'Authorization: token <api_key>:<api_secret>'"
		)
	lines = [
		f"curl -X {endpoint.methods[0]} 'https://mysite.local{endpoint.url}' \\",
		"  -H 'Authorization: token <api_key>:<api_secret>'",
	]
	if required:
		body = json.dumps({p.name: _example_value(p) for p in required})
		lines[-1] += " \\"
		lines += ["  -H 'Content-Type: application/json' \\", f"  -d '{body}'"]
	return "\n".join(lines)


def markdown_section(endpoint: Endpoint) -> str:
	out = [f"### `{endpoint.path}`", "", endpoint.doc or endpoint.summary, ""]
	out.append(f"- **URL**: `{endpoint.url}`")
	out.append(f"- **HTTP**: {', '.join(endpoint.methods)}")
	out.append(f"- **Role**: {endpoint.role_text}")
	if endpoint.raw_response:
		out.append("- **Response**: the body the function builds, sent as is (not wrapped in `message`)")
	else:
		out.append(
			f"- **Response**: `message` is {_type_text(endpoint.returns)}{_fields_text(endpoint.returns)}"
		)
	errors = [f"{code} {ERRORS[code].split(':')[0]}" for code in endpoint.error_codes]
	out.append(f"- **Errors**: {', '.join(errors)}")
	if endpoint.camel_case:
		out.append("- **Also takes** the arguments in camelCase (`fanId`, `creatorId`, `fanIds`)")
	out.append("")
	if endpoint.params:
		out += ["| argument | type | required | default |", "| --- | --- | --- | --- |"]
		for p in endpoint.params:
			default = "" if p.required else f"`{json.dumps(p.default)}`"
			out.append(
				f"| `{p.name}` | {_type_text(p.schema)} | {'yes' if p.required else 'no'} | {default} |"
			)
		out.append("")
	out += ["```bash", curl_example(endpoint), "```", ""]
	return "\n".join(out)


def markdown_reference(endpoints: list[Endpoint]) -> str:
	sections = []
	module = None
	for endpoint in endpoints:
		parent = endpoint.path.rsplit(".", 1)[0]
		if parent != module:
			module = parent
			sections.append(f"## `{module}`\n")
		sections.append(markdown_section(endpoint))
	return "\n".join(sections).rstrip() + "\n"


def splice(markdown: str, reference: str) -> str:
	"""Replace the generated part of docs/api.md, keeping the hand-written text around it."""
	pattern = re.compile(re.escape(BEGIN_MARK) + r".*?" + re.escape(END_MARK), re.S)
	if not pattern.search(markdown):
		raise ValueError(f"{API_MD_PATH} has no {BEGIN_MARK!r} ... {END_MARK!r} block")
	return pattern.sub(lambda _: f"{BEGIN_MARK}\n\n{reference}\n{END_MARK}", markdown)


def main() -> None:
	endpoints = collect()
	OPENAPI_PATH.write_text(render_json(build(endpoints)))
	API_MD_PATH.write_text(splice(API_MD_PATH.read_text(), markdown_reference(endpoints)))
	print(f"{len(endpoints)} endpoints -> {OPENAPI_PATH.name}, {API_MD_PATH.name}", file=sys.stderr)


if __name__ == "__main__":
	main()
