"""Issue 16 "the right photos", on the real sample photos: which duplicate is kept, a reference
of someone else, ages that depend on their own photo only, a birth date after a photo."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from facereel.samples import sample_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("right_photos")
    mp.setenv("FACEREEL_HOME", str(root / "home"))
    yield root
    mp.undo()


def _photos(folder: Path, names) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        shutil.copyfile(sample_path(n), folder / n)
        out.append(folder / n)
    return out


def _by_name(manifest):
    return {e.name: e for e in manifest.photos}


def test_the_exif_dated_original_is_kept_over_its_undated_alpha_copy(home):
    from facereel.pipelines.analyze import analyze_collection

    # 32bit.png is obama2.jpg with an alpha channel, no EXIF, and sorts first by name
    m = analyze_collection(_photos(home / "dup", ["32bit.png", "obama2.jpg", "obama.jpg", "obama3.jpg"]))
    by = _by_name(m)
    assert by["obama2.jpg"].flags == [] and by["obama2.jpg"].date_source == "exif"
    copy = by["32bit.png"]
    assert copy.flags == ["duplicate"] and Path(copy.duplicate_of).name == "obama2.jpg"
    assert "obama2.jpg kept" in copy.duplicate_reason and "EXIF date" in copy.duplicate_reason
    assert copy.date == by["obama2.jpg"].date and copy.date_source == "duplicate"
    # chronological: obama2 (2009) -> obama3 (2010) -> obama (2012)
    assert [e.name for e in m.ordered()] == ["obama2.jpg", "obama3.jpg", "obama.jpg"]


def test_a_reference_of_someone_else_is_an_error_with_the_distances(home):
    from facereel.pipelines.analyze import AnalyzeError, analyze_collection

    photos = _photos(home / "obama", ["obama.jpg", "obama2.jpg", "obama3.jpg"])
    ref = _photos(home / "ref", ["biden.jpg"])[0]
    with pytest.raises(AnalyzeError, match=r"biden.jpg matches no face") as info:
        analyze_collection(photos, reference=ref)
    msg = str(info.value)
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        assert name in msg
    assert "0.6" in msg and "\n" not in msg


def test_a_reference_matching_a_minority_is_a_warning(home, caplog):
    from facereel.pipelines.analyze import analyze_collection

    photos = _photos(home / "mixed", ["obama3.jpg", "biden.jpg", "astronaut.png"])
    ref = _photos(home / "ref2", ["obama.jpg"])[0]
    with caplog.at_level(logging.WARNING, logger="facereel.pipelines.analyze"):
        m = analyze_collection(photos, reference=ref)
    assert m.settings["reference_support"] == [1, 3]
    assert any("matches a face in only 1 of 3 photos" in r.getMessage() for r in caplog.records)
    assert [e.name for e in m.ordered()] == ["obama3.jpg"]


def test_ages_do_not_depend_on_the_other_photos(home):
    from facereel.pipelines.analyze import analyze_collection

    sets = [
        ["obama.jpg", "obama2.jpg", "obama3.jpg"],
        ["obama2.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "biden.jpg"],
        ["obama2.jpg", "32bit.png", "astronaut.png"],
        ["obama2.jpg", "obama.jpg"],
    ]
    ages: dict[str, set] = {}
    for k, names in enumerate(sets):
        m = analyze_collection(_photos(home / f"subset{k}", names))
        for e in m.photos:
            assert e.age_source == "estimate" and e.age == e.age_estimated, (e.name, e.age, e.age_source)
            ages.setdefault(e.name, set()).add(e.age)
    assert len(ages["obama2.jpg"]) == 1 and len(ages["obama.jpg"]) == 1, ages


def test_birth_date_gives_real_ages_and_refuses_a_later_birth(home):
    from facereel.pipelines.analyze import AnalyzeError, analyze_collection

    photos = _photos(home / "born", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"])
    m = analyze_collection(photos, birth_date="1961-08-04")
    by = _by_name(m)
    assert by["obama2.jpg"].age_source == "birth_date" and by["obama2.jpg"].age == pytest.approx(48.1, abs=0.05)
    assert by["biden.jpg"].age_source == "estimate"  # another person: the birth date is not theirs
    with pytest.raises(AnalyzeError, match=r"birth date 2011-01-01 is after the date of obama2.jpg \(2009-09-09\)"):
        analyze_collection(photos, birth_date="2011-01-01")


def test_hand_edited_age_reads_back_as_user(home):
    import json

    from facereel.manifest import load_manifest, save_manifest
    from facereel.pipelines.analyze import analyze_collection

    m = analyze_collection(_photos(home / "edit", ["obama.jpg", "obama3.jpg"]))
    path = save_manifest(m, home / "edit" / "m.json")
    data = json.loads(path.read_text())
    data["photos"][0]["age"] = 12.0
    path.write_text(json.dumps(data))
    back = load_manifest(path)
    assert back.photos[0].age_source == "user" and back.photos[1].age_source == "estimate"
