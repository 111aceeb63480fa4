"""Debugging: errors that name their layer, and shape listings computed without data."""

from fluxtorch.debug._notes import annotate
from fluxtorch.debug._shapes import ShapeReport, shapes
from fluxtorch.debug._summary import outputsize, summary

__all__ = ["ShapeReport", "annotate", "outputsize", "shapes", "summary"]
