"""`from memora import srs, memory` at a console: the main services, each with its docstring."""

import inspect

import pytest

from memora import memory, srs
from tests.population import populated_season


@pytest.mark.parametrize("module", [srs, memory])
def test_every_exported_name_is_documented(module):
	assert module.__doc__
	for name in module.__all__:
		assert inspect.getdoc(getattr(module, name)), f"{module.__name__}.{name} has no docstring"


def test_srs_calls_reach_the_services():
	populated_season("Console 2025", players=1, questions=3, active=True)
	assert srs.rebuild_season_cache("Console 2025")["total_records"] == 3
	session = srs.get_review_session("p0@example.com", "Console 2025")
	assert sorted(session["questions"]) == ["q0", "q1", "q2"]
	assert srs.get_archive_status("Console 2025")["active_records"] == 3


def test_memory_calls_reach_the_service():
	memory.save_interaction(
		{"fan_id": "console-fan", "creator_id": "console-creator", "type": "message", "content": "hi!"}
	)
	context = memory.get_memory_context("console-fan", "console-creator")
	assert context["engagement_metrics"]["total_interactions"] == 1
	assert memory.get_memory_stats("console-creator")["total_fans"] == 1
