"""The single definition of every choice list facereel accepts.

Front ends read these for their menus and help texts; options objects validate against them.
A test checks that no other module restates them.
"""

from __future__ import annotations

#: Output/crop sizes in pixels: the FFHQ recipe aligns to any whole size in this range.
SIZE_MIN, SIZE_MAX = 64, 2048
#: The menu the time-lapse seed's web client offers (and the official FFHQ resolutions).
WEB_SIZES = (256, 512, 1024)

#: Weights-table kinds that load as a face generator.
GENERATOR_KINDS = ("stylegan2", "stylegan3", "rosinality", "dcgan")

ENGINES = ("morph", "crossfade", "latent")
VIDEO_FORMATS = ("mp4", "webm", "gif", "frames")
#: formats of the videos a batch render writes into its folder (``--out-dir``)
BATCH_VIDEO_FORMATS = ("mp4", "webm", "gif")
TIMINGS = ("uniform", "age")
INVERSION_METHODS = ("optimize", "psp", "e4e", "restyle", "hybrid")
#: The inversion methods that run an encoder checkpoint (which brings its own decoder).
ENCODER_METHODS = ("psp", "e4e", "restyle", "hybrid")
INTERPOLATIONS = ("linear", "slerp", "spline")
BLENDS = ("seed", "aligned")
LANDMARKS = ("mediapipe", "dlib68")
DETECTORS = ("hog", "cnn")
ALIGN_RECIPES = ("ffhq", "psp")
DEVICES = ("auto", "cpu", "cuda")
#: The official op sequence or its equivalent fast path: how a network computes its forward pass
#: (:class:`facereel.nets.plan.ExecutionPlan`), how the warp reenactment renders (``WarpMethod.impl``).
IMPLEMENTATIONS = ("reference", "fast")

#: Photo formats accepted everywhere (upload, folders, CLI, frame folders), by the Pillow name the
#: decoder reports, with their file suffixes.  MPO is what many cameras write for a JPEG with a
#: preview (it has no suffix of its own).
IMAGE_FORMATS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "MPO": (), "PNG": (".png",), "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"), "BMP": (".bmp",), "HEIF": (".heic", ".heif"), "AVIF": (".avif",),
}
#: Photo files accepted everywhere, by suffix; content is checked too.
IMAGE_SUFFIXES = tuple(s for suffixes in IMAGE_FORMATS.values() for s in suffixes)
#: Video files accepted where photos are (frames sampled from them).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")

#: Pose/expression transfer methods (``facereel reenact --method``).
REENACT_METHODS = ("warp", "baseline", "learned")
#: Encoders the latent-arithmetic baseline can invert the driver and target with.
REENACT_BASELINE_ENCODERS = ("psp", "e4e", "restyle", "optimize", "hybrid")
#: Image files facereel writes (``generate`` grids), by suffix.
GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: The 7 basic emotions of the fer model, in its label order.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Direction fitters (``facereel directions fit --method``); "auto": linear for continuous labels,
#: logistic for probabilities (gender, emotions).
DIRECTION_METHODS = ("auto", "linear", "logistic", "svm", "pairwise", "pca", "sefa")
#: Named W+ layer masks (any list such as "0-7" works too).
LAYER_PRESETS = ("all", "coarse", "middle", "fine", "vs")
WALK_MODES = ("random", "coarse", "fine", "loop")
LOOP_SPACES = ("z", "w")
#: Emotion-order models (``facereel emotions --order``).
SEQUENCE_MODELS = ("lstm", "markov")
#: Outputs of ``facereel edit``: a grid image or a video.
EDIT_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm", ".gif")
LAB_REGRESSIONS = ("ridge", "lasso")
#: How ``facereel age`` ages one photo: the SAM network, or a latent age direction.
AGE_METHODS = ("sam", "direction")
#: Target ages SAM takes (its age channel is int(age)/100, trained on 0..100).
AGE_MIN, AGE_MAX = 0, 100
