"""The test suite's own habits (issue 15): helpers live in tests/helpers, fixtures are found
relative to the repository, and nothing reaches into sys.path."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _sources():
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(TESTS.rglob("*.py"))]


def test_helpers_live_in_tests_helpers():
    loose = [p.name for p in TESTS.glob("*.py") if not p.name.startswith("test_")
             and p.name not in ("__init__.py", "conftest.py")]
    assert not loose, f"move test helpers into tests/helpers/: {loose}"


def test_no_test_module_imports_another():
    bad = [f"{p.relative_to(TESTS)}: {m.group(0).strip()}" for p, s in _sources()
           for m in re.finditer(r"^\s*(?:from|import) (?:test_\w+|\w+_helpers|golden|clitext|golden_builders)\b.*$",
                                s, re.M)]
    assert not bad, "import test helpers from tests.helpers: " + "; ".join(bad)


def test_no_sys_path_manipulation():
    bad = [str(p.relative_to(TESTS)) for p, s in _sources()
           if p.name != "test_habits.py" and re.search(r"sys\.path\.(?:insert|append)", s)]
    assert not bad, bad


def test_no_absolute_machine_paths():
    # golden fixtures are found through tests.helpers.golden (../shared/golden beside the repository)
    bad = [f"{p.relative_to(TESTS)}:{s[:m.start()].count(chr(10)) + 1}" for p, s in _sources()
           if p.name != "test_habits.py" for m in re.finditer(r"[\"']/work/|Path\([\"']/[^\"']*golden", s)]
    assert not bad, bad
