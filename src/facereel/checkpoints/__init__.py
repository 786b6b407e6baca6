"""Readers of official checkpoint formats → state dicts, and facereel's own safetensors format.

* :mod:`.nvidia_pickle` — official NVIDIA ``.pkl`` through a restricted unpickler (no code runs);
* :mod:`.torch_files` — rosinality / pSp / e4e / ReStyle ``.pt`` (``torch.load(weights_only=True)``);
* :mod:`.canonical` — safetensors + JSON config (what ``facereel weights convert`` writes);
* :mod:`.loaders` — ``load_generator(name_or_path)`` → a :class:`facereel.nets.base.FaceGenerator`.

Nothing heavy is imported here; import the submodules.
"""

from .errors import CheckpointError

__all__ = ["CheckpointError"]
