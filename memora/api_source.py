"""Memora's whitelisted endpoints as read from the source of `memora/api/`, for the OpenAPI document.

The API modules import frappe, which is not installed outside a bench, so they are read with `ast`
rather than imported: `@frappe.whitelist(...)` (and its `methods=[...]`) marks an endpoint, the type
hints give the schema, the docstring the description, and `@endpoint(ROLES, acts_for_player=...,
limit=..., camel_case=...)` the required role, the rate limit and the camelCase aliases (or, for a
function without it, the role checks it calls: `require_admin`, `require_roles(...)`,
`frappe.only_for`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memora.runtime import APP_ROOT

REPO_ROOT = APP_ROOT.parent
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
# Every status a Memora endpoint answers with, and why (memora/api/errors.py, memora/exceptions.py).
ERRORS = {
	"401": "AuthenticationError: the API key or session is not valid",
	"403": "NOT_PERMITTED: not logged in, or the session user lacks the required role",
	"404": "NOT_FOUND: an argument names something that does not exist (`field` says which)",
	"409": "CONFLICT: refused in the current state (an active season's archive, a partition with rows)",
	"417": "VALIDATION_ERROR: an argument is missing or not valid (`field` says which)",
	"429": "RATE_LIMITED: too many calls in the window; retry after `Retry-After` seconds",
	"503": "CACHE_ERROR or DATABASE_ERROR: a backing service is unavailable; retry after `Retry-After` seconds",
	"504": "TIMEOUT: a read took longer than its bound",
}
# Arguments that name things which may not exist.
LOOKUP_ARGUMENTS = frozenset({"season", "season_name", "job_id", "chart_name", "doctype"})


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
	camel_case: bool = False
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
	def error_codes(self) -> list[str]:
		"""The statuses this endpoint can answer with besides 200."""
		codes = ["401", "403", "417"]
		if LOOKUP_ARGUMENTS & {p.name for p in self.params}:
			codes.append("404")
		if self.path.startswith(("memora.api.srs.", "memora.api.desk.", "memora.api.reviews.")):
			codes.append("409")
		if self.rate_limited:
			codes.append("429")
		codes.append("503")
		if self.path.startswith("memora.api.memory."):
			codes.append("504")
		return codes

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


def _endpoint_call(func: ast.FunctionDef) -> ast.Call | None:
	"""The `@endpoint(...)` decorator of a function, if it has one."""
	for decorator in func.decorator_list:
		if isinstance(decorator, ast.Call) and _dotted(decorator.func).rsplit(".", 1)[-1] == "endpoint":
			return decorator
	return None


def _is_not_required(annotation: ast.AST) -> bool:
	if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
		annotation = ast.parse(annotation.value, mode="eval").body
	return isinstance(annotation, ast.Subscript) and _dotted(annotation.value).endswith("NotRequired")


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
		schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
		return {**schema, "nullable": True} if nullable else schema

	def _generic(self, name: str, inner: ast.AST) -> dict:
		args = inner.elts if isinstance(inner, ast.Tuple) else [inner]
		if name in ("list", "List", "Sequence", "Iterable", "set", "tuple"):
			return {"type": "array", "items": self.of(args[0])}
		if name in ("dict", "Dict", "Mapping"):
			return {"type": "object", "additionalProperties": self.of(args[-1])}
		if name == "Optional":
			return {**self.of(args[0]), "nullable": True}
		if name in ("NotRequired", "Required"):
			return self.of(args[0])
		if name == "Union":
			return self._union(list(args))
		if name == "Literal":
			values = [_literal(a) for a in args]
			kind = "string" if all(isinstance(v, str) for v in values) else "integer"
			return {"type": kind, "enum": values}
		return self.of(ast.Name(id=name))

	def _class(self, node: ast.ClassDef) -> dict:
		"""A TypedDict's fields, its bases' first (a TypedDict may extend another). Every field is
		required but those marked NotRequired, or all of a class declared with total=False."""
		properties, required = {}, []
		for base in node.bases:
			if _dotted(base) != "TypedDict":
				inherited = self.of(base)
				properties.update(inherited.get("properties", {}))
				required += inherited.get("required", [])
		total = _literal(next((k.value for k in node.keywords if k.arg == "total"), None), True)
		for item in node.body:
			if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
				properties[item.target.id] = self.of(item.annotation)
				if total and not _is_not_required(item.annotation):
					required.append(item.target.id)
		schema: dict = {"type": "object", "title": node.name, "properties": properties}
		if required:
			schema["required"] = required
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
		if (declared := _endpoint_call(func)) is not None:
			role_set = RoleFinder._role_names(declared.args[0]) if declared.args else set()
			acts_for_player = bool(_literal(_keyword(declared, "acts_for_player"), False))
		else:
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
				rate_limited=declared is not None and _keyword(declared, "limit") is not None,
				camel_case=declared is not None and bool(_literal(_keyword(declared, "camel_case"), False)),
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
