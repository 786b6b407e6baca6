"""Real sample photos for the demo and the tests, fetched from registry packages into the cache.

Never committed to the repository:

* ``face_recognition==1.3.0`` sdist (PyPI): ``tests/test_images/`` holds obama.jpg, obama2.jpg,
  obama3.jpg (three distinct photos of one person), obama_partial_face.jpg and
  obama_partial_face2.jpg (crops of obama.jpg), 32bit.png (obama2 with an alpha channel) and
  biden.jpg (another person).
* scikit-image bundles ``astronaut.png`` (public domain, NASA).

``python -m facereel.samples`` fetches them (the Makefile's setup does).
"""

from __future__ import annotations

import logging
import shutil
import tarfile
from pathlib import Path

from facereel.core.atomic import atomic_path, atomic_write
from facereel.core.errors import FacereelError
from facereel.core.registry import downloaded
from facereel.paths import cache_dir

log = logging.getLogger(__name__)

SDIST = "face-recognition==1.3.0"
TEST_IMAGES = "face_recognition-1.3.0/tests/test_images/"
#: The three distinct photos of the same person.
SAME_PERSON = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER_PERSON = "biden.jpg"
NAMES = SAME_PERSON + ("obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png", OTHER_PERSON, "astronaut.png")


class SamplesUnavailable(FacereelError, RuntimeError):
    """The sample photos are not in the cache and cannot be fetched."""

    http_status = 503


def sample_dir(fetch: bool = True) -> Path:
    """Directory holding the sample photos; fetches them on first use when ``fetch``."""
    d = cache_dir("samples")
    if not all((d / n).is_file() for n in NAMES):
        if not fetch:
            raise SamplesUnavailable(f"sample photos missing in {d}; run `python -m facereel.samples`")
        _fetch_face_recognition(d)
        _copy_astronaut(d)
    return d


def sample_path(name: str) -> Path:
    return sample_dir() / name


def _fetch_face_recognition(dest: Path) -> None:
    if all((dest / n).is_file() for n in NAMES if n != "astronaut.png"):
        return
    with downloaded(SDIST, "face_recognition-1.3.0.tar.gz", binary=False, error=SamplesUnavailable) as archive:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(TEST_IMAGES):
                    name = Path(member.name).name
                    src = tar.extractfile(member)
                    assert src is not None
                    with atomic_write(dest / name, "wb") as f:
                        shutil.copyfileobj(src, f)


def _copy_astronaut(dest: Path) -> None:
    out = dest / "astronaut.png"
    if out.is_file():
        return
    try:
        import skimage
    except ImportError as exc:
        raise SamplesUnavailable("scikit-image is needed for the astronaut sample photo") from exc
    src = Path(skimage.__file__).parent / "data" / "astronaut.png"
    if not src.is_file():
        raise SamplesUnavailable(f"{src} not found in the scikit-image package")
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    d = sample_dir()
    log.info("sample photos in %s: %s", d, ", ".join(sorted(p.name for p in d.iterdir())))


if __name__ == "__main__":
    main()
