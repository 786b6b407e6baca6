"""``facereel reenact DRIVER TARGET -o out.mp4`` (+ ``reenact train``, ``reenact evaluate``).

``reenact DRIVER TARGET ...`` is the group's default command (``reenact run``); ``train`` and
``evaluate`` are its other commands.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

#: ReenactOptions field -> the flag a user typed
FLAGS = {"method": "--method", "size": "--size", "paste_back": "--paste-back", "feather": "--feather",
         "reference": "--reference", "face_index": "--face", "smoothing": "--smoothing", "device": "--device",
         "checkpoint": "--checkpoint", "identity_encoder": "--identity-encoder", "encoder": "--encoder",
         "generator": "--generator", "restyle_iterations": "--restyle-iterations", "fps": "--fps",
         "max_frames": "--max-frames", "keep_audio": "--no-audio"}


class _DefaultRun(TyperGroup):
    """``reenact DRIVER TARGET`` runs ``reenact run DRIVER TARGET``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


group = typer.Typer(cls=_DefaultRun, no_args_is_help=True,
                    help="Pose and expression transfer: animate a photo by a driving video "
                         "(`facereel reenact DRIVER TARGET -o out.mp4`), train the thesis' network, evaluate.")


@group.command("run")
def run(
    driver: Path = typer.Argument(..., help="Driving video, photo, or folder of frames."),
    target: Path = typer.Argument(..., help="Photo of the person to animate."),
    output: Path = typer.Option(Path("reenact.mp4"), "--output", "-o", help="Output video (.mp4, .webm, .gif, folder)."),
    method: str = typer.Option("warp", "--method", "-m",
                               help="warp (offline landmark warp) | baseline (latent arithmetic) | learned "
                                    "(the thesis' network; NON-COMMERCIAL weights)."),
    size: int = typer.Option(256, "--size", help="Side of the aligned output face."),
    paste_back: bool = typer.Option(False, "--paste-back", help="Put the face back into the full target photo."),
    feather: float = typer.Option(0.08, "--feather", help="Paste-back mask edge, fraction of the face crop."),
    reference: str = typer.Option(None, "--reference", help="Photo of the person to drive when the target shows several."),
    face: int = typer.Option(None, "--face", help="Drive this face of the target (0 = largest)."),
    smoothing: float = typer.Option(0.5, "--smoothing", help="Temporal smoothing of the motion, 0..1."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    checkpoint: str = typer.Option(None, "--checkpoint",
                                   help="learned: best_model.pt (default pet_best_model); baseline: its encoder checkpoint."),
    identity_encoder: str = typer.Option("restyle_psp_ffhq_encode", "--identity-encoder",
                                         help="learned: the ReStyle-pSp checkpoint that inverts the target."),
    encoder: str = typer.Option("psp", "--encoder", help="baseline: psp | e4e | restyle | optimize | hybrid."),
    generator: str = typer.Option(None, "--generator", help="baseline with optimize/hybrid: the generator."),
    restyle_iterations: int = typer.Option(5, "--restyle-iterations", help="ReStyle refinement steps."),
    fps: float = typer.Option(None, "--fps", help="Output frame rate (default: the driver's, 25 for frames)."),
    max_frames: int = typer.Option(None, "--max-frames", help="Use at most this many driver frames."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Do not copy the driver's audio."),
) -> None:
    """Animate TARGET with the head pose and expression of DRIVER."""
    from facereel.commands._ui import fail, out, progress_bar
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.reenact import ReenactOptions

    try:
        opts = ReenactOptions(method=method, size=size, paste_back=paste_back, feather=feather, reference=reference,
                              face_index=face, smoothing=smoothing, device=device, checkpoint=checkpoint,
                              identity_encoder=identity_encoder, encoder=encoder, generator=generator,
                              restyle_iterations=restyle_iterations, fps=fps, max_frames=max_frames,
                              keep_audio=not no_audio).validate()
    except OptionsError as exc:
        fail(exc.message_for(FLAGS))
    from facereel.reenact.runner import reenact_video

    try:
        with progress_bar(f"reenact ({opts.method})") as cb:
            rep = reenact_video(driver, target, output, opts, progress=cb)
    except FacereelError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(str(exc))
    extra = f", {rep.no_face_frames} without a face (last frame held)" if rep.no_face_frames else ""
    audio = ", driver audio kept" if rep.audio else ""
    out.print(f"{rep.output}: {rep.frames} frames at {rep.fps:g} fps from {opts.method} "
              f"({rep.frames_per_second:.1f} frames/s){extra}{audio}; drove {rep.target_face}", highlight=False)


TRAIN_FLAGS = {"lr": "--lr", "batch_size": "--batch", "max_steps": "--max-steps", "l2": "--l2", "lpips": "--lpips",
               "id": "--id", "cosface": "--cosface", "l2_crop": "--l2-crop", "lpips_crop": "--lpips-crop",
               "lpips_net": "--lpips-net", "optimizer": "--optimizer", "device": "--device", "seed": "--seed",
               "save_interval": "--save-interval", "board_interval": "--board-interval"}


@group.command("train")
def train(
    data: Path = typer.Argument(..., help="Folder of single-person video clips (searched recursively)."),
    output: Path = typer.Option(Path("run"), "--output", "-o", help="Run folder (checkpoints, scalars, cached crops)."),
    lr: float = typer.Option(1e-5, "--lr"),
    batch: int = typer.Option(8, "--batch"),
    max_steps: int = typer.Option(1_000_000, "--max-steps"),
    l2: float = typer.Option(0.0, "--l2"),
    lpips: float = typer.Option(0.05, "--lpips"),
    id_: float = typer.Option(0.3, "--id"),
    cosface: float = typer.Option(0.0, "--cosface"),
    l2_crop: float = typer.Option(2.0, "--l2-crop"),
    lpips_crop: float = typer.Option(0.3, "--lpips-crop"),
    lpips_net: str = typer.Option("alex", "--lpips-net", help="alex | vgg."),
    optimizer: str = typer.Option("ranger", "--optimizer", help="ranger | adam."),
    save_interval: int = typer.Option(1000, "--save-interval"),
    board_interval: int = typer.Option(50, "--board-interval"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    fresh: bool = typer.Option(False, "--fresh", help="Do not resume from the run folder's last checkpoint."),
) -> None:
    """Train the thesis' transfer network (defaults: its best run; needs a GPU for real use)."""
    from facereel.commands._ui import fail, out, progress_bar
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.reenact import ReenactTrainOptions

    try:
        opts = ReenactTrainOptions(lr=lr, batch_size=batch, max_steps=max_steps, l2=l2, lpips=lpips, id=id_,
                                   cosface=cosface, l2_crop=l2_crop, lpips_crop=lpips_crop, lpips_net=lpips_net,
                                   optimizer=optimizer, save_interval=save_interval, board_interval=board_interval,
                                   seed=seed, device=device).validate()
    except OptionsError as exc:
        fail(exc.message_for(TRAIN_FLAGS))
    from facereel.reenact.train.run import train_from_folder

    try:
        with progress_bar("train") as cb:
            res = train_from_folder(data, output, opts, resume=not fresh, progress=cb)
    except (FacereelError, FileNotFoundError) as exc:
        fail(str(exc))
    out.print(f"{res['run_dir']}: step {res['step']} (from {res['start_step']}), last loss {res['last_loss']}, "
              f"{res['clips']} clips / {res['frames']} frames", highlight=False)


@group.command("evaluate")
def evaluate(
    driver: Path = typer.Argument(..., help="Driving video, photo or folder of frames."),
    target: Path = typer.Argument(..., help="Photo of the person to animate."),
    methods: str = typer.Option("warp,baseline,learned", "--methods", help="Comma-separated methods to compare."),
    self_row: bool = typer.Option(True, "--self/--no-self", help="Add each method's self-reenactment row."),
    size: int = typer.Option(256, "--size"),
    max_frames: int = typer.Option(None, "--max-frames"),
    device: str = typer.Option("auto", "--device"),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the rows as JSON."),
) -> None:
    """Compare methods with the thesis' columns: pose MAE, aspect-ratio and blendshape correlation, CSIM."""
    import json
    import math

    from rich.table import Table

    from facereel.commands._ui import fail, out, progress_bar
    from facereel.core.atomic import write_text
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.choices import REENACT_METHODS
    from facereel.options.reenact import ReenactOptions

    names = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in names if m not in REENACT_METHODS]
    if bad or not names:
        fail(f"--methods: unknown {', '.join(bad) or 'empty list'}; choose from {', '.join(REENACT_METHODS)}")
    try:
        opts = ReenactOptions(size=size, max_frames=max_frames, device=device).validate()
    except OptionsError as exc:
        fail(exc.message_for(FLAGS))
    from facereel.reenact.evaluate import evaluate_methods

    try:
        with progress_bar("evaluate") as cb:
            res = evaluate_methods(driver, target, names, opts, self_reenactment=self_row, progress=cb)
    except (FacereelError, FileNotFoundError) as exc:
        fail(str(exc))
    cols = [("pose_mae", "pose MAE°"), ("yaw_mae", "yaw"), ("pitch_mae", "pitch"), ("ratio_corr", "ratios r"),
            ("eyes_corr", "eyes"), ("brows_corr", "brows"), ("mouth_corr", "mouth"),
            ("blendshape_corr", "blendshapes r"), ("csim_dlib", "CSIM dlib"), ("csim_arcface", "CSIM ArcFace"),
            ("csim_driver_dlib", "CSIM→driver"), ("no_face", "no face")]
    table = Table(title=f"reenactment: {res['frames']} driver frames")
    table.add_column("method")
    for _, head in cols:
        table.add_column(head, justify="right")
    for row in res["rows"]:
        if "error" in row:
            table.add_row(row["name"], "[red]n/a[/]", *[""] * (len(cols) - 1))
            continue
        cells = []
        for key, _ in cols:
            v = row.get(key)
            cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         (f"{v:.3f}" if isinstance(v, float) else str(v)))
        table.add_row(row["name"], *cells)
    out.print(table)
    for row in res["rows"]:
        if "error" in row:
            out.print(f"{row['name']}: {row['error']}", highlight=False)
    if output is not None:
        write_text(output, json.dumps(res, indent=1, default=lambda v: None if v != v else v))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="reenact")
