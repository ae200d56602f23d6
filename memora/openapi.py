"""OpenAPI 3 document and the reference part of docs/api.md, generated from the whitelisted functions.

The API modules import frappe, which is not installed outside a bench, so they are read with `ast`
rather than imported: `@frappe.whitelist(...)` (and its `methods=[...]`) marks an endpoint, the type
hints give the schema, the docstring the description, and the role checks it calls (`require_admin`,
`require_roles(...)`, `acting_player`, `frappe.only_for`) the required role. Run
`python -m memora.openapi` after changing an endpoint; tests/test_openapi.py fails until you do.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memora import __version__
from memora.runtime import APP_ROOT

REPO_ROOT = APP_ROOT.parent
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"
API_MD_PATH = REPO_ROOT / "docs" / "api.md"
BEGIN_MARK = "<!-- BEGIN GENERATED REFERENCE: python -m memora.openapi -->"
END_MARK = "<!-- END GENERATED REFERENCE -->"

FRAPPE_DEFAULT_METHODS = ("GET", "POST", "PUT", "DELETE")
RAW_RESPONSE = "Response"
PRIMITIVES = {
	"str": {"type": "string"},
	"int": {"type": "integer"},
	"float": {"type": "number"},
	"bool": {"type": "boolean"},
	"dict": {"type": "object"},
	"Dict": {"type": "object"},
	"list": {"type": "array", "items": {}},
	"List": {"type": "array", "items": {}},
	"tuple": {"type": "array", "items": {}},
	"Any": {},
	"object": {},
	"datetime": {"type": "string", "format": "date-time"},
	"date": {"type": "string", "format": "date"},
}
ROLE_LABELS = {
	"ADMIN_ROLES": ("Memora Admin", "System Manager"),
	"SERVICE_ROLES": ("Memora Service", "Memora Admin", "System Manager"),
}
# Frappe's HTTP status for each exception an endpoint can raise (frappe/exceptions.py, v15).
ERRORS = {
	"403": "PermissionError: not logged in, or the session user lacks the required role",
	"417": "ValidationError: bad input (the message names the field) or an operation refused in the current state",
	"429": "RateLimitExceededError: too many calls in the rate-limit window",
}


@dataclass
class Param:
	name: str
	schema: dict
	required: bool
	default: Any = None


@dataclass
class Endpoint:
	path: str
	methods: tuple[str, ...]
	params: list[Param]
	returns: dict
	doc: str
	roles: tuple[str, ...]
	acts_for_player: bool = False
	allow_guest: bool = False
	rate_limited: bool = False
	notes: list[str] = field(default_factory=list)

	@property
	def url(self) -> str:
		return f"/api/method/{self.path}"

	@property
	def summary(self) -> str:
		return self.doc.split("\n\n")[0].replace("\n", " ").strip() if self.doc else self.path

	@property
	def raw_response(self) -> bool:
		"""The function returns a werkzeug Response, which Frappe sends as is (no `message` wrapper)."""
		return self.returns.get("description") == f"Python type {RAW_RESPONSE}"

	@property
	def role_text(self) -> str:
		if self.allow_guest:
			return "guest allowed: the endpoint checks its own credentials (see the description)"
		if self.acts_for_player:
			return (
				"any logged-in user for their own data; Memora Service, Memora Admin or System Manager "
				"to act for another player"
			)
		if self.roles:
			return " or ".join(self.roles)
		return "any logged-in user"


# --- reading the source ------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
	if isinstance(node, ast.Name):
		return node.id
	if isinstance(node, ast.Attribute):
		return f"{_dotted(node.value)}.{node.attr}"
	return ""


def _whitelist_call(func: ast.FunctionDef) -> ast.Call | ast.AST | None:
	for decorator in func.decorator_list:
		target = decorator.func if isinstance(decorator, ast.Call) else decorator
		if _dotted(target) in ("frappe.whitelist", "whitelist"):
			return decorator
	return None


def _keyword(call: ast.AST, name: str) -> ast.AST | None:
	if isinstance(call, ast.Call):
		for kw in call.keywords:
			if kw.arg == name:
				return kw.value
	return None


def _literal(node: ast.AST | None, default: Any = None) -> Any:
	if node is None:
		return default
	try:
		return ast.literal_eval(node)
	except ValueError:
		return default


def _is_rate_limited(func: ast.FunctionDef) -> bool:
	for decorator in func.decorator_list:
		target = decorator.func if isinstance(decorator, ast.Call) else decorator
		if _dotted(target).rsplit(".", 1)[-1] == "rate_limit":
			return True
	return False


class Schemas:
	"""Python annotations to JSON Schema, resolving TypedDicts and aliases defined in the module."""

	def __init__(self, tree: ast.Module) -> None:
		self.classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
		self.aliases = {
			n.targets[0].id: n.value
			for n in tree.body
			if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
		}
		# Types imported from another module of the app (`from memora.api.srs import ArchiveStatus`).
		self.imported = {
			alias.asname or alias.name: (node.module, alias.name)
			for node in tree.body
			if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memora.")
			for alias in node.names
		}

	def of(self, node: ast.AST | None) -> dict:
		if node is None:
			return {}
		if isinstance(node, ast.Constant):
			if node.value is None:
				return {"nullable": True}
			if isinstance(node.value, str):
				return self.of(ast.parse(node.value, mode="eval").body)
		if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
			return self._union([node.left, node.right])
		if isinstance(node, ast.Subscript):
			return self._generic(_dotted(node.value).rsplit(".", 1)[-1], node.slice)
		name = _dotted(node).rsplit(".", 1)[-1]
		if name in PRIMITIVES:
			return dict(PRIMITIVES[name])
		if name in self.classes:
			return self._class(self.classes[name])
		if name in self.aliases:
			return self.of(self.aliases[name])
		if name in self.imported:
			return self._imported(*self.imported[name])
		return {"description": f"Python type {name}"}

	def _imported(self, module: str, name: str) -> dict:
		path = REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py")
		if not path.is_file():
			return {"description": f"Python type {name}"}
		return Schemas(ast.parse(path.read_text(), filename=str(path))).of(ast.Name(id=name))

	def _union(self, members: list[ast.AST]) -> dict:
		flat: list[ast.AST] = []
		while members:
			node = members.pop()
			if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
				members += [node.left, node.right]
			else:
				flat.append(node)
		nullable = any(isinstance(n, ast.Constant) and n.value is None for n in flat)
		schemas = [
			self.of(n) for n in reversed(flat) if not (isinstance(n, ast.Constant) and n.value is None)
		]
		schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
		return {**schema, "nullable": True} if nullable else schema

	def _generic(self, name: str, inner: ast.AST) -> dict:
		args = inner.elts if isinstance(inner, ast.Tuple) else [inner]
		if name in ("list", "List", "Sequence", "Iterable", "set", "tuple"):
			return {"type": "array", "items": self.of(args[0])}
		if name in ("dict", "Dict", "Mapping"):
			return {"type": "object", "additionalProperties": self.of(args[-1])}
		if name == "Optional":
			return {**self.of(args[0]), "nullable": True}
		if name == "Union":
			return self._union(list(args))
		if name == "Literal":
			values = [_literal(a) for a in args]
			kind = "string" if all(isinstance(v, str) for v in values) else "integer"
			return {"type": kind, "enum": values}
		return self.of(ast.Name(id=name))

	def _class(self, node: ast.ClassDef) -> dict:
		properties = {
			item.target.id: self.of(item.annotation)
			for item in node.body
			if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
		}
		schema: dict = {"type": "object", "title": node.name, "properties": properties}
		if doc := ast.get_docstring(node):
			schema["description"] = doc
		return schema


class RoleFinder:
	"""The roles an endpoint demands, from the checks it (or a helper in its module) calls."""

	def __init__(self, tree: ast.Module) -> None:
		self.functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

	def find(self, func: ast.FunctionDef, seen: frozenset = frozenset()) -> tuple[set[str], bool]:
		roles: set[str] = set()
		acts_for_player = False
		for node in ast.walk(func):
			if not isinstance(node, ast.Call):
				continue
			name = _dotted(node.func).rsplit(".", 1)[-1]
			if name == "require_admin":
				roles.update(ROLE_LABELS["ADMIN_ROLES"])
			elif name in ("require_roles", "only_for") and node.args:
				roles.update(self._role_names(node.args[0]))
			elif name == "acting_player":
				acts_for_player = True
			elif name in self.functions and name not in seen and name != func.name:
				more, acting = self.find(self.functions[name], seen | {func.name})
				roles |= more
				acts_for_player |= acting
		return roles, acts_for_player

	@staticmethod
	def _role_names(node: ast.AST) -> set[str]:
		name = _dotted(node).rsplit(".", 1)[-1]
		if name in ROLE_LABELS:
			return set(ROLE_LABELS[name])
		value = _literal(node, ())
		return {value} if isinstance(value, str) else set(value)


def _params(func: ast.FunctionDef, schemas: Schemas) -> list[Param]:
	args = func.args
	positional = args.posonlyargs + args.args
	defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
	pairs = list(zip(positional, defaults, strict=True)) + list(
		zip(args.kwonlyargs, args.kw_defaults, strict=True)
	)
	params = []
	for arg, default in pairs:
		if arg.arg in ("self", "cls") or arg.arg.startswith("_"):
			continue
		params.append(
			Param(
				name=arg.arg,
				schema=schemas.of(arg.annotation),
				required=default is None,
				default=_literal(default),
			)
		)
	return params


def module_path(path: Path) -> str:
	return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def endpoints_in(path: Path) -> list[Endpoint]:
	"""Every whitelisted function of one Python file, in source order."""
	tree = ast.parse(path.read_text(), filename=str(path))
	schemas, roles = Schemas(tree), RoleFinder(tree)
	found = []
	for func in tree.body:
		if not isinstance(func, ast.FunctionDef) or (decorator := _whitelist_call(func)) is None:
			continue
		methods = _literal(_keyword(decorator, "methods")) or FRAPPE_DEFAULT_METHODS
		role_set, acts_for_player = roles.find(func)
		found.append(
			Endpoint(
				path=f"{module_path(path)}.{func.name}",
				methods=tuple(m.upper() for m in methods),
				params=_params(func, schemas),
				returns=schemas.of(func.returns),
				doc=ast.get_docstring(func) or "",
				roles=tuple(sorted(role_set)),
				acts_for_player=acts_for_player,
				allow_guest=bool(_literal(_keyword(decorator, "allow_guest"), False)),
				rate_limited=_is_rate_limited(func),
			)
		)
	return found


def source_files() -> list[Path]:
	"""App modules that can hold whitelisted functions (test files never do)."""
	return sorted(
		p
		for p in APP_ROOT.rglob("*.py")
		if not p.name.startswith("test_") and "whitelist" in p.read_text(errors="ignore")
	)


def collect() -> list[Endpoint]:
	return sorted((e for p in source_files() for e in endpoints_in(p)), key=lambda e: e.path)


# --- OpenAPI ------------------------------------------------------------------------------------


def _error_responses(endpoint: Endpoint) -> dict:
	codes = ["403", "417"] + (["429"] if endpoint.rate_limited else [])
	return {
		code: {
			"description": ERRORS[code],
			"content": {"application/json": {"schema": {"$ref": "#/components/schemas/FrappeError"}}},
		}
		for code in codes
	}


def _success_response(endpoint: Endpoint) -> dict:
	if endpoint.raw_response:
		return {
			"description": "The response the function builds, sent as is.",
			"content": {"text/plain": {"schema": {"type": "string"}}},
		}
	return {
		"description": "The function's return value, wrapped by Frappe in `message`.",
		"content": {
			"application/json": {"schema": {"type": "object", "properties": {"message": endpoint.returns}}}
		},
	}


def _param_schema(param: Param) -> dict:
	schema = dict(param.schema)
	if param.default is not None:
		schema["default"] = param.default
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
			{"name": p.name, "in": "query", "required": p.required, "schema": _param_schema(p)}
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
				"`message`; errors carry Frappe's `exc_type` and `_server_messages`. "
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
				"FrappeError": {
					"type": "object",
					"properties": {
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
	if "oneOf" in schema:
		text = " or ".join(_type_text(s) for s in schema["oneOf"])
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
	errors = ["403 PermissionError", "417 ValidationError"] + (
		["429 RateLimitExceededError"] if endpoint.rate_limited else []
	)
	out.append(f"- **Errors**: {', '.join(errors)}")
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
