"""Edits: a direction with a strength on all layers or a layer mask, and style mixing by layers.

Layer masks index the W+ code [num_ws, w_dim] (18 entries for StyleGAN2 at 1024).  Presets
follow Karras et al. 2019 §3.1 at any resolution: ``coarse`` = the styles of the 4² and 8²
blocks (indices 0–3), ``middle`` = 16² and 32² (4–7), ``fine`` = 64² and up (8–end); ``vs`` =
the first 8 of 18 (the video-synthesis recipe: the last 10 unchanged so identity holds), scaled
to num_ws.  Any list works: ``0-7``, ``0,2,5``, ``8-``, ``first 8`` or ``first 8 of 18``.

Edits of a Z generator (DCGAN) have no layers: only ``all`` applies.

Style mixing: ``mix(a, b, layers)`` takes the styles of ``layers`` from ``b`` and the rest from
``a``.  rosinality's ``G([s1, s2], inject_index=k)`` is ``mix(s1, s2, range(k, n_latent))``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from facereel.latent.space import LatentSpaceError, Space


def parse_layers(spec: str | Sequence[int] | None, num_ws: int) -> list[int]:
    """Layer indices (sorted, unique) of a mask spec for a code with ``num_ws`` layers."""
    if spec is None:
        return list(range(num_ws))
    if not isinstance(spec, str):
        idx = sorted({int(i) for i in spec})
    else:
        s = spec.strip().lower()
        if s in ("", "all"):
            return list(range(num_ws))
        if num_ws == 1:
            raise LatentSpaceError(f"layer mask {spec!r}: this generator's latent space (z) has no layers; use 'all'")
        if s == "coarse":
            idx = list(range(0, min(4, num_ws)))
        elif s == "middle":
            idx = list(range(4, min(8, num_ws)))
        elif s == "fine":
            idx = list(range(8, num_ws))
        elif s == "vs":
            idx = list(range(max(1, round(8 * num_ws / 18))))
        else:
            m = re.fullmatch(r"first\s+(\d+)(?:\s+of\s+(\d+))?", s)
            if m:
                k, of = int(m.group(1)), m.group(2)
                if of is not None and int(of) != num_ws:
                    k = max(1, round(k * num_ws / int(of)))
                idx = list(range(k))
            else:
                idx = []
                for part in filter(None, (p.strip() for p in s.split(","))):
                    r = re.fullmatch(r"(\d+)?\s*-\s*(\d+)?", part)
                    if r and (r.group(1) or r.group(2)):
                        lo = int(r.group(1) or 0)
                        hi = int(r.group(2)) if r.group(2) else num_ws - 1
                        if hi < lo:
                            raise LatentSpaceError(f"empty layer range {part!r}")
                        idx.extend(range(lo, hi + 1))
                    elif part.isdigit():
                        idx.append(int(part))
                    else:
                        raise LatentSpaceError(
                            f"bad layer mask {spec!r}; use all, coarse, middle, fine, vs, 'first K [of N]' or "
                            f"lists like 0-7,9")
        idx = sorted(set(idx))
    if not idx:
        raise LatentSpaceError(f"layer mask {spec!r} selects no layer of {num_ws}")
    bad = [i for i in idx if not 0 <= i < num_ws]
    if bad:
        raise LatentSpaceError(f"layer mask {spec!r}: layer {bad[0]} is out of range 0-{num_ws - 1}")
    return idx


def mask_array(layers: Sequence[int], num_ws: int):
    import torch

    m = torch.zeros(num_ws)
    m[list(layers)] = 1.0
    return m


def step(direction, space: Space, *, index: int = 0):
    """The latent step of strength 1 as a torch tensor: [dim] or [num_ws, dim] (layerwise)."""
    import torch

    direction.check(space)
    return torch.from_numpy(np.asarray(direction.vector(index), np.float32))


def apply(latents, delta, strengths, layers: Sequence[int] | None, space: Space):
    """latents [N, ...native] (N = 1 broadcasts) + strength_i · delta on the masked layers → [S·N, ...].

    ``delta`` [dim] or [num_ws, dim]; ``strengths`` [S].  For Z generators the mask must be all.
    """
    import torch

    lat = latents if latents.ndim > 1 else latents[None]
    s = torch.as_tensor(np.asarray(strengths, np.float32), device=lat.device)
    d = delta.to(lat.device, lat.dtype)
    if space.kind == "z":
        if layers is not None and list(layers) != [0]:
            raise LatentSpaceError("z latents have no layers to mask")
        lat = lat.reshape(lat.shape[0], -1)
        out = lat[None] + s[:, None, None] * d.reshape(1, 1, -1)
        return out.reshape(-1, lat.shape[1])
    if lat.ndim == 2:
        lat = lat[:, None, :].expand(lat.shape[0], space.num_ws, lat.shape[1])
    if d.ndim == 1:
        d = d[None].expand(space.num_ws, d.shape[0])
    m = mask_array(range(space.num_ws) if layers is None else layers, space.num_ws).to(lat.device, lat.dtype)
    d = d * m[:, None]                                                       # zero outside the mask
    out = lat[None] + s[:, None, None, None] * d[None, None]                 # [S, N, num_ws, dim]
    return out.reshape(-1, space.num_ws, lat.shape[-1])


def mix(a, b, layers: Sequence[int]):
    """W+ codes [N, num_ws, dim]: ``b`` on ``layers``, ``a`` elsewhere (a copy)."""
    out = a.clone()
    idx = list(layers)
    out[:, idx] = b[:, idx] if b.ndim == 3 else b[:, None, :]
    return out


def mix_like_inject_index(a, b, inject_index: int, num_ws: int):
    """rosinality's ``inject_index``: layers [0, k) from ``a``, [k, num_ws) from ``b``."""
    return mix(a, b, range(inject_index, num_ws))


def parse_strengths(spec: str | float | Sequence[float], steps: int = 9) -> list[float]:
    """``"2"`` → [2]; ``"-3..3"`` → ``steps`` evenly spaced values; a list as given."""
    if isinstance(spec, (int, float)):
        return [float(spec)]
    if not isinstance(spec, str):
        return [float(v) for v in spec]
    s = spec.strip()
    m = re.fullmatch(r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*\.\.\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)", s)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        return [float(v) for v in np.linspace(a, b, max(2, int(steps)))]
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise LatentSpaceError(f"bad strength {spec!r}; use a number, 'A..B' or a list 'A,B,C'") from None


#: largest output side synthesised in two streams by default: a second batch in flight doubles
#: the activation memory, which past 256 px runs to gigabytes at the usual batches
STREAMS_MAX_RESOLUTION = 256


def synthesis_streams(G, streams: int | None = None) -> int:
    """How many batches of ``G`` are synthesised side by side (:func:`nets.concurrent.map_ordered`):
    ``streams`` when given, else 2 on a CPU with at least 2 intra-op threads whose thread-local
    counts can be set and a generator of at most STREAMS_MAX_RESOLUTION px, else 1."""
    import torch

    from facereel.nets import concurrent

    if streams is not None:
        return max(1, int(streams))
    device = getattr(G, "device", torch.device("cpu"))
    if (torch.device(device).type != "cpu" or torch.get_num_threads() < 2
            or getattr(G, "resolution", 0) > STREAMS_MAX_RESOLUTION or not concurrent.single_thread_available()):
        return 1
    return 2


def synthesize_stream(G, chunks, latents_of=None, convert=None, streams: int | None = None) -> Iterator:
    """``convert(G.synthesize(latents_of(c)))`` for each chunk, in order, in inference mode; in
    :func:`synthesis_streams` streams (each a thread with its share of the intra-op threads), so
    the caller's thread runs no torch op while they work (``convert``, e.g. ``to_uint8``, runs
    in the stream too)."""
    import torch

    from facereel.nets import concurrent

    def one(c):
        img = G.synthesize(c if latents_of is None else latents_of(c))
        return img if convert is None else convert(img)

    with torch.inference_mode():
        yield from concurrent.map_ordered(one, chunks, synthesis_streams(G, streams))


def synthesize_batches(G, latents, batch: int = 8, *, convert=None, streams: int | None = None) -> Iterator:
    """Images [b, 3, R, R] of consecutive chunks of ``latents`` (inference mode), or
    ``convert`` of them; see :func:`synthesize_stream`."""
    step = max(1, batch)
    chunks = (latents[i:i + step] for i in range(0, latents.shape[0], step))
    return synthesize_stream(G, chunks, convert=convert, streams=streams)


# ---------------------------------------------------------------------------------------------
# which W+ index feeds which style layer (the official layouts)


def nv_style_indices(synthesis) -> dict[str, int]:
    """NVIDIA StyleGAN2 ``SynthesisNetwork``: module name → the w+ index its affine reads.

    Block b reads ws[w_idx : w_idx + num_conv + num_torgb]: conv0 w_idx, conv1 the next, toRGB
    the one after its convs (shared with the next block's conv0); w_idx += num_conv."""
    out: dict[str, int] = {}
    w_idx = 0
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        k = w_idx
        if hasattr(block, "conv0"):
            out[f"b{res}.conv0"] = k
            k += 1
        out[f"b{res}.conv1"] = k
        if hasattr(block, "torgb"):
            out[f"b{res}.torgb"] = w_idx + block.num_conv
        w_idx += block.num_conv
    return out


def rosinality_style_indices(G) -> dict[str, int]:
    """rosinality ``Generator``: module name → latent index (conv1: 0, to_rgb1: 1, then per
    resolution convs[2j]: 1+2j, convs[2j+1]: 2+2j, to_rgbs[j]: 3+2j)."""
    out = {"conv1": 0, "to_rgb1": 1}
    for j in range(len(G.to_rgbs)):
        i = 1 + 2 * j
        out[f"convs.{2 * j}"] = i
        out[f"convs.{2 * j + 1}"] = i + 1
        out[f"to_rgbs.{j}"] = i + 2
    return out
