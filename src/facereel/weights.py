"""Pretrained weights by name: one table, a verified download cache, licences shown first.

Every entry names the file as its project publishes it (NVIDIA NGC, Google Drive ids from the
pSp / e4e / ReStyle / stylegan3-editing READMEs), its licence and format, and the configuration the
loader needs.  Files land in ``facereel.paths.cache_dir("weights")``.

Checksums: none of the official projects publishes sha256 values, so the table holds ``None``
except where we could hash the official file ourselves (``dcgan-digiface``, the file inside the
PyPI package).  The first successful download or import **pins** its sha256 in
``weights/sha256-pins.json``; later ``verify`` runs compare against that pin.  Status is therefore
``present-verified`` (matches a hash in the table), ``present-unverified`` (matches only its own
pin) or ``missing``.

Downloads (:func:`download`): resumable (HTTP Range on the ``.part`` file), progress callback,
``.part`` renamed only after the size and sha256 checks pass.  Google Drive's "can't scan this file
for viruses" confirm page is followed; its quota / error pages (HTML where weights were expected)
are recognised and reported with a pointer to ``facereel weights import``.

Licences: every FFHQ StyleGAN checkpoint and everything trained on top of one (pSp, e4e, ReStyle)
is **non-commercial** (NVIDIA Source Code License-NC; FFHQ images CC BY-NC-SA 4.0); so are the
DigiFace-1M DCGAN weights.  :func:`download` refuses until the licence is accepted
(``accept_license=True``, or once through the CLI prompt / ``--accept-license``).

Tests point the URLs at a local server with ``FACEREEL_WEIGHTS_BASE_URL`` (every file is then
fetched from ``$FACEREEL_WEIGHTS_BASE_URL/<filename>``) or by passing ``urls=`` explicitly.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import html.parser
import http.client
import http.cookiejar
import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facereel.core.atomic import atomic_path, write_text
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.paths import cache_dir

log = logging.getLogger(__name__)


NVIDIA_NC = "NVIDIA Source Code License-NC (non-commercial research use only)"
NVIDIA_NC_URL = "https://nvlabs.github.io/stylegan2/license.html"
NVIDIA_NC3_URL = "https://github.com/NVlabs/stylegan3/blob/main/LICENSE.txt"
FFHQ_NOTE = "Trained on FFHQ (CC BY-NC-SA 4.0)."


def _drive(file_id: str) -> str:
    """The direct-download form of a Drive file as the READMEs link it (``/file/d/ID/view``)."""
    return f"https://drive.google.com/uc?export=download&id={file_id}"


def _github_raw(repo: str, path: str, ref: str = "master") -> str:
    return f"https://raw.githubusercontent.com/{repo}/{ref}/{path}"


def _ngc(project: str, filename: str) -> str:
    return f"https://api.ngc.nvidia.com/v2/models/nvidia/research/{project}/versions/1/files/{filename}"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    filename: str
    urls: tuple[str, ...]
    format: str  # nvidia-pkl | rosinality-pt | psp-pt | pet-pt | sam-pt | torch-state-dict | dcgan-tar | e4e-direction-pt
    kind: str  # what it loads as: stylegan2 | stylegan3 | rosinality | psp | e4e | restyle_psp | ... | arcface
    license: str
    license_url: str
    description: str
    homepage: str
    size: int | None = None
    sha256: str | None = None
    sha256_verified: bool = False  # True only for hashes of the official file itself
    commercial_use: bool = False
    config: dict = field(default_factory=dict)
    offline: bool = False  # shipped inside an installed package; nothing to download
    license_short: str = "non-commercial"

    @property
    def drive_view_url(self) -> str | None:
        for u in self.urls:
            m = re.search(r"[?&]id=([\w-]+)", u)
            if m and "drive.google" in u:
                return f"https://drive.google.com/file/d/{m.group(1)}/view"
        return None


_PSP_NOTE = ("MIT code; the checkpoint contains the FFHQ StyleGAN2 generator converted from NVIDIA's, so its use "
             "is bound by the NVIDIA non-commercial licence.")

#: e4e's public edit directions, committed in its repository (``editings/``); sha256 and sizes
#: are those of the files at the repository's main branch.
_E4E_RAW = "https://raw.githubusercontent.com/omertov/encoder4editing/main/editings/"
_E4E_DIR_LICENSE = ("MIT code (encoder4editing); the directions were computed on the FFHQ StyleGAN2 generator, so "
                    "their use is bound by the NVIDIA non-commercial licence.")
_E4E_DIRECTIONS = (
    ("e4e-age", "age.pt", "interfacegan_directions/age.pt", 2808,
     "50074516b1629707d89b5e43d6b8abd1792212fa3b961a87a11323d6a5222ae0",
     "InterFaceGAN age direction in W of FFHQ StyleGAN2 1024 (e4e), [1, 512] unit vector."),
    ("e4e-pose", "pose.pt", "interfacegan_directions/pose.pt", 37624,
     "736e0eacc8488fa0b020a2e7bd256b957284c364191dfea693705e5d06d43e7d",
     "InterFaceGAN pose (yaw) direction in W+ of FFHQ StyleGAN2 1024 (e4e), [1, 18, 512]."),
    ("e4e-smile", "smile.pt", "interfacegan_directions/smile.pt", 2808,
     "817a7e732b59dee9eba862bec8bd7e8373568443bc9f9731a21cf9b0356f0653",
     "InterFaceGAN smile direction in W of FFHQ StyleGAN2 1024 (e4e), [1, 512] unit vector."),
    ("e4e-ganspace-ffhq", "ffhq_pca.pt", "ganspace_pca/ffhq_pca.pt", 167562,
     "4d7f9df1c96180d9026b9cb8d04753579fbf385f321a9d0e263641601c5e5d36",
     "GANSpace PCA of FFHQ StyleGAN2 W (e4e): mean [1, 512], 80 components, their std."),
)

TABLE: dict[str, WeightsEntry] = {e.name: e for e in [
    WeightsEntry(
        "stylegan2-ffhq-1024", "stylegan2-ffhq-1024x1024.pkl",
        (_ngc("stylegan2", "stylegan2-ffhq-1024x1024.pkl"),),
        "nvidia-pkl", "stylegan2", NVIDIA_NC + ". " + FFHQ_NOTE, NVIDIA_NC3_URL,
        "Official StyleGAN2 (config-f) FFHQ 1024×1024, NVIDIA PyTorch pickle (stylegan3 repo).",
        "https://github.com/NVlabs/stylegan3",
        license_short="NVIDIA Source Code License-NC",
        config={"cfg": "stylegan2", "resolution": 1024, "num_ws": 18}),
    WeightsEntry(
        "stylegan2-ffhq-config-f", "stylegan2-ffhq-config-f.pt",
        (_drive("1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"),),
        "rosinality-pt", "rosinality", NVIDIA_NC + ". " + FFHQ_NOTE, NVIDIA_NC_URL,
        "StyleGAN2 config-f FFHQ 1024 converted to rosinality's PyTorch format (the pSp/e4e/ReStyle decoder).",
        "https://github.com/eladrich/pixel2style2pixel#pretrained-models",
        license_short="NVIDIA Source Code License-NC",
        config={"size": 1024, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}),
    WeightsEntry(
        "stylegan3-t-ffhq-1024", "stylegan3-t-ffhq-1024x1024.pkl",
        (_ngc("stylegan3", "stylegan3-t-ffhq-1024x1024.pkl"),),
        "nvidia-pkl", "stylegan3", NVIDIA_NC + ". " + FFHQ_NOTE, NVIDIA_NC3_URL,
        "Official StyleGAN3-T FFHQ 1024×1024.", "https://github.com/NVlabs/stylegan3",
        license_short="NVIDIA Source Code License-NC",
        config={"cfg": "stylegan3-t", "resolution": 1024, "num_ws": 16}),
    WeightsEntry(
        "stylegan3-r-ffhq-1024", "stylegan3-r-ffhq-1024x1024.pkl",
        (_ngc("stylegan3", "stylegan3-r-ffhq-1024x1024.pkl"),),
        "nvidia-pkl", "stylegan3", NVIDIA_NC + ". " + FFHQ_NOTE, NVIDIA_NC3_URL,
        "Official StyleGAN3-R FFHQ 1024×1024.", "https://github.com/NVlabs/stylegan3",
        license_short="NVIDIA Source Code License-NC",
        config={"cfg": "stylegan3-r", "resolution": 1024, "num_ws": 16}),
    WeightsEntry(
        "stylegan3-t-ffhqu-256", "stylegan3-t-ffhqu-256x256.pkl",
        (_ngc("stylegan3", "stylegan3-t-ffhqu-256x256.pkl"),),
        "nvidia-pkl", "stylegan3", NVIDIA_NC + ". Trained on FFHQ-U (unaligned FFHQ, CC BY-NC-SA 4.0).",
        NVIDIA_NC3_URL, "Official StyleGAN3-T FFHQ-U 256×256.", "https://github.com/NVlabs/stylegan3",
        license_short="NVIDIA Source Code License-NC",
        config={"cfg": "stylegan3-t", "resolution": 256, "num_ws": 16}),
    WeightsEntry(
        "psp_ffhq_encode", "psp_ffhq_encode.pt", (_drive("1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0"),),
        "psp-pt", "psp", _PSP_NOTE, NVIDIA_NC_URL,
        "pSp encoder (GradualStyleEncoder, IR-SE50) + rosinality FFHQ 1024 decoder, for StyleGAN inversion.",
        "https://github.com/eladrich/pixel2style2pixel#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "GradualStyleEncoder", "output_size": 1024, "n_styles": 18}),
    WeightsEntry(
        "psp_ffhq_toonify", "psp_ffhq_toonify.pt", (_drive("1YKoiVuFaqdvzDP5CZaqa3k5phL-VDmyz"),),
        "psp-pt", "psp", "MIT code; the decoder is Doron Adler and Justin Pinkney's toonify StyleGAN2, fine-tuned "
        "from NVIDIA's FFHQ generator, so its use is bound by the NVIDIA non-commercial licence.", NVIDIA_NC_URL,
        "pSp Toonify: pSp encoder (GradualStyleEncoder, IR-SE50) + the toonify StyleGAN2 1024 decoder (cartoon faces; "
        "the time-lapse thesis' \"StyleGAN2 pSp Toonify\").",
        "https://github.com/eladrich/pixel2style2pixel#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "GradualStyleEncoder", "output_size": 1024, "n_styles": 18}),
    WeightsEntry(
        "e4e_ffhq_encode", "e4e_ffhq_encode.pt", (_drive("1cUv_reLE6k3604or78EranS7XzuVMWeO"),),
        "psp-pt", "e4e", _PSP_NOTE, NVIDIA_NC_URL,
        "e4e encoder (Encoder4Editing, IR-SE50) + rosinality FFHQ 1024 decoder.",
        "https://github.com/omertov/encoder4editing#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "Encoder4Editing", "stylegan_size": 1024, "n_styles": 18}),
    WeightsEntry(
        "restyle_psp_ffhq_encode", "restyle_psp_ffhq_encode.pt", (_drive("1sw6I2lRIB0MpuJkpc8F5BJiSZrc0hjfE"),),
        "psp-pt", "restyle_psp", _PSP_NOTE, NVIDIA_NC_URL,
        "ReStyle applied over pSp (BackboneEncoder, input_nc 6) + rosinality FFHQ 1024 decoder.",
        "https://github.com/yuval-alaluf/restyle-encoder#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 1024, "n_iters_per_batch": 5}),
    WeightsEntry(
        "restyle_e4e_ffhq_encode", "restyle_e4e_ffhq_encode.pt", (_drive("1e2oXVeBPXMQoUoC_4TNwAWpOPpSEhE_e"),),
        "psp-pt", "restyle_e4e", _PSP_NOTE, NVIDIA_NC_URL,
        "ReStyle applied over e4e (ProgressiveBackboneEncoder, input_nc 6) + rosinality FFHQ 1024 decoder.",
        "https://github.com/yuval-alaluf/restyle-encoder#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "ProgressiveBackboneEncoder", "input_nc": 6, "output_size": 1024,
                "n_iters_per_batch": 5}),
    WeightsEntry(
        "restyle_pSp_sg3_ffhq", "restyle_pSp_ffhq.pt", (_drive("12WZi2a9ORVg-j6d9x4eF-CKpLaURC2W-"),),
        "psp-pt", "restyle_psp_sg3",
        "MIT code; contains the official StyleGAN3-R FFHQ generator: NVIDIA Source Code License-NC "
        "(non-commercial).", NVIDIA_NC3_URL,
        "ReStyle-pSp over StyleGAN3-R FFHQ 1024 (stylegan3-editing): BackboneEncoder + SG3 decoder, 16 styles.",
        "https://github.com/yuval-alaluf/stylegan3-editing#stylegan3-encoder",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 1024, "n_styles": 16,
                "n_iters_per_batch": 3}),
    WeightsEntry(
        "restyle_e4e_sg3_ffhq", "restyle_e4e_ffhq.pt", (_drive("1z_cB187QOc6aqVBdLvYvBjoc93-_EuRm"),),
        "psp-pt", "restyle_e4e_sg3",
        "MIT code; contains the official StyleGAN3-R FFHQ generator: NVIDIA Source Code License-NC "
        "(non-commercial).", NVIDIA_NC3_URL,
        "ReStyle-e4e over StyleGAN3-R FFHQ 1024 (stylegan3-editing): ProgressiveBackboneEncoder + SG3 decoder.",
        "https://github.com/yuval-alaluf/stylegan3-editing#stylegan3-encoder",
        license_short="MIT code + NVIDIA NC weights",
        config={"encoder_type": "ProgressiveBackboneEncoder", "input_nc": 6, "output_size": 1024, "n_styles": 16,
                "n_iters_per_batch": 3}),
    WeightsEntry(
        "model_ir_se50", "model_ir_se50.pth", (_drive("1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn"),),
        "torch-state-dict", "arcface",
        "IR-SE50 ArcFace from TreB1eN/InsightFace_Pytorch (MIT code); trained on MS-Celeb-1M, whose terms "
        "allow research use only.", "https://github.com/TreB1eN/InsightFace_Pytorch",
        "IR-SE50 ArcFace backbone (112×112, 512-d embeddings): the pSp/e4e/ReStyle ID loss and encoder init.",
        "https://github.com/eladrich/pixel2style2pixel#pretrained-models",
        license_short="MIT code, MS-Celeb-1M (research only)",
        config={"input_size": 112, "num_layers": 50, "drop_ratio": 0.6, "mode": "ir_se"}),
    WeightsEntry(
        "pet_best_model", "best_model.pt", (_drive("11q5_a0NAceAeQ7-WyH8hjIROcYwlTAax"),),
        "pet-pt", "pet",
        "No licence is stated upstream (JahodaPetr/Pose-and-Expression-Transfer has no LICENSE file; its code "
        "modifies pSp, MIT). The checkpoint contains the FFHQ StyleGAN2 generator converted from NVIDIA's: "
        "NVIDIA Source Code License-NC (non-commercial). Trained on VoxCeleb2 (research use only).",
        NVIDIA_NC_URL,
        "Pose-and-expression transfer network (Jahoda's thesis): motion encoder E_m (IR-SE50) + mapping "
        "Linear(18432, 9216) + rosinality FFHQ 1024 decoder; identity codes from restyle_psp_ffhq_encode.",
        "https://github.com/JahodaPetr/Pose-and-Expression-Transfer#installation",
        license_short="no licence stated + NVIDIA NC weights",
        config={"output_size": 1024, "n_styles": 18, "identity_encoder": "restyle_psp_ffhq_encode"}),
    WeightsEntry(
        "sam_ffhq_aging", "sam_ffhq_aging.pt", (_drive("1XyumF6_fdAxFmxpFcmPf-q84LU_22EMC"),),
        "sam-pt", "sam",
        "MIT code (yuval-alaluf/SAM); the checkpoint contains the FFHQ StyleGAN2 generator converted from "
        "NVIDIA's and was trained on FFHQ, so its use is bound by the NVIDIA Source Code License-NC "
        "(non-commercial). " + FFHQ_NOTE, NVIDIA_NC_URL,
        "SAM age transformation (Alaluf et al. 2021): age encoder (GradualStyleEncoder, IR-SE50, RGB + age "
        "channel) over the pretrained pSp FFHQ encoder + rosinality FFHQ 1024 decoder; target ages 0-100.",
        "https://github.com/yuval-alaluf/SAM#pretrained-models",
        license_short="MIT code + NVIDIA NC weights",
        config={"input_nc": 4, "output_size": 1024, "n_styles": 18, "start_from_encoded_w_plus": True}),
    WeightsEntry(
        "lpips_alex_v0.1", "lpips_alex_v0.1.pth", (_github_raw("richzhang/PerceptualSimilarity", "lpips/weights/v0.1/alex.pth"),),
        "torch-state-dict", "lpips-lin", "BSD-2-Clause (richzhang/PerceptualSimilarity).",
        "https://github.com/richzhang/PerceptualSimilarity/blob/master/LICENSE",
        "LPIPS v0.1 linear layers over AlexNet features (lin0..lin4.model.1.weight), the pSp/PET LPIPS loss.",
        "https://github.com/richzhang/PerceptualSimilarity", commercial_use=True, license_short="BSD-2-Clause",
        config={"net": "alex", "backbone": "torchvision_alexnet"}),
    WeightsEntry(
        "lpips_vgg_v0.1", "lpips_vgg_v0.1.pth", (_github_raw("richzhang/PerceptualSimilarity", "lpips/weights/v0.1/vgg.pth"),),
        "torch-state-dict", "lpips-lin", "BSD-2-Clause (richzhang/PerceptualSimilarity).",
        "https://github.com/richzhang/PerceptualSimilarity/blob/master/LICENSE",
        "LPIPS v0.1 linear layers over VGG16 features.",
        "https://github.com/richzhang/PerceptualSimilarity", commercial_use=True, license_short="BSD-2-Clause",
        config={"net": "vgg", "backbone": "torchvision_vgg16"}),
    WeightsEntry(
        "torchvision_alexnet", "alexnet-owt-7be5be79.pth", ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",),
        "torch-state-dict", "alexnet",
        "BSD-3-Clause code (torchvision); weights trained on ImageNet, whose terms allow non-commercial research only.",
        "https://github.com/pytorch/vision/blob/main/LICENSE",
        "torchvision AlexNet ImageNet weights (features.* used): the LPIPS 'alex' backbone.",
        "https://pytorch.org/vision/stable/models/generated/torchvision.models.alexnet.html",
        license_short="BSD-3 code, ImageNet weights (research)"),
    WeightsEntry(
        "torchvision_vgg16", "vgg16-397923af.pth", ("https://download.pytorch.org/models/vgg16-397923af.pth",),
        "torch-state-dict", "vgg16",
        "BSD-3-Clause code (torchvision); weights trained on ImageNet, whose terms allow non-commercial research only.",
        "https://github.com/pytorch/vision/blob/main/LICENSE",
        "torchvision VGG16 ImageNet weights (features.* used): the LPIPS 'vgg' backbone.",
        "https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg16.html",
        license_short="BSD-3 code, ImageNet weights (research)"),
    *[WeightsEntry(
        name, filename, (_E4E_RAW + path,), "e4e-direction-pt", "direction", _E4E_DIR_LICENSE,
        "https://github.com/omertov/encoder4editing/blob/main/LICENSE", description,
        "https://github.com/omertov/encoder4editing/tree/main/editings",
        size=size, sha256=digest, sha256_verified=True,
        license_short="MIT code, FFHQ StyleGAN2 directions (NC)",
        config={"latent_space": "w", "generator": "ffhq-stylegan2-1024", "num_ws": 18})
      for name, filename, path, size, digest, description in _E4E_DIRECTIONS],
    WeightsEntry(
        "dcgan-digiface", "weights.tar", (), "dcgan-tar", "dcgan",
        "MIT code (gan-face-generate); weights trained on DigiFace-1M, licensed for non-commercial research only.",
        "https://github.com/microsoft/DigiFace1M/blob/main/LICENSE",
        "64×64 DCGAN face generator shipped inside the installed gan-face-generate package (offline).",
        "https://github.com/chien-liu/DCGAN-PyTorch",
        size=14322251,
        sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        sha256_verified=True, offline=True,
        license_short="MIT code, DigiFace-1M weights (NC)",
        config={"nz": 100, "ngf": 64, "nc": 3, "resolution": 64}),
]}


class WeightsError(FacereelError):
    """A weights operation failed; the message is one line meant for the user."""

    # Mostly "not installed" or "not this kind of file": the server lacks something the
    # request needs, which the client can show as it is (a 4xx, not a server fault).
    http_status = 409


class LicenseNotAccepted(WeightsError):
    """A non-commercial checkpoint asked for without accepting its licence."""

    http_status = 403


# --------------------------------------------------------------------------------------------
# cache, pins, status


def weights_dir() -> Path:
    return cache_dir("weights")


def _pins_path() -> Path:
    return weights_dir() / "sha256-pins.json"


def _accepted_path() -> Path:
    return weights_dir() / "accepted-licenses.json"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def pins() -> dict:
    return _read_json(_pins_path())


def _pin(name: str, path: Path, digest: str, source: str) -> None:
    data = pins()
    st = path.stat()
    data[name] = {"sha256": digest, "size": st.st_size, "mtime": st.st_mtime, "source": source,
                  "pinned": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    _write_json(_pins_path(), data)


def entry(name: str) -> WeightsEntry:
    try:
        return TABLE[name]
    except KeyError:
        raise WeightsError(f"unknown weights name {name!r}; known: {', '.join(TABLE)}") from None


def target_path(name: str) -> Path:
    """Where the file of ``name`` lives (or would live) in the cache."""
    e = entry(name)
    if e.offline:
        return digiface_weights_path()
    return weights_dir() / e.filename


def digiface_weights_path() -> Path:
    """``weights.tar`` inside the installed ``gan_face_generate`` package (no download needed)."""
    import importlib.util

    spec = importlib.util.find_spec("gan_face_generate")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the gan-face-generate package is not installed (pip install --no-deps gan-face-generate)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "weights.tar"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed gan-face-generate package")
    return path


def local_path(name: str) -> Path | None:
    """The cached file of ``name``, or None when it is missing."""
    try:
        p = target_path(name)
    except FileNotFoundError:
        return None
    return p if p.is_file() else None


#: alias used by other modules ("is it installed?")
installed_path = local_path


def sha256_file(path: str | Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    total = Path(path).stat().st_size
    done = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return h.hexdigest()


def expected_sha256(name: str) -> tuple[str | None, bool]:
    """(hash, verified): the table's hash if any (verified when official), else the pin."""
    e = entry(name)
    if e.sha256:
        return e.sha256, e.sha256_verified
    pin = pins().get(name, {}).get("sha256")
    return pin, False


def status(name: str) -> str:
    """``missing`` | ``present-verified`` | ``present-unverified`` | ``corrupt`` (cheap: uses the pin's
    size+mtime record instead of re-hashing; :func:`verify` re-hashes)."""
    path = local_path(name)
    if path is None:
        return "missing"
    want, verified = expected_sha256(name)
    rec = pins().get(name)
    st = path.stat()
    if rec and rec.get("size") == st.st_size and abs(rec.get("mtime", 0) - st.st_mtime) < 1e-3:
        digest = rec["sha256"]
    elif want is None:
        return "present-unverified"
    else:
        digest = sha256_file(path)
        if digest == want:  # refresh the size/mtime record; a mismatch never overwrites the pin
            _pin(name, path, digest, rec.get("source", "verify") if rec else "verify")
    if want is not None and digest != want:
        return "corrupt"
    return "present-verified" if verified else "present-unverified"


def verify(name: str, progress: Progress | None = None) -> tuple[str, str]:
    """Re-hash the cached file: ``(status, sha256)``; status as :func:`status` (``corrupt`` on mismatch)."""
    path = local_path(name)
    if path is None:
        return "missing", ""
    digest = sha256_file(path, progress)
    want, verified = expected_sha256(name)
    if want is None:
        _pin(name, path, digest, "verify")
        return "present-unverified", digest
    if digest != want:
        return "corrupt", digest
    _pin(name, path, digest, pins().get(name, {}).get("source", "verify"))
    return ("present-verified" if verified else "present-unverified"), digest


# --------------------------------------------------------------------------------------------
# licences


def license_accepted(name: str) -> bool:
    e = entry(name)
    return e.offline or _read_json(_accepted_path()).get(name) == e.license


def record_license_acceptance(name: str) -> None:
    """Remember that the user accepted ``name``'s licence (asked again if the licence text changes)."""
    e = entry(name)
    data = _read_json(_accepted_path())
    data[name] = e.license
    _write_json(_accepted_path(), data)


def license_text(name: str) -> str:
    e = entry(name)
    use = "commercial use allowed" if e.commercial_use else "NON-COMMERCIAL use only"
    return f"{e.name}: {e.license} [{use}] — {e.license_url}"


# --------------------------------------------------------------------------------------------
# downloads


_QUOTA_MARKERS = (
    "quota exceeded", "too many users have viewed or downloaded this file recently",
    "download quota", "cannot download this file right now", "rate limit",
)


def _resolve_urls(e: WeightsEntry, urls: list[str] | None) -> list[str]:
    if urls:
        return list(urls)
    base = os.environ.get("FACEREEL_WEIGHTS_BASE_URL")
    if base:
        return [base.rstrip("/") + "/" + urllib.parse.quote(e.filename)]
    return list(e.urls)


def _looks_html(first: bytes, content_type: str) -> bool:
    if "text/html" in content_type.lower():
        return True
    head = first.lstrip()[:256].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


class _FormParser(html.parser.HTMLParser):
    """Collects each <form>'s action, id and hidden inputs (attribute order does not matter)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"id": a.get("id", ""), "action": a.get("action", ""), "inputs": {}})
        elif tag == "input" and self.forms and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.forms[-1]["inputs"][a["name"]] = a.get("value", "")
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])


def _drive_confirm_url(page: str, base_url: str) -> str | None:
    """The real download URL behind Drive's "can't scan this file for viruses" page, if any.

    Current Drive: ``<form id="download-form" action="https://drive.usercontent.google.com/download">``
    with hidden ``id``/``export``/``confirm``/``uuid`` inputs; older Drive: a link carrying
    ``confirm=<token>`` (plus a ``download_warning_*`` cookie, handled by the caller).
    """
    parser = _FormParser()
    try:
        parser.feed(page)
    except Exception:  # noqa: BLE001 - malformed HTML: treat as no confirm step
        return None
    for form in sorted(parser.forms, key=lambda f: f["id"] != "download-form"):
        if form["action"] and (form["id"] == "download-form" or "confirm" in form["inputs"]):
            action = urllib.parse.urljoin(base_url, form["action"])
            if form["inputs"]:
                return action + ("&" if "?" in action else "?") + urllib.parse.urlencode(form["inputs"])
    for href in parser.links:
        if "confirm=" in href and "export=download" in href:
            return urllib.parse.urljoin(base_url, href)
    return None


def _html_error(name: str, e: WeightsEntry, page: str) -> WeightsError:
    text = re.sub(r"<[^>]+>", " ", page)
    text = re.sub(r"\s+", " ", html.unescape(text)).strip().lower()
    where = e.drive_view_url or (e.urls[0] if e.urls else "the project page")
    if any(mk in text for mk in _QUOTA_MARKERS):
        why = "the server (Google Drive) refused: download quota exceeded"
    else:
        title = re.search(r"<title>(.*?)</title>", page, re.S | re.I)
        why = f"the server returned an HTML page ({(title.group(1).strip() if title else 'no title')[:60]!r}) " \
              "instead of the file"
    return WeightsError(
        f"{why}. Download it in a browser from {where} and run: facereel weights import {name} FILE"
    )


class _Opener:
    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url: str, start: int = 0, timeout: float = 60):
        headers = {"User-Agent": "facereel-weights/1"}
        if start > 0:
            headers["Range"] = f"bytes={start}-"
        req = urllib.request.Request(url, headers=headers)
        return self.opener.open(req, timeout=timeout)

    def drive_cookie_token(self) -> str | None:
        for c in self.jar:
            if c.name.startswith("download_warning"):
                return c.value
        return None


def _fetch(name: str, e: WeightsEntry, url: str, part: Path, progress: Progress | None, timeout: float) -> None:
    """Fetch ``url`` into ``part`` (resuming it); follows Drive's confirm page once."""
    op = _Opener()
    for _attempt in range(3):  # the URL, then at most two confirm hops
        start = part.stat().st_size if part.exists() else 0
        try:
            resp = op.open(url, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start > 0:  # Range past the end: the .part is already complete (or bogus)
                return
            body = exc.read(65536).decode("utf-8", "replace") if exc.fp else ""
            if _looks_html(body.encode()[:512], exc.headers.get("Content-Type", "")):
                raise _html_error(name, e, body) from None
            raise WeightsError(f"download of {name} failed: HTTP {exc.code} {exc.reason} ({url})") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(f"download of {name} failed: {reason} ({url}); without network access, fetch "
                               f"the file elsewhere and run: facereel weights import {name} FILE") from None
        with resp:
            ctype = resp.headers.get("Content-Type", "")
            first = resp.read(min(65536, 1 << 16))
            if _looks_html(first, ctype):
                page = (first + resp.read(1 << 20)).decode("utf-8", "replace")
                nxt = _drive_confirm_url(page, resp.geturl())
                if nxt is None:
                    token = op.drive_cookie_token()
                    if token:
                        nxt = url + ("&" if "?" in url else "?") + "confirm=" + urllib.parse.quote(token)
                if nxt is None or nxt == url:
                    raise _html_error(name, e, page)
                log.info("following the download confirmation page of %s", name)
                url = nxt
                continue
            if resp.status == 206:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != start:
                    raise WeightsError(f"download of {name}: the server resumed at the wrong offset")
                total = int(m.group(3)) if m.group(3) != "*" else None
                mode = "ab"
            else:  # 200: full body (server ignored Range) → start over
                start = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            done = start
            try:
                with open(part, mode) as f:
                    chunk = first
                    while chunk:
                        f.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total or e.size or 0)
                        chunk = resp.read(1 << 20)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as exc:
                raise WeightsError(
                    f"download of {name} was interrupted after {done} bytes ({type(exc).__name__}); "
                    "run the same command again to resume"
                ) from None
            if total is not None and done < total:
                raise WeightsError(
                    f"download of {name} is truncated ({done} of {total} bytes); run the same command again to resume"
                )
            return
    raise WeightsError(f"download of {name}: too many confirmation pages ({url})")


def _run_check(check: Callable[[Path, WeightsEntry], None] | None, path: Path, e: WeightsEntry) -> None:
    if check is None:
        return
    try:
        check(path, e)
    except FacereelError as exc:
        raise WeightsError(f"{e.name}: {exc}") from None


def download(name: str, *, urls: list[str] | None = None, progress: Progress | None = None,
             accept_license: bool = False, force: bool = False, timeout: float = 60,
             check: Callable[[Path, WeightsEntry], None] | None = None) -> Path:
    """Fetch ``name`` into the cache (resuming a previous ``.part``) and return its path.

    The file is renamed into place only after its size (when known) and sha256 (table value, else
    a previous pin) check out; a first download with no known hash pins it, once ``check`` (see
    :func:`import_file`) has accepted it.
    """
    e = entry(name)
    if e.offline:
        path = local_path(name)
        if path is None:
            raise WeightsError(f"{name} ships with an installed package that is missing (gan-face-generate)")
        return path
    if not license_accepted(name):
        if not accept_license:
            raise LicenseNotAccepted(f"{license_text(name)} — accept it first (CLI: --accept-license)")
        record_license_acceptance(name)
    dest = target_path(name)
    if dest.is_file() and not force:
        return dest
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in _resolve_urls(e, urls):
        try:
            _fetch(name, e, url, part, progress, timeout)
            break
        except WeightsError as exc:
            errors.append(str(exc))
            # the next mirror must not append to another server's bytes
            if "resume" not in str(exc):
                part.unlink(missing_ok=True)
    else:
        raise WeightsError(errors[-1] if errors else f"no URL to download {name} from")
    size = part.stat().st_size
    if e.size is not None and size != e.size:
        part.unlink(missing_ok=True)
        raise WeightsError(f"download of {name} has {size} bytes, expected {e.size}; removed it, try again")
    digest = sha256_file(part)
    want, _verified = expected_sha256(name)
    if want is not None and digest != want:
        part.unlink(missing_ok=True)
        raise WeightsError(f"sha256 mismatch for {name}: got {digest}, expected {want}; the download was removed")
    if want is None:  # a first download is pinned: prove first that it is the kind of file named
        try:
            _run_check(check, part, e)
        except WeightsError:
            part.unlink(missing_ok=True)
            raise
    part.replace(dest)
    _pin(name, dest, digest, "download")
    return dest


def import_file(name: str, src: str | Path, *, move: bool = False,
                check: Callable[[Path, WeightsEntry], None] | None = None) -> Path:
    """Put a file the user fetched by hand into the cache under ``name`` (checked like a download).

    ``check(path, entry)`` proves the file is what the entry names (the checkpoint readers do it:
    :func:`facereel.checkpoints.loaders.import_weights`); it runs before anything is copied or
    pinned, and its error is re-raised as a :class:`WeightsError`.
    """
    e = entry(name)
    src = Path(src).expanduser()
    if e.offline:
        raise WeightsError(f"{name} ships with an installed package; nothing to import")
    if not src.is_file():
        raise WeightsError(f"no such file: {src}")
    with open(src, "rb") as f:
        head = f.read(512)
    if _looks_html(head, ""):
        raise WeightsError(f"{src.name} is an HTML page (a failed download?), not the weights file")
    _run_check(check, src, e)
    digest = sha256_file(src)
    want, _ = expected_sha256(name)
    if e.sha256 and digest != e.sha256:
        raise WeightsError(f"sha256 mismatch for {name}: {src.name} is {digest}, expected {e.sha256}")
    if want and not e.sha256 and digest != want:
        log.warning("%s differs from the previously pinned file (%s); re-pinning", name, want[:12])
    dest = target_path(name)
    with atomic_path(dest) as tmp:
        if move:
            shutil.move(str(src), tmp)
        else:
            shutil.copyfile(src, tmp)
    _pin(name, dest, digest, "import")
    return dest


def listing() -> list[dict]:
    """One row per entry: name, status, licence, commercial flag, format, description, path."""
    rows = []
    for name, e in TABLE.items():
        p = local_path(name)
        rows.append({"name": name, "status": status(name), "license": e.license, "license_short": e.license_short,
                     "commercial_use": e.commercial_use, "format": e.format, "kind": e.kind,
                     "description": e.description, "path": str(p) if p else None})
    return rows
