"""Functional models: a graph of layer calls from ``Input`` tensors to outputs."""

from __future__ import annotations

from .. import backend
from ..layers.base import KerasTensor, _flatten, call_with_mask
from ..layers.core import InputLayer
from ..tensor import Tensor
from .model import Model


def _topological_nodes(outputs):
    """The layer calls needed for ``outputs``, each after the calls it depends on (iterative DFS)."""
    order, done = [], set()
    stack = [(t.node, False) for t in reversed(outputs) if t.node is not None]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for t in node.parents():
            if t.node is not None and id(t.node) not in done:
                stack.append((t.node, False))
    return order


class Functional(Model):
    """A model defined by calling layers on ``Input`` tensors: ``Model(inputs, outputs)``.

    Supports several inputs and outputs and shared layers (one layer called at
    several places shares its weights).
    """

    def __init__(self, inputs, outputs, name=None, trainable=True):
        Model.__init__(self, name=name or backend.unique_name("functional"), trainable=trainable)
        self._nested_inputs = inputs
        self._nested_outputs = outputs
        self.inputs = _flatten(inputs)
        self.outputs = _flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model(inputs, outputs) expects tensors from Input() and layer calls, got {t!r}.")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"model inputs must come from Input(); {t.name!r} is the output of a layer.")
        self.dtype = self.inputs[0].layer.dtype
        self._nodes = _topological_nodes(self.outputs)
        for node in self._nodes:
            for t in node.parents():
                if t.node is None and all(t is not i for i in self.inputs):
                    raise ValueError(
                        f"the graph needs input {t.name!r}, which is not in the model's inputs. "
                        "Pass every Input the outputs depend on."
                    )
        layers = [t.layer for t in self.inputs]
        for node in self._nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        for layer in layers:
            self._tracked_layers.append(layer)
        self.built = True
        shapes = [t.shape for t in self.inputs]
        self.input_shape_built = shapes if len(shapes) > 1 else shapes[0]

    def call(self, inputs, training=False, logits=False):
        """The graph's outputs; ``logits`` (True, or a flag per output) gives pre-activations instead."""
        if logits is True:
            logits = [True] * len(self.outputs)
        strip = {id(t) for t, flag in zip(self.outputs, logits or ()) if flag}
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(tensors) != len(self.inputs):
            raise ValueError(f"model {self.name!r} expects {len(self.inputs)} inputs, got {len(tensors)}.")
        values = {id(sym): t for sym, t in zip(self.inputs, tensors)}
        masks = {}  # id(symbolic tensor) -> mask of its value, where there is one
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            arg = args if node.list_input else args[0]
            arg_masks = [masks.get(id(t)) for t in node.inputs]
            mask = arg_masks if node.list_input else arg_masks[0]
            kwargs = node.resolved_kwargs(values) if node.kwargs else {}
            if "mask" in kwargs:  # a mask given in the call replaces the one carried along
                mask = _mask_array(kwargs.pop("mask"))
            layer = node.layer
            out_mask = None
            if strip and id(node.outputs[0]) in strip and layer.output_activation() is not None:
                out = layer.pre_activation(arg, training=training)
                out_mask = mask if not node.list_input else None
            else:
                out, out_mask = call_with_mask(layer, arg, mask, training, **kwargs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            out_masks = out_mask if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
            for sym, value, value_mask in zip(node.outputs, outs, out_masks):
                values[id(sym)] = value
                if value_mask is not None:
                    masks[id(sym)] = value_mask
        self._output_masks = [masks.get(id(t)) for t in self.outputs]
        results = [values[id(t)] for t in self.outputs]
        return results if isinstance(self._nested_outputs, (list, tuple)) else results[0]

    def forward_logits(self, inputs, training=False, outputs=None):
        return self.call(inputs, training=training, logits=True if outputs is None else list(outputs))

    def output_layers(self):
        return [t.layer for t in self.outputs]

    def build(self, input_shape):
        self.built = True

    @property
    def input_shape(self):
        return self.input_shape_built

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if isinstance(self._nested_outputs, (list, tuple)) else shapes[0]

    def get_config(self):
        from .saving import serialize_layer  # noqa: PLC0415

        node_index = {}
        for layer in self.layers:
            for k, node in enumerate(layer._inbound):
                node_index[id(node)] = k
        layers = []
        for layer in self.layers:
            entry = serialize_layer(layer)
            inbound = []
            for node in layer._inbound:
                if any(node is n for n in self._nodes):
                    entry_node = {"args": [_ref(t, node_index) for t in node.inputs], "list_input": node.list_input}
                    if node.kwargs:
                        entry_node["kwargs"] = _kwargs_config(layer, node, node_index)
                    inbound.append(entry_node)
            entry["inbound_nodes"] = inbound
            layers.append(entry)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": [_ref(t, node_index) for t in self.inputs],
            "output_layers": [_ref(t, node_index) for t in self.outputs],
            "multi_output": isinstance(self._nested_outputs, (list, tuple)),
            "multi_input": isinstance(self._nested_inputs, (list, tuple)),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .saving import deserialize_layer  # noqa: PLC0415

        tensors = {}  # (layer name, node index, tensor index) -> KerasTensor
        pending = []
        for entry in config["layers"]:
            layer = deserialize_layer(entry, custom_objects)
            if isinstance(layer, InputLayer):
                tensors[(layer.name, 0, 0)] = layer.output
            else:
                pending.append((layer, entry.get("inbound_nodes", [])))
        # call each layer once its inputs exist (config order is already topological)
        progress = True
        while pending and progress:
            progress = False
            for item in list(pending):
                layer, inbound = item
                while len(layer._inbound) < len(inbound):
                    node_config = inbound[len(layer._inbound)]
                    keys = [tuple(ref) for ref in node_config["args"]]
                    kwargs = node_config.get("kwargs") or {}
                    if not all(k in tensors for k in keys + _kwargs_refs(kwargs)):
                        break
                    args = [tensors[k] for k in keys]
                    out = layer(args if node_config.get("list_input") else args[0],
                                **{key: _kwarg_from_config(value, tensors) for key, value in kwargs.items()})
                    outs = out if isinstance(out, list) else [out]
                    for j, t in enumerate(outs):
                        tensors[(layer.name, len(layer._inbound) - 1, j)] = t
                    progress = True
                if len(layer._inbound) >= len(inbound):
                    pending.remove(item)
        if pending:
            raise ValueError(f"model config is inconsistent: layers {[p[0].name for p in pending]} "
                             "refer to inputs that never appear.")
        try:
            inputs = [tensors[tuple(ref)] for ref in config["input_layers"]]
            outputs = [tensors[tuple(ref)] for ref in config["output_layers"]]
        except KeyError as err:
            raise ValueError(f"model config refers to an unknown tensor {err}.") from None
        return cls(inputs if config.get("multi_input") else inputs[0],
                   outputs if config.get("multi_output") else outputs[0],
                   name=config.get("name"), trainable=config.get("trainable", True))


def _ref(tensor, node_index):
    if tensor.node is None:
        return [tensor.layer.name, 0, 0]
    return [tensor.layer.name, node_index[id(tensor.node)], tensor.node.outputs.index(tensor)]


# A KerasTensor among a call's keyword arguments, in a model config (Keras' own marker).
_TENSOR_MARK = "__keras_tensor__"
_PLAIN = (type(None), bool, int, float, str)


def _mask_array(mask):
    """A mask given in a call as the boolean array models carry (a Tensor's data; lists per input)."""
    if isinstance(mask, (list, tuple)):
        return [_mask_array(m) for m in mask]
    if mask is None:
        return None
    return (mask.data if isinstance(mask, Tensor) else backend.namespace(mask).asarray(mask)).astype(bool)


def _kwargs_config(layer, node, node_index):
    """A node's keyword arguments as JSON: plain values as they are, tensors as references to them."""

    def encode(value, key):
        if isinstance(value, KerasTensor):
            return {"class_name": _TENSOR_MARK, "config": {"keras_history": _ref(value, node_index)}}
        if isinstance(value, (list, tuple)):
            return [encode(v, key) for v in value]
        if isinstance(value, _PLAIN):
            return value
        raise TypeError(f"cannot save the call of layer {layer.name!r}: its argument {key}={value!r:.80} is neither "
                        "a tensor of the graph nor a plain JSON value (number, string, bool, None or a list).")

    return {key: encode(value, key) for key, value in node.kwargs.items()}


def _is_tensor_config(value):
    return isinstance(value, dict) and value.get("class_name") == _TENSOR_MARK


def _kwargs_refs(kwargs):
    """The tensor references among a node's stored keyword arguments."""
    refs = []
    stack = list(kwargs.values())
    while stack:
        value = stack.pop()
        if _is_tensor_config(value):
            refs.append(tuple(value["config"]["keras_history"]))
        elif isinstance(value, list):
            stack.extend(value)
    return refs


def _kwarg_from_config(value, tensors):
    if _is_tensor_config(value):
        return tensors[tuple(value["config"]["keras_history"])]
    if isinstance(value, list):
        return [_kwarg_from_config(v, tensors) for v in value]
    return value
