"""The room map of ARCHITECTURE.md, enforced: every import in src/facereel against its table.

Every ``import``/``from ... import`` node anywhere in a module (function-level ones included)
is resolved to an absolute module name (relative imports against the module's package,
``from facereel import weights`` to ``facereel.weights``), mapped to its room (the first name
under ``facereel``) and checked against the row of the importing room.  No allow-list.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = SRC / "facereel"
ARCH = ROOT / "ARCHITECTURE.md"


def room_table() -> dict[str, set[str]]:
    """{room: rooms it may import} from the markdown table under 'Who may import whom'."""
    text = ARCH.read_text(encoding="utf-8")
    section = text.split("## Who may import whom", 1)[1]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*([a-z_]+)\s*\|([^|]*)\|\s*$", line)
        if not m or m.group(1) == "room":
            continue
        table[m.group(1)] = {r.strip() for r in m.group(2).split(",") if r.strip()}
    return table


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    p = SRC.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every facereel import in ``path``."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # `from facereel import weights` imports the module facereel.weights
                sub = f"{target}.{a.name}"
                found.append((node.lineno, sub if a.name != "*" and is_module(sub) else target))
    return [(line, name) for line, name in found if name == "facereel" or name.startswith("facereel.")]


def room_of(module: str) -> str | None:
    """The room of a facereel module (None for the package root itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def all_modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_table_parses_and_is_layered():
    table = room_table()
    assert {"core", "options", "nets", "weights", "render", "pipelines", "web", "commands"} <= set(table)
    for room, allowed in table.items():
        assert room not in allowed, f"{room} lists itself"
        unknown = allowed - set(table)
        assert not unknown, f"{room} may import unknown rooms {sorted(unknown)}"
    assert table["core"] == set()
    assert table["options"] == {"core"}
    # the table is a DAG: no room may (transitively) import a room that may import it
    for start in table:
        seen, todo = set(), list(table[start])
        while todo:
            r = todo.pop()
            assert r != start, f"cycle through {start} in ARCHITECTURE.md"
            if r not in seen:
                seen.add(r)
                todo += table[r]


def test_every_room_is_in_the_table():
    table = room_table()
    rooms = {room_of(module_name(p)) for p in all_modules()} - {None}
    missing = rooms - set(table)
    assert not missing, f"rooms without a row in ARCHITECTURE.md: {sorted(missing)}"


def test_imports_follow_the_room_map():
    table = room_table()
    bad = []
    for path in all_modules():
        src_room = room_of(module_name(path))
        if src_room is None:  # the package root imports nothing of its own
            continue
        allowed = table.get(src_room, set()) | {src_room}
        for line, target in imports_of(path):
            dst = room_of(target)
            if dst is not None and dst not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {src_room} imports {target} ({dst})")
    assert not bad, "imports the room map of ARCHITECTURE.md forbids:\n" + "\n".join(sorted(set(bad)))


def test_the_walker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    """The checker itself: a nested import, a relative import and `from facereel import x`."""
    src = tmp_path / "src"
    pkg = src / "facereel" / "render"
    pkg.mkdir(parents=True)
    (src / "facereel" / "__init__.py").write_text("")
    (src / "facereel" / "weights.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "sub.py").write_text("")
    mod = pkg / "x.py"
    mod.write_text("def f():\n    from facereel import weights\n    from . import sub\n    from ..pipelines import a\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", src)
    names = [n for _, n in imports_of(mod)]
    assert names == ["facereel.weights", "facereel.render.sub", "facereel.pipelines"]
