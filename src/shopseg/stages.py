"""The pipeline's stages, in order: each adapts one capability to :class:`shopseg.pipeline.RunContext`."""

from __future__ import annotations

from .pipeline import RunContext, Stage, register
