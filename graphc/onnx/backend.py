"""graphc as an ONNX backend (onnx.backend.base.Backend), so onnx's own backend test suite
(onnx.backend.test.BackendTest) and tools written against that interface run on graphc:

    import graphc.onnx.backend as backend
    rep = backend.prepare(model)          # checks and imports; compiles on first run
    outputs = rep.run([x])                # a tuple of numpy arrays, in the model's order

Only the CPU device is supported (graphc's LLVM target, or the target the session's options
name).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from graphc.onnx.runner import CompiledModel


class GraphcRep(BackendRep):
    """A prepared model: `run(inputs)` takes a list (model order), a dict or one array."""

    def __init__(self, compiled: CompiledModel):
        self.compiled = compiled

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        names = self.compiled.input_names
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != len(names):
                raise ValueError(f"the model takes {len(names)} inputs {names}, got "
                                 f"{len(inputs)}")
            feeds = dict(zip(names, inputs))
        else:
            feeds = {names[0]: inputs} if len(names) == 1 else None
            if feeds is None:
                raise ValueError(f"the model takes {len(names)} inputs {names}: pass a list "
                                 "or a dict")
        out = self.compiled.run(feeds)
        return namedtupledict("Outputs", self.compiled.output_names)(
            *[out[n] for n in self.compiled.output_names])

    def close(self) -> None:
        self.compiled.close()


class GraphcBackend(Backend):
    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs: Any) -> GraphcRep:
        if not cls.supports_device(device):
            raise ValueError(f"graphc's onnx backend runs on CPU, not {device!r}")
        if isinstance(model, onnx.ModelProto):
            super().prepare(model, device, **kwargs)  # onnx's checker
        return GraphcRep(CompiledModel(model, target=kwargs.get("target"),
                                       options=kwargs.get("options")))

    @classmethod
    def run_model(cls, model, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs: Any, device: str = "CPU", outputs_info=None,
                 **kwargs: Any) -> tuple:
        """Run one NodeProto on `inputs` (arrays, in the node's input order): a model of that
        node alone, at the newest opset onnx knows unless opset_version= is given."""
        super().run_node(node, inputs, device=device, outputs_info=outputs_info)
        present = [name for name in node.input if name]
        arrays = [np.asarray(x) for x in inputs]
        graph_inputs = [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for name, a in zip(present, arrays)]
        if outputs_info is not None:
            graph_outputs = [helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
                for name, (dtype, shape) in zip(node.output, outputs_info)]
        else:
            graph_outputs = [helper.make_empty_tensor_value_info(name) for name in node.output
                             if name]
        graph = helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        version = kwargs.pop("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(node.domain,
                                                                            version)])
        rep = GraphcRep(CompiledModel(model, target=kwargs.get("target"),
                                      options=kwargs.get("options")))
        try:
            return rep.run(dict(zip(present, arrays)))
        finally:
            rep.close()


prepare = GraphcBackend.prepare
run_model = GraphcBackend.run_model
run_node = GraphcBackend.run_node
supports_device = GraphcBackend.supports_device
is_compatible = GraphcBackend.is_compatible
