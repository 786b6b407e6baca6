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


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="reenact")
