"""Third-party start-up chatter kept off the terminal (CLI only; ``-v`` shows everything).

MediaPipe, TFLite, absl/glog and onnxruntime print from native code straight to file
descriptor 2 ("WARNING: Logging before InitGoogle()", "W0000 00:00:... face_landmarker_graph.cc",
"INFO: Created TensorFlow Lite XNNPACK delegate", "[W:onnxruntime:...]").  No Python setting
reaches all of them, so the command line moves fd 2 onto a pipe whose reader drops those lines
and passes everything else on; Python's own ``sys.stderr`` (rich output, tracebacks) is rebound
to the real terminal and never goes through the filter, so progress bars keep their terminal.
Third-party Python warnings and logging are quietened to errors.

The library never does any of this: it only logs through ``logging``.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import re
import sys
import threading
import warnings

#: native log lines that mean nothing to a user: glog/absl INFO and WARNING lines (E/F pass),
#: absl's pre-init notice, TFLite's INFO lines, onnxruntime's verbose/info/warning lines
NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+\s+\d+ [^\]]+\] "
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|INFO: "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[VIW]:onnxruntime:)"
)

_installed = False


def is_noise(line: bytes) -> bool:
    return NOISE.match(line) is not None


def _pump(read_fd: int, out_fd: int) -> None:
    """Copies lines from ``read_fd`` to ``out_fd``, dropping :data:`NOISE`, until EOF."""
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        keep = b"".join(line + b"\n" for line in lines if not is_noise(line))
        if keep:
            with contextlib.suppress(OSError):
                os.write(out_fd, keep)
    if pending and not is_noise(pending):
        with contextlib.suppress(OSError):
            os.write(out_fd, pending)
    os.close(read_fd)


def quiet_third_party() -> None:
    """Installs the fd-2 filter and quietens third-party Python warnings/logging (once).

    Call it from the command line's entry point, never from library code or under a test
    runner that captures stderr.
    """
    global _installed
    if _installed:
        return
    _installed = True
    warnings.filterwarnings("ignore")                    # torch/mediapipe deprecation chatter
    warnings.filterwarnings("default", module=r"facereel(\.|$)")
    logging.getLogger().setLevel(logging.ERROR)          # absl and friends through the root logger
    for name in ("absl", "mediapipe", "onnxruntime", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, ValueError):
        return                                           # no fd 2 (a service manager): nothing to filter
    # Python keeps writing to the terminal itself, through its own descriptor
    sys.stderr = io.TextIOWrapper(os.fdopen(real, "wb", buffering=0, closefd=False),
                                  encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace",
                                  line_buffering=True, write_through=True)
    pump = threading.Thread(target=_pump, args=(read_fd, real), name="facereel-stderr-filter", daemon=True)
    pump.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def restore() -> None:
        # last atexit handler to run (registered first): native writes from here on go direct
        with contextlib.suppress(OSError):
            os.dup2(real, 2)
        pump.join(timeout=1.0)

    atexit.register(restore)


def verbose_requested(argv: list[str]) -> bool:
    """``-v``/``--verbose`` among the root options (before the command name)."""
    for arg in argv:
        if arg in ("-v", "--verbose"):
            return True
        if not arg.startswith("-"):
            return False
    return False
