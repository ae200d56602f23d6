"""Memora's whitelisted endpoints as read from the source of `memora/api/`, for the OpenAPI document.

The API modules import frappe, which is not installed outside a bench, so they are read with `ast`
rather than imported: `@frappe.whitelist(...)` (and its `methods=[...]`) marks an endpoint, the type
hints give the schema, the docstring the description, and the role checks it calls (`require_admin`,
`require_roles(...)`, `acting_player`, `frappe.only_for`) the required role.
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
