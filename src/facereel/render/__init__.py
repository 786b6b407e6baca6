"""Rendering: time-lapse engines, keyframe blending, frames to video."""
