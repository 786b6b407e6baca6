"""Image encoders with official parameter names: the IR-SE50 ArcFace backbone, pSp, e4e and ReStyle.

Call ``.eval().fuse()`` on a loaded encoder for the fast inference path (BatchNorm folded); the plain
path is used in training mode and before ``fuse()``.
"""

from .irse import Backbone, BottleneckIR, BottleneckIRSE, SEModule, get_blocks, make_body
from .psp import Encoder4Editing, EqualLinear, GradualStyleBlock, GradualStyleEncoder
from .restyle import BackboneEncoder, ProgressiveBackboneEncoder

__all__ = [
    "Backbone", "BottleneckIR", "BottleneckIRSE", "SEModule", "get_blocks", "make_body",
    "EqualLinear", "GradualStyleBlock", "GradualStyleEncoder", "Encoder4Editing",
    "BackboneEncoder", "ProgressiveBackboneEncoder",
]
