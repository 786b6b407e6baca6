"""Results of a batch run on disk: one ``.npz`` per item, written atomically as it arrives.

The folder's ``store.json`` records the stage signature (stage name, model, settings); reopening
it for another signature is an error, so latents of two generators are never mixed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np

from facereel.core.atomic import write_bytes, write_text
from facereel.core.errors import FacereelError


class BatchError(FacereelError):
    """A batch run that cannot start or continue (mixed stores, no cluster, every item failed)."""


def encode_result(result: dict) -> bytes:
    """A result dict (numpy arrays, numbers, strings) as ``.npz`` bytes (no pickles)."""
    buf = io.BytesIO()
    arrays = {}
    for k, v in result.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise BatchError(f"result field {k!r} is not an array, number or string")
        arrays[k] = a
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode_result(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def _file_name(key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
    return f"{safe}.{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


class ResultStore:
    def __init__(self, folder: str | Path, signature: str):
        self.folder = Path(folder)
        self.signature = signature
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "store.json"
        if meta.is_file():
            try:
                old = json.loads(meta.read_text()).get("signature")
            except (OSError, ValueError) as exc:
                raise BatchError(f"{meta} is unreadable ({exc}); remove the folder to start over") from None
            if old != signature:
                raise BatchError(f"{self.folder} holds results of another stage or model ({old}); "
                                 f"not mixing them with {signature}: use another folder")
        else:
            write_text(meta, json.dumps({"signature": signature}) + "\n")

    def path(self, key: str) -> Path:
        return self.folder / _file_name(key)

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def put_bytes(self, key: str, data: bytes) -> None:
        write_bytes(self.path(key), data)

    def put(self, key: str, result: dict) -> None:
        self.put_bytes(key, encode_result(result))

    def get(self, key: str) -> dict:
        return decode_result(self.path(key).read_bytes())
