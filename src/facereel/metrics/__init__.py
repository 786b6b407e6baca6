"""facereel.metrics: identity curve, ghosting and smoothness of face videos (arrays in, numbers out).

* :mod:`~facereel.metrics.identity` — dlib descriptor similarity ``1 − distance`` to the nearest keyframe;
* :mod:`~facereel.metrics.ghosting` — double-edge energy of in-between frames;
* :mod:`~facereel.metrics.smoothness` — frame differences, ACD, landmark jitter;
* :mod:`~facereel.metrics.report` — all of them on a video (``facereel evaluate``), plot;
* :mod:`~facereel.metrics.video_io` — frames from MP4/WebM/GIF (PyAV) or a PNG folder.
"""
