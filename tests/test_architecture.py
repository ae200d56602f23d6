"""The shape of the code, checked: no import cycles, no module importing a layer above its own, and
every dotted path stored outside Python (hooks, scheduled and queued jobs, the Desk JavaScript)
still resolves."""

from __future__ import annotations

import ast
import re
from importlib import import_module
from pathlib import Path

import pytest

from memora import hooks

pytestmark = pytest.mark.unit

APP = Path(__file__).resolve().parents[1] / "memora"
# Layers from the bottom up: a module may import its own layer and those below it, never one above.
LAYERS = (
	("memora.exceptions", "memora.runtime", "memora.schema", "memora.app_ddl"),
	("memora.services",),
	("memora.api", "memora.memora", "memora.install", "memora.permissions", "memora.openapi"),
)
# Paths stored where Python cannot see them: jobs queued or failed before the move to the srs package.
FORWARDED = (
	"memora.services.srs_persistence.run_batch_job",
	"memora.services.srs_persistence.recover_abandoned_jobs",
	"memora.services.resync_marks.recover",
	"memora.services.srs_archiver.archive_season",
	"memora.services.srs_archiver.process_auto_archive",
	"memora.services.srs_archiver.flag_eligible_for_deletion",
	"memora.services.srs_archiver.delete_eligible_records",
	"memora.services.srs_reconciliation.reconcile_cache_with_database",
	"memora.services.partition_manager.create_partition",
	"memora.services.srs_redis_manager.rebuild_season_cache",
	"memora.runtime.execute_job",
)


def module_name(path: Path) -> str:
	parts = path.relative_to(APP.parent).with_suffix("").parts
	return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules() -> dict[str, Path]:
	return {
		module_name(path): path
		for path in APP.rglob("*.py")
		if "tests" not in path.parts and not path.name.startswith("test_")
	}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
	"""Memora modules a file imports at module level (imports inside functions are deliberate)."""
	found = set()
	for node in ast.parse(path.read_text()).body:
		names = []
		if isinstance(node, ast.Import):
			names = [alias.name for alias in node.names]
		elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
			names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
		found |= {name for name in names if name in modules}
	return found


def layer(module: str) -> int | None:
	for index, prefixes in enumerate(LAYERS):
		if any(module == p or module.startswith(p + ".") for p in prefixes):
			return index
	return None


def test_no_import_cycles():
	modules = app_modules()
	graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
	state: dict[str, int] = {}

	def visit(name: str, trail: list[str]) -> None:
		state[name] = 1
		for target in sorted(graph[name]):
			# A package's __init__ importing its own modules is how a package shows its face.
			if target.startswith(name + "."):
				continue
			if state.get(target) == 1:
				cycle = [*trail[trail.index(target) :], target] if target in trail else [name, target]
				pytest.fail("import cycle: " + " -> ".join(cycle))
			if target not in state:
				visit(target, [*trail, target])
		state[name] = 2

	for name in sorted(graph):
		if name not in state:
			visit(name, [name])


def test_no_module_imports_a_layer_above_its_own():
	modules = app_modules()
	upward = [
		f"{name} -> {target}"
		for name, path in modules.items()
		for target in imports_of(path, modules)
		if layer(name) is not None and layer(target) is not None and layer(target) > layer(name)
	]
	assert upward == []


def dotted_paths_in_hooks() -> set[str]:
	paths = {hooks.after_install, hooks.after_migrate}
	for events in hooks.scheduler_events.values():
		paths.update(events)
	for handlers in hooks.doc_events.values():
		for handler in handlers.values():
			paths.update([handler] if isinstance(handler, str) else handler)
	paths.update(hooks.permission_query_conditions.values())
	paths.update(hooks.has_permission.values())
	return paths


def dotted_paths_in_javascript() -> set[str]:
	found = set()
	for path in APP.rglob("*.js"):
		found.update(re.findall(r"[\"'](memora\.[a-z_.]+)[\"']", path.read_text()))
	return found


def dotted_paths_in_standalone() -> set[str]:
	from memora import standalone

	return set(standalone.RECOVERY_HOOKS)


def defines(module: str, attribute: str) -> bool:
	"""The module's source defines or imports `attribute` at top level (read, not imported: a site's
	modules import Frappe, which the standalone suite does not have)."""
	path = APP.parent.joinpath(*module.split("."))
	path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == attribute:
			return True
		if isinstance(node, ast.ImportFrom) and any(
			(alias.asname or alias.name) == attribute for alias in node.names
		):
			return True
	return False


@pytest.mark.parametrize(
	"source", [dotted_paths_in_hooks, dotted_paths_in_javascript, dotted_paths_in_standalone]
)
def test_every_stored_dotted_path_names_a_function(source):
	for path in sorted(source()):
		module, _, attribute = path.rpartition(".")
		assert defines(module, attribute), path


def test_paths_of_jobs_queued_before_the_move_still_run():
	for path in FORWARDED:
		module, _, attribute = path.rpartition(".")
		assert callable(getattr(import_module(module), attribute)), path
