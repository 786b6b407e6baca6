"""Options objects: errors name fields (never flags), the CLI words them as flags, and every
choice list of ``facereel.options.choices`` is defined there and nowhere else."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facereel.core.errors import OptionsError
from facereel.options import choices
from facereel.options.latent import LatentOptions
from facereel.options.timelapse import TimelapseOptions
from tests.helpers.clitext import cli_text as _text

SRC = Path(__file__).resolve().parents[1] / "src" / "facereel"


def test_defaults_are_valid_and_frozen():
    opts = TimelapseOptions().validate()
    assert opts.frames_per_gap == 24 and opts.opacity == 0.5 and opts.size == 512
    assert isinstance(opts.latent, LatentOptions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.size = 256  # type: ignore[misc]
    assert opts.replace(size=720).size == 720 and opts.size == 512


@pytest.mark.parametrize("field,value", [
    ("engine", "warp"), ("frames_per_gap", 0), ("frames_per_gap", 2.5), ("timing", "random"), ("hold", -1),
    ("size", 63), ("size", 2049), ("size", True), ("fps", 0), ("fps", float("nan")), ("opacity", 1.01),
    ("opacity", -0.1), ("format", "mkv"), ("keep_flagged", "yes"), ("stabilize", 1),
])
def test_timelapse_errors_name_the_field(field, value):
    with pytest.raises(OptionsError) as e:
        TimelapseOptions(**{field: value}).validate()
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}: ") and "--" not in str(e.value)


@pytest.mark.parametrize("field,value", [
    ("method", "magic"), ("steps", 0), ("restarts", 0), ("iterations", 0), ("seed", -1), ("interpolation", "cubic"),
    ("blend", "soft"), ("batch_size", 0), ("device", "tpu"), ("generator", ""), ("use_cache", "no"),
])
def test_latent_errors_name_the_field_also_nested(field, value):
    with pytest.raises(OptionsError) as e:
        LatentOptions(**{field: value}).validate()
    assert e.value.field == field
    with pytest.raises(OptionsError) as e:
        TimelapseOptions(engine="latent", latent=LatentOptions(**{field: value})).validate()
    assert e.value.field == f"latent.{field}"


def test_encoder_needs_an_encoder_method():
    with pytest.raises(OptionsError) as e:
        LatentOptions(method="optimize", encoder="psp_ffhq_encode").validate()
    assert e.value.field == "encoder"
    LatentOptions(method="e4e", encoder="e4e_ffhq_encode").validate()
    LatentOptions(device="cuda:1").validate()


def test_sizes_are_any_whole_number_in_range():
    for s in (choices.SIZE_MIN, 128, 720, 1000, choices.SIZE_MAX):
        assert TimelapseOptions(size=s).validate().size == s


def test_message_for_maps_fields_to_flags():
    from facereel.commands.timelapse import FLAGS

    assert set(FLAGS) >= {f.name for f in dataclasses.fields(TimelapseOptions) if f.name != "latent"}
    with pytest.raises(OptionsError) as e:
        TimelapseOptions(frames_per_gap=0).validate()
    assert e.value.message_for(FLAGS).startswith("--frames: ")
    with pytest.raises(OptionsError) as e:
        TimelapseOptions(latent=LatentOptions(interpolation="cubic")).validate()
    assert e.value.message_for(FLAGS).startswith("--interpolation: unknown value 'cubic'")


@pytest.mark.parametrize("args,flag", [
    (["--fps", "0"], "--fps"),
    (["--size", "4096"], "--size"),
    (["--engine", "latent", "--method", "magic"], "--method"),
    (["--engine", "latent", "--interpolation", "cubic"], "--interpolation"),
    (["--engine", "latent", "--encoder", "x.pt"], "--encoder"),
])
def test_cli_words_option_errors_as_flags(tmp_path, args, flag):
    from facereel.cli import app

    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"")
    r = CliRunner().invoke(app, ["timelapse", str(photo), str(photo), "-o", str(tmp_path / "t.mp4"), *args])
    text = _text(r)
    assert r.exit_code != 0 and "Traceback" not in text
    assert f"error: {flag}: " in text, text
    assert "latent." not in text and "frames_per_gap" not in text
    assert not (tmp_path / "t.mp4").exists()


def test_web_keeps_its_size_menu():
    from facereel.web.config import WebConfig

    assert tuple(WebConfig().render_sizes) == choices.WEB_SIZES


# ------------------------------------------------------------------------ one definition each


def _choice_lists() -> dict[str, tuple]:
    return {k: v for k, v in vars(choices).items()
            if k.isupper() and isinstance(v, tuple) and len(v) >= 2}


def _literal_values(node: ast.AST) -> list | None:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
            and all(isinstance(e, ast.Constant) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _restatements(tree: ast.AST, lists: dict[str, tuple]) -> list[tuple[int, str]]:
    """(line, list name) of every literal tuple/list/set (Literal[...] included) or Enum class
    whose values are exactly one of the choice lists."""
    found = []
    for node in ast.walk(tree):
        values = _literal_values(node)
        if values is None and isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", getattr(b, "attr", "")) in ("Enum", "StrEnum") for b in node.bases):
            values = [s.value.value for s in node.body
                      if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)] or None
        if values is None and isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Enum" \
                and len(node.args) > 1:
            values = _literal_values(node.args[1])
        if values is None:
            continue
        for name, choice in lists.items():
            if set(values) == set(choice):
                found.append((node.lineno, name))
    return found


def test_each_choice_list_is_defined_once():
    lists = _choice_lists()
    assert {"ENGINES", "VIDEO_FORMATS", "TIMINGS", "INVERSION_METHODS", "INTERPOLATIONS", "BLENDS", "LANDMARKS",
            "DEVICES", "WEB_SIZES", "IMAGE_SUFFIXES"} <= set(lists)
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "options" / "choices.py":
            continue
        for line, name in _restatements(ast.parse(path.read_text(encoding="utf-8")), lists):
            bad.append(f"{path.relative_to(SRC.parent)}:{line}: restates choices.{name}")
    assert not bad, "choice lists restated outside facereel/options/choices.py:\n" + "\n".join(bad)


def test_the_scan_finds_restatements():
    tree = ast.parse('X = ("morph", "crossfade", "latent")\n'
                     'def f(s: Literal["seed", "aligned"]): return s in [256, 512, 1024]\n'
                     'class E(str, Enum):\n    a = "uniform"\n    b = "age"\n'
                     'F = Enum("F", ("mp4", "webm", "gif", "frames"))\n')
    names = sorted({n for _, n in _restatements(tree, _choice_lists())})
    assert names == ["BLENDS", "ENGINES", "TIMINGS", "VIDEO_FORMATS", "WEB_SIZES"]
