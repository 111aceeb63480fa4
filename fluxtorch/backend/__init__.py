"""Backends: PyTorch devices (``gpu``/``cpu``) and ONNX Runtime (``onnx``)."""

from fluxtorch.backend._device import cpu, gpu
from fluxtorch.backend._onnx import ExportError, OnnxModel, onnx

__all__ = ["ExportError", "OnnxModel", "cpu", "gpu", "onnx"]
