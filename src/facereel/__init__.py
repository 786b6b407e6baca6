"""facereel: face videos in the latent space of pretrained face generators.

The library never prints: it reports through :mod:`logging` and optional
``progress(done, total)`` callbacks.  Nothing heavy is imported here; models load lazily.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
