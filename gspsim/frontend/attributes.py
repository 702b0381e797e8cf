"""ONNX attributes as plain Python values, the form kernels take."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import helper, numpy_helper


def attribute_value(attr: onnx.AttributeProto) -> Any:
    """One attribute: ints/floats/lists as Python values, strings decoded, tensors as numpy arrays."""
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", errors="replace") for v in value]
    return value


def node_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """All attributes of ``node`` by name (ONNX defaults are *not* filled in)."""
    return {a.name: attribute_value(a) for a in node.attribute}
