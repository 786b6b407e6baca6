"""The test suite's own habits (issue 15): helpers live in tests/helpers, fixtures are found
relative to the repository, and nothing reaches into sys.path."""

from __future__ import annotations

import ast
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


SRC = TESTS.parent / "src" / "facereel"
_ENV_MUTATORS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _is_environ(node) -> bool:
    """``os.environ`` (or a bare ``environ`` from ``from os import environ``)."""
    return ((isinstance(node, ast.Attribute) and node.attr == "environ"
             and isinstance(node.value, ast.Name) and node.value.id == "os")
            or (isinstance(node, ast.Name) and node.id == "environ"))


def _environ_writes(tree: ast.AST) -> list[int]:
    """Lines that change the process environment: ``os.environ[k] = v`` (also augmented, deleted),
    ``os.environ.setdefault/update/pop/...``, ``os.putenv``/``os.unsetenv``."""
    lines = []
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if any(isinstance(t, ast.Subscript) and _is_environ(t.value) for t in targets):
            lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if (f.attr in _ENV_MUTATORS and _is_environ(f.value)) or (
                    f.attr in ("putenv", "unsetenv") and isinstance(f.value, ast.Name) and f.value.id == "os"):
                lines.append(node.lineno)
    return sorted(lines)


def test_src_never_writes_the_environment():
    # Settings travel as objects (facereel.nets.plan.set_default_plan, options), never through
    # os.environ: an environment write leaks into every later call and child process.
    bad = [f"{p.relative_to(SRC.parent)}:{line}" for p in sorted(SRC.rglob("*.py"))
           for line in _environ_writes(ast.parse(p.read_text(encoding="utf-8")))]
    assert not bad, "os.environ written in src: " + ", ".join(bad)


def test_the_environment_scan_finds_writes():
    code = ('import os\nfrom os import environ\nos.environ["A"] = "1"\nos.environ.setdefault("B", "2")\n'
            'os.putenv("C", "3")\nenviron.update(D="4")\ndel os.environ["E"]\nos.environ["F"] += "x"\n'
            'x = os.environ.get("G")\nenv = {**os.environ, "H": "1"}\nos.environ.copy()\n')
    assert _environ_writes(ast.parse(code)) == [3, 4, 5, 6, 7, 8]
