"""Debugging: errors that name their layer."""

from fluxtorch.debug._notes import annotate

__all__ = ["annotate"]
