"""The ageing-linearity lab end to end: photos/videos -> aligned crops -> latents -> analyses -> report.

Latents come from :mod:`facereel.inversion` through the batch layer (:mod:`facereel.batch`): each
one is stored in ``OUT/latents/`` as it is computed, so an interrupted run of hundreds of frames
continues where it stopped, and ``--ray`` runs the inversions on a Ray cluster.  The analyses are
:mod:`facereel.lab.linearity` and :mod:`facereel.lab.regression`; the report is
:mod:`facereel.lab.report`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facereel.batch.runner import BatchReport, run_batch
from facereel.batch.stages import InvertStage
from facereel.batch.store import BatchError, ResultStore
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.lab import linearity as L
from facereel.lab import report as R
from facereel.lab.regression import AgeRegressor, evaluate_heldout, leave_one_person_out
from facereel.options.analyze import AnalyzeOptions
from facereel.options.batch import BatchOptions
from facereel.options.lab import LinearityOptions

log = logging.getLogger(__name__)


@dataclass
class LabLatents:
    latents: np.ndarray                   # [N, ...] in age order
    ages: np.ndarray                      # [N] years
    names: list[str]
    persons: list[str]
    generator: str
    latent_kind: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    batch: list[BatchReport] = field(default_factory=list)


@dataclass
class LinearityResult:
    output: Path
    report: Path
    data: LabLatents
    pairs: list[L.PairResult]
    direction_pairs: list[L.PairResult]
    spans: list[L.SpanResult]
    regression: dict | None
    people: list[dict]


def load_direction(path: str | Path, shape: tuple[int, ...], generator: str | None = None) -> np.ndarray:
    """An age direction checked against the latent shape (one w-sized vector is used on every layer
    of a W+ code): a direction file from ``facereel directions fit`` (``.safetensors``) or a public
    e4e ``.pt`` (:func:`facereel.latent.directions.load_direction`: its generator must match), a
    ``.npy`` vector or a ``.npz`` with a ``direction`` array."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise L.LabError(f"direction file not found: {path}")
    try:
        if p.suffix.lower() in (".safetensors", ".pt"):
            from facereel.latent.directions import load_direction as read_direction

            direction = read_direction(p)
            if generator is not None and direction.generator not in ("*", generator):
                raise L.LabError(f"the direction {p.name} was made for generator {direction.generator}, "
                                 f"not {generator}")
            d = np.asarray(direction.vector(0), np.float64)
        elif p.suffix.lower() == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "direction" not in z.files:
                    raise L.LabError(f"{p.name} has no 'direction' array")
                d = np.asarray(z["direction"], np.float64)
        else:
            d = np.asarray(np.load(p, allow_pickle=False), np.float64)
    except L.LabError:
        raise
    except (OSError, ValueError, FacereelError) as exc:
        raise L.LabError(f"cannot read the direction {p.name}: {exc}") from None
    size = int(np.prod(shape))
    if d.size == size:
        return d.reshape(shape)
    if len(shape) == 2 and d.size == shape[1]:
        return np.broadcast_to(d.ravel(), shape).copy()
    raise L.LabError(f"the direction {p.name} has {d.size} values but the latents are {list(shape)}: "
                     "it was made for another generator or latent space")


def _settings(options: LinearityOptions):
    from facereel.inversion.api import InversionSettings

    return InversionSettings(method=options.method, steps=options.steps, encoder=options.encoder)


def collect_latents(sources: Sequence, output: Path, options: LinearityOptions, *,
                    analyze: AnalyzeOptions | None = None, batch: BatchOptions | None = None,
                    progress: Progress | None = None, analysis_progress: Progress | None = None) -> LabLatents:
    """Aligned crops of every source (each a person when ``options.people``), their ages, and
    their latents through the batch store ``output/latents``."""
    from facereel.pipelines.analyze import load_aligned

    analyze = analyze or AnalyzeOptions(size=options.size)
    groups = [[s] for s in sources] if options.people else [list(sources)]
    stage = InvertStage(_settings(options), generator=options.generator, device=options.device)
    store = ResultStore(output / "latents", stage.signature())
    items, ages, names, persons, skipped = [], [], [], [], []
    for g, group in enumerate(groups):
        person = Path(str(group[0])).stem if options.people else "person"
        faces = load_aligned(group if len(group) > 1 else group[0], analyze, size=options.size, skip_failed=True,
                             analysis_progress=analysis_progress)
        skipped += faces.skipped
        for img, e in zip(faces.images, faces.entries):
            age = e.age if e.age is not None else e.age_estimated
            if age is None:
                skipped.append((e.path, "no age (give --birth-date with dated photos, or ages)"))
                continue
            key = f"{g}:{e.sha256 or e.path}:{e.frame if e.frame is not None else ''}"
            items.append({"key": key, "crop": img})
            ages.append(float(age))
            names.append(e.name)
            persons.append(person)
    if len(items) < 3:
        raise L.LabError(f"the lab needs at least 3 photos with a face and an age, found {len(items)}"
                         + (f" ({len(skipped)} skipped)" if skipped else ""))
    rep = run_batch(items, stage, store, batch, progress=progress)
    lat, keep, gens, kinds = [], [], set(), set()
    for i, it in enumerate(items):
        res = store.get(it["key"])
        if "error" in res:
            skipped.append((names[i], str(res["error"])))
            continue
        lat.append(np.asarray(res["latent"], np.float32))
        gens.add(str(res["generator"]))
        kinds.add(str(res["latent_kind"]))
        keep.append(i)
    if len(gens) > 1:
        raise BatchError(f"latents from different generators are mixed ({', '.join(sorted(gens))})")
    latents = np.stack(lat)
    a = np.asarray(ages)[keep]
    order = np.argsort(a, kind="stable")
    return LabLatents(latents=latents[order], ages=a[order], names=[names[keep[i]] for i in order],
                      persons=[persons[keep[i]] for i in order], generator=next(iter(gens)),
                      latent_kind=next(iter(kinds)), skipped=skipped, batch=[rep])


def analyse(data: LabLatents, options: LinearityOptions) -> tuple[list, list, list, dict | None, list[dict]]:
    lat, ages = data.latents, data.ages
    persons = np.asarray(data.persons)
    main = persons == persons[0]
    if options.window > 1:
        lat_a, ages_a = L.window_average(lat[main], ages[main], options.window)
    else:
        lat_a, ages_a = lat[main], ages[main]
    if len(lat_a) < 3:
        raise L.LabError(f"only {len(lat_a)} latents left after window averaging by {options.window}; "
                         "use a smaller --window")
    pairs_req = list(options.pairs) or [(float(ages_a.min()), float(ages_a.max()))]
    lo, hi = float(ages_a.min()), float(ages_a.max())
    for a, b in pairs_req:
        if b < lo - 0.5 or a > hi + 0.5:
            raise L.LabError(f"the pair {a:g}:{b:g} is outside the ages of the photos ({lo:.1f}-{hi:.1f} years)")
    pairs = [L.pair_errors(lat_a, ages_a, a, b) for a, b in pairs_req]
    direction_pairs = []
    if options.direction:
        d = load_direction(options.direction, lat.shape[1:], data.generator)
        direction_pairs = [L.pair_errors(lat_a, ages_a, a, b, direction=d) for a, b in pairs_req]
    span_list = list(options.spans) or [round((hi - lo) / 4, 2), round((hi - lo) / 2, 2)]
    span_list = [s for s in span_list if s > 0]
    spans = L.span_errors(lat_a, ages_a, span_list, tolerance=options.span_tolerance)
    regression, people = None, []
    if options.regression:
        model = AgeRegressor(kind=options.regression, alpha=options.alpha, age_weight=options.age_weight,
                             components=options.components)
        cut = np.quantile(ages_a, 1 - options.heldout_fraction)
        held = ages_a >= cut
        if held.sum() >= 1 and (~held).sum() >= 3:
            regression = evaluate_heldout(lat_a, ages_a, held, model)
            regression.update({"heldout_from_age": float(cut), "kind": options.regression})
        if len(set(data.persons)) >= 2:
            people = leave_one_person_out(lat, ages, data.persons, model)
    return pairs, direction_pairs, spans, regression, people


def run_linearity(sources: Sequence, output: str | Path, options: LinearityOptions | None = None, *,
                  analyze: AnalyzeOptions | None = None, batch: BatchOptions | None = None,
                  progress: Progress | None = None, analysis_progress: Progress | None = None) -> LinearityResult:
    """Runs the whole lab on ``sources`` (photos, folders, videos or a manifest) into ``output``."""
    options = (options or LinearityOptions()).validate()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    data = collect_latents(sources, out, options, analyze=analyze, batch=batch, progress=progress,
                           analysis_progress=analysis_progress)
    pairs, dpairs, spans, regression, people = analyse(data, options)
    report = write_report(out, data, options, pairs, dpairs, spans, regression, people)
    return LinearityResult(output=out, report=report, data=data, pairs=pairs, direction_pairs=dpairs, spans=spans,
                           regression=regression, people=people)


def write_report(out: Path, data: LabLatents, options: LinearityOptions, pairs, dpairs, spans, regression,
                 people) -> Path:
    from facereel.core.atomic import atomic_path

    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    with atomic_path(out / "latents.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, latents=data.latents, ages=data.ages, names=np.array(data.names),
                 persons=np.array(data.persons), generator=np.array(data.generator))
    point_rows = [{"pair": f"{p.start_age:.2f}:{p.end_age:.2f}", "interpolator": p.interpolator, "age": float(a),
                   "t": float(t), "error": float(e), **{f"error_{k}": float(v[i]) for k, v in p.layer_errors.items()}}
                  for p in pairs + dpairs for i, (a, t, e) in enumerate(zip(p.ages, p.positions, p.errors))]
    R._csv(out / "errors.csv", point_rows)
    pair_rows = [p.summary() for p in pairs + dpairs]
    R._csv(out / "pairs.csv", pair_rows)
    span_rows = [{"span": s.span, "pairs": s.pairs, "mean_error": s.mean_error, "std_error": s.std_error,
                  "mean_relative": s.mean_relative, **{f"mean_error_{k}": v for k, v in s.layer_mean.items()}}
                 for s in spans]
    R._csv(out / "spans.csv", span_rows)
    reg_rows = ([dict(regression)] if regression else []) + people
    if reg_rows:
        R._csv(out / "regression.csv", reg_rows)
    R.plot_pairs(pairs + dpairs, plots / "error_vs_age.png")
    R.plot_spans(spans, plots / "error_vs_span.png")
    first = pairs[0]
    a, b = data.latents[first.start_index], data.latents[first.end_index]
    path2d, line, var = L.principal_path(data.latents, a, b)
    R.plot_path(path2d, data.ages, line, var, plots / "latent_path_pca.png")
    sections = [
        ("Error against age, per pair", "plots/error_vs_age.png", pair_rows, "pairs.csv"),
        ("Error against span", "plots/error_vs_span.png", span_rows, "spans.csv"),
        ("Latent path (first two principal components)", "plots/latent_path_pca.png", [], "errors.csv"),
    ]
    if first.layer_errors:
        R.plot_layers(first, plots / "error_per_layer.png")
        sections.insert(1, ("Per-layer error (coarse / middle / fine)", "plots/error_per_layer.png", [], None))
    if reg_rows:
        sections.append(("Regression (start age, w_start, target age) → w_target", "", reg_rows, "regression.csv"))
    settings = {**options.to_dict(), "generator": data.generator, "latent_kind": data.latent_kind,
                "latents": int(len(data.latents)), "ages": [float(data.ages.min()), float(data.ages.max())],
                "skipped": [[str(p), r] for p, r in data.skipped]}
    notes = [f"{len(data.latents)} latents ({data.latent_kind}) of {data.generator}, ages "
             f"{data.ages.min():.1f}–{data.ages.max():.1f} years; error ‖d‖ = distance of each real latent to the "
             "line through the start and end latents (A photo a day)."]
    if data.skipped:
        notes.append(f"{len(data.skipped)} photos or frames skipped (see the settings below).")
    from facereel.core.atomic import write_text

    write_text(out / "settings.json", json.dumps(settings, indent=2, default=str) + "\n")
    return R.write_html(out / "report.html", title="Ageing linearity in latent space", settings=settings,
                        sections=sections, notes=notes)
