"""Desk's JavaScript: every app script parses, and the Memora Season form script behaves (node --test
on tests/js/, against a stand-in for the Desk APIs it calls; a browser test needs a bench)."""

import shutil
import subprocess

import pytest

from memora.runtime import APP_ROOT

NODE = shutil.which("node")
JS_TESTS = APP_ROOT.parent / "tests" / "js"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.mark.parametrize("script", sorted(APP_ROOT.rglob("*.js")), ids=lambda p: str(p.relative_to(APP_ROOT)))
def test_script_parses(script):
	result = subprocess.run([NODE, "--check", str(script)], capture_output=True, text=True)
	assert result.returncode == 0, result.stderr


def test_season_form_script():
	result = subprocess.run([NODE, "--test", str(JS_TESTS)], capture_output=True, text=True, timeout=60)
	assert result.returncode == 0, result.stdout + result.stderr
