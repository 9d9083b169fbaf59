"""Keras 3 model files: the ``.keras`` zip both ways, and Keras ``.h5`` weight files for reading.

A ``.keras`` file is a zip holding::

    config.json       the model as Keras serializes it: nested
                      {"module", "class_name", "config", "registered_name", ...} records;
                      a functional model's layers carry "name" and "inbound_nodes"
                      (calls whose arguments are {"class_name": "__keras_tensor__", ...} records)
    metadata.json     {"keras_version": ..., "date_saved": ...}
    model.weights.h5  HDF5: one group per saveable object, its variables in ``vars/0``,
                      ``vars/1``, ... (Keras' own order: trainable first)

The HDF5 groups follow Keras' ``saving_lib``: a model's layers are the group ``layers``, in
which each layer is named after its class in snake case, numbered per class in the order of
``model.layers`` (``dense``, ``dense_1``, ...; a functional model orders its layers by depth in
the graph, as Keras does); a recurrent layer keeps its weights in ``cell``, a
``Bidirectional`` in ``forward_layer``/``backward_layer``, ``MultiHeadAttention`` in
``query_dense``, ``key_dense``, ``value_dense`` and ``output_dense``.

Reading never runs code from a file (Keras' ``safe_mode``): a ``Lambda`` layer's function and
any class Keras does not ship must be passed in ``custom_objects``. Keras arguments that
deepgrad's layers do not take are dropped when they hold Keras' neutral value (``None``,
``False``, a default) and refused otherwise, naming the layer and the argument. The
compile settings (optimizer, loss, metrics) are read and written; the optimizer's slot
variables (moments) are not, so a loaded model resumes training with fresh optimizer state.

The legacy Keras 2 ``.h5`` layout (``layer_names``/``weight_names`` attributes) and Keras 3
``.weights.h5`` files are read by ``load_weights``; nothing is written in the legacy layout.
"""

from __future__ import annotations

import datetime
import inspect
import io
import json
import posixpath
import zipfile

import numpy as np

from .. import backend
from ..fileio import Archive, ModelFileError, atomic_write, weight_allowance
from ..layers.attention import MultiHeadAttention
from ..layers.base import Layer, layer_classes, snake_case
from ..layers.recurrent import _RNN, Bidirectional, TimeDistributed
from .model import Model
from .saving import register_format

#: the Keras version whose file layout this module writes (recorded in metadata.json)
KERAS_VERSION = "3.15.1"
WEIGHTS_MEMBER = "model.weights.h5"
_TENSOR = "__keras_tensor__"
# Keras arguments that deepgrad's classes may not take, with the value (other than None and False) that
# makes them inert: a file holding it loads, one holding another value is refused
_NEUTRAL = {"renorm_momentum": 0.99, "ema_momentum": 0.99}
# one-dimensional padding and cropping: deepgrad writes [[before, after]], Keras takes (before, after)
_PAIR_1D = {"ZeroPadding1D": "padding", "Cropping1D": "cropping"}
_MODULES = {"_initializer": "keras.initializers", "_regularizer": "keras.regularizers",
            "_constraint": "keras.constraints"}


def _h5py():
    try:
        import h5py  # noqa: PLC0415
    except ImportError:
        raise ImportError("Keras model files (.keras, .h5) need h5py: pip install 'deepgrad[keras]' (or pip "
                          "install h5py), or save in deepgrad's own format (model.save('m.deepgrad')).") from None
    return h5py


def is_keras_file(filepath) -> bool:
    """Whether ``filepath`` is a zip holding Keras' ``model.weights.h5`` (a ``.keras`` file, whatever its name)."""
    try:
        with zipfile.ZipFile(filepath) as archive:
            return WEIGHTS_MEMBER in archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError):  # NotImplementedError: a damaged header
        return False


# --------------------------------------------------------------------------- the layer order and weight groups


def _unique(name, used):
    """Keras' per-container names: ``dense``, ``dense_1``, ``dense_2`` ..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _producer(tensor):
    """The call that made a symbolic tensor: its Node, or its InputLayer for a model input."""
    return tensor.node if tensor.node is not None else tensor.layer


def _node_layer(node):
    return node if isinstance(node, Layer) else node.layer


def _node_parents(node):
    return [] if isinstance(node, Layer) else node.parents()


def _traversal(model):
    """Keras' depth-first walk from the outputs: nodes inputs-first, and each layer's first-visit index."""
    finished, order, index = set(), [], {}
    for output in model.outputs:
        stack = [(_producer(output), False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                finished.add(id(node))
                order.append(node)
                continue
            if id(node) in finished:
                continue
            index.setdefault(id(_node_layer(node)), len(index))
            stack.append((node, True))
            stack.extend((_producer(t), False) for t in reversed(_node_parents(node)))
    return order, index


def keras_layer_order(model) -> list:
    """The layers of a functional ``model`` in the order Keras' ``model.layers`` gives them.

    Keras sorts a graph's layers by depth (distance from the outputs, deepest first) and,
    at equal depth, by their order in a depth-first walk from the outputs; the weight
    groups of layers of one class are numbered in this order, so a file is only
    readable by Keras if its groups follow it.
    """
    order, index = _traversal(model)
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        layer = _node_layer(node)
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(layer), (0, None))[0])
        layer_depth[id(layer)] = (depth, layer)
        node_depth[id(node)] = depth
        for t in _node_parents(node):
            parent = _producer(t)
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in model.inputs:  # an input no output depends on still counts, at depth 0
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)] = (0, t.layer)
            index[id(t.layer)] = -1
    ranked = sorted(layer_depth.items(), key=lambda item: (-item[1][0], index[item[0]]))
    return [layer for _, (_, layer) in ranked]


def _model_layers(model, orders):
    if not hasattr(model, "outputs") or not hasattr(model, "_nodes"):  # Sequential
        return list(model.layers)
    order = (orders or {}).get(id(model))
    return order if order is not None else keras_layer_order(model)


def weight_groups(model, orders=None) -> list:
    """``(group path, object name, [weights])`` for every object Keras saves, in Keras' layout.

    ``orders`` maps ``id(functional model)`` to its layers in the order of a file being read
    (Keras' own order when it wrote the file); otherwise the order is computed.
    """
    groups = []
    _groups(model, "", groups, orders)
    return groups


def _groups(layer, path, groups, orders):
    def child(name):
        return f"{path}/{name}" if path else name

    if isinstance(layer, Model):
        groups.append((path, layer.name, []))
        used = {}
        for sub in _model_layers(layer, orders):
            _groups(sub, child("layers/" + _unique(snake_case(type(sub).__name__), used)), groups, orders)
    elif isinstance(layer, Bidirectional):
        groups.append((path, layer.name, []))
        _groups(layer.forward_layer, child("forward_layer"), groups, orders)
        _groups(layer.backward_layer, child("backward_layer"), groups, orders)
    elif isinstance(layer, TimeDistributed):
        groups.append((path, layer.name, []))
        _groups(layer.layer, child("layer"), groups, orders)
    elif isinstance(layer, _RNN):
        groups.append((path, layer.name, []))
        groups.append((child("cell"), snake_case(type(layer).__name__) + "_cell", list(layer.weights)))
    elif isinstance(layer, MultiHeadAttention):
        groups.append((path, layer.name, []))
        for part, name in (("query", "query"), ("key", "key"), ("value", "value"), ("output", "attention_output")):
            weights = [getattr(layer, f"{part}_kernel"), getattr(layer, f"{part}_bias")]
            groups.append((child(f"{part}_dense"), name, [w for w in weights if w is not None]))
    else:
        groups.append((path, layer.name, list(layer.weights)))


# --------------------------------------------------------------------------- deepgrad -> Keras config


def _keras_object(value, key=""):
    """A deepgrad config value in Keras' form: serialized objects get their module and registered name."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] in layer_classes():
            return _keras_layer_entry(value)
        module = next((m for suffix, m in _MODULES.items() if key.endswith(suffix)), "keras")
        return {"module": module, "class_name": value["class_name"], "config": _keras_object(value["config"]),
                "registered_name": None}
    if isinstance(value, dict):
        return {k: _keras_object(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_keras_object(v) for v in value]
    return value


def _keras_layer_entry(entry):
    """``{"class_name", "config"}`` of a deepgrad layer as Keras' record."""
    config = {k: _keras_object(v, k) for k, v in entry["config"].items()}
    pair = _PAIR_1D.get(entry["class_name"])
    if pair in config and len(config[pair]) == 1:
        config[pair] = list(config[pair][0])
    return {"module": "keras.layers", "class_name": entry["class_name"], "config": config, "registered_name": None}


def _keras_tensor(tensor, ref):
    return {"class_name": _TENSOR, "config": {"shape": list(tensor.shape), "dtype": str(tensor.dtype),
                                              "keras_history": list(ref)}}


def _keras_functional(model):
    from .functional import _ref  # noqa: PLC0415

    node_index = {id(n): k for layer in model.layers for k, n in enumerate(layer._inbound)}
    in_graph = {id(n) for n in model._nodes}
    layers = []
    for layer in keras_layer_order(model):
        entry = _keras_entry(layer)
        entry["name"] = layer.name
        nodes = []
        for node in layer._inbound:
            if id(node) not in in_graph:
                continue
            tensors = [_keras_tensor(t, _ref(t, node_index)) for t in node.inputs]
            if isinstance(layer, MultiHeadAttention) and node.list_input:
                args = tensors  # Keras' MultiHeadAttention takes query, value, key as arguments
            else:
                args = [tensors] if node.list_input else tensors[:1]
            kwargs = _keras_object(_kwargs_entry(layer, node, node_index))
            nodes.append({"args": args, "kwargs": kwargs})
        entry["inbound_nodes"] = nodes
        layers.append(entry)

    def refs(tensors, nested):
        items = [_ref(t, node_index) for t in tensors]
        return items if isinstance(nested, (list, tuple)) else items[0]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": refs(model.inputs, model._nested_inputs),
            "output_layers": refs(model.outputs, model._nested_outputs)}


def _kwargs_entry(layer, node, node_index):
    from .functional import _kwargs_config, _ref  # noqa: PLC0415

    if not node.kwargs:
        return {}
    encoded = _kwargs_config(layer, node, node_index)
    tensors = {tuple(_ref(t, node_index)): t for t in node.parents()}
    stack = list(encoded.values())
    while stack:  # give each tensor reference the shape and dtype Keras records with it
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict) and value.get("class_name") == _TENSOR:
            tensor = tensors[tuple(value["config"]["keras_history"])]
            value["config"].update(shape=list(tensor.shape), dtype=str(tensor.dtype))
    return encoded


def _keras_entry(layer):
    """Keras' record of ``layer`` (a model included)."""
    if isinstance(layer, Model) and hasattr(layer, "_nodes"):
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": _keras_functional(layer), "registered_name": "Functional"}
    if isinstance(layer, Model):
        config = layer.get_config()
        entries = [e for e in config["layers"] if e["class_name"] == "InputLayer"][:1]
        config["layers"] = [_keras_layer_entry(e) for e in entries] + [_keras_entry(sub) for sub in layer.layers]
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
    from .saving import serialize_layer  # noqa: PLC0415

    return _keras_layer_entry(serialize_layer(layer))


def _keras_compile_config(model):
    """``compile_config`` as Keras writes it, or None for a model that was never compiled."""
    compiled = model.get_compile_config()
    if compiled is None:
        return None
    from .. import optimizers  # noqa: PLC0415

    optimizer = None
    if model.optimizer is not None:
        serialized = optimizers.serialize(model.optimizer)
        optimizer = {"module": "keras.optimizers", "class_name": serialized["class_name"],
                     "config": serialized["config"], "registered_name": None}
    return {"optimizer": optimizer, "loss": _keras_compiled(compiled.get("loss"), "keras.losses"),
            "loss_weights": compiled.get("loss_weights"),
            "metrics": _keras_compiled(compiled.get("metrics"), "keras.metrics"), "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _keras_compiled(spec, module):
    if isinstance(spec, dict) and "class_name" in spec:
        return {"module": module, "class_name": spec["class_name"], "config": spec.get("config", {}),
                "registered_name": None}
    if isinstance(spec, dict):
        return {k: _keras_compiled(v, module) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_keras_compiled(v, module) for v in spec]
    return spec


def keras_config(model) -> dict:
    """``config.json`` of a ``.keras`` file for ``model``: Keras' record of the model and its compile settings."""
    entry = _keras_entry(model)
    shape = model.input_shape_built
    entry["build_config"] = {"input_shape": None if shape is None or isinstance(shape, list) else list(shape)}
    compiled = _keras_compile_config(model)
    if compiled is not None:
        entry["compile_config"] = compiled
    return entry


def _weights_h5(model) -> bytes:
    """``model.weights.h5``: every object's variables under ``<path>/vars/<i>``, in Keras' layout."""
    h5py = _h5py()
    stream = io.BytesIO()
    with h5py.File(stream, "w") as h5:
        for path, name, weights in weight_groups(model):
            group = h5.create_group(f"{path}/vars" if path else "vars")
            group.attrs["name"] = name
            for i, weight in enumerate(weights):
                group.create_dataset(str(i), data=backend.to_numpy(weight.data))
    return stream.getvalue()


def save_keras_model(model, filepath, overwrite=True):
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically): Keras' ``load_model`` reads it."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet; build it (fit, call or input_shape) before saving.")
    config = json.dumps(keras_config(model))
    weights = _weights_h5(model)
    metadata = json.dumps({"keras_version": KERAS_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    with atomic_write(filepath, "wb", overwrite=overwrite) as stream:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr(WEIGHTS_MEMBER, weights)


def save_keras_weights(model, filepath, overwrite=True):
    """Write the weights alone as Keras 3 ``.weights.h5`` (Keras' ``model.load_weights`` reads it)."""
    weights = _weights_h5(model)
    with atomic_write(filepath, "wb", overwrite=overwrite) as stream:
        stream.write(weights)


# --------------------------------------------------------------------------- Keras -> deepgrad config


class _Reader:
    """Turns Keras records into deepgrad's ``{"class_name", "config"}`` entries, refusing what cannot be read safely."""

    def __init__(self, custom_objects, path):
        self.custom = dict(custom_objects or {})
        self.path = path
        self.classes = layer_classes()
        self.orders = {}  # functional model name -> its layer names in the file's order

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}")

    def value(self, value):
        """A Keras config value as deepgrad takes it: dtype policies as names, objects without Keras' extras."""
        if isinstance(value, dict) and value.get("class_name") == _TENSOR:
            return {"class_name": _TENSOR, "config": {"keras_history": value.get("config", {}).get("keras_history")}}
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            name = value["class_name"]
            if name == "DTypePolicy" or name == "FloatDTypePolicy":
                return (value["config"] or {}).get("name")
            if value.get("module") == "keras.layers" or name in self.classes or name in self.custom:
                return self.layer(value)
            settings = value["config"]
            if isinstance(settings, dict):
                settings = {k: self.value(v) for k, v in settings.items() if v is not None}
            if name == "function":
                return settings
            return {"class_name": self.registered(value), "config": settings}
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def registered(self, record):
        """The name a record's class is found by: Keras' registered name when the user passed that one."""
        registered = record.get("registered_name")
        if isinstance(registered, str) and registered in self.custom:
            return registered
        return record["class_name"]

    def layer(self, record):
        """A Keras layer or model record as deepgrad's entry (nested models included)."""
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            self.fail(f"a layer record must be {{'class_name': ..., 'config': {{...}}}}, got {record!r:.200}.")
        name = self.registered(record)
        config = record["config"]
        if name == "Sequential":
            entry = {"class_name": "Sequential", "config": {
                "name": config.get("name"), "trainable": config.get("trainable", True),
                "layers": [self.layer(r) for r in config.get("layers", [])]}}
            if config.get("build_input_shape") is not None:
                entry["config"]["build_input_shape"] = config["build_input_shape"]
            return entry
        if name in ("Functional", "Model") and "layers" in config:
            return self.functional(config)
        cls = self.custom.get(name) or self.classes.get(name)
        if cls is None:
            module = record.get("module") or "keras"
            self.fail(f"layer {config.get('name')!r} is of type {name!r} ({module}), which deepgrad does not have. "
                      f"Pass your own class: load_model(path, custom_objects={{{name!r}: cls}}).")
        settings = {k: self.value(v) for k, v in config.items()}
        if name == "Lambda":
            settings["function"] = self.lambda_function(settings)
        if name not in self.custom:
            settings = self.accepted(cls, settings, f"layer {config.get('name')!r} ({name})")
        return {"class_name": name, "config": settings}

    def lambda_function(self, settings):
        """The name of a Lambda layer's function in ``custom_objects``: Keras' bytecode is never run."""
        function = settings.get("function")
        layer = settings.get("name")
        if isinstance(function, str) and function in self.custom:
            return function
        if layer in self.custom:
            return layer
        what = f"function {function!r}" if isinstance(function, str) else "a Python lambda stored as bytecode"
        key = function if isinstance(function, str) else layer
        self.fail(f"Lambda layer {layer!r} wraps {what}; deepgrad never runs code from a file (Keras' safe_mode). "
                  f"Pass the function: load_model(path, custom_objects={{{key!r}: function}}).")

    def accepted(self, cls, settings, what):
        """``settings`` less the Keras arguments ``cls`` does not take, each of which must be inert."""
        names = _init_arguments(cls)
        kept = {}
        for key, value in settings.items():
            if key in names:
                kept[key] = value
            elif value is not None and value is not False and value != _NEUTRAL.get(key, object()):
                self.fail(f"{what} has the Keras argument {key}={value!r:.80}, which deepgrad's "
                          f"{cls.__name__} does not support.")
        return kept

    def functional(self, config):
        layers = []
        for record in config.get("layers", []):
            entry = self.layer(record)
            entry["inbound_nodes"] = [self.node(n, record) for n in record.get("inbound_nodes", [])]
            layers.append(entry)
        name = config.get("name")
        self.orders[name] = [e["config"].get("name") for e in layers]
        inputs, outputs = config.get("input_layers"), config.get("output_layers")
        return {"class_name": "Functional", "config": {
            "name": name, "trainable": config.get("trainable", True), "layers": layers,
            "input_layers": _refs(inputs), "output_layers": _refs(outputs),
            "multi_input": not _is_ref(inputs), "multi_output": not _is_ref(outputs)}}

    def node(self, node, record):
        """One call of a layer: Keras' positional arguments as deepgrad's tensor list and ``list_input`` flag."""
        if not isinstance(node, dict):
            self.fail(f"layer {record.get('config', {}).get('name')!r} has a call in a format older than Keras 3.")
        args = node.get("args") or []
        list_input = len(args) != 1 or isinstance(args[0], list)
        tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        refs = []
        for tensor in tensors:
            if not (isinstance(tensor, dict) and tensor.get("class_name") == _TENSOR):
                self.fail(f"layer {record.get('config', {}).get('name')!r} is called on {tensor!r:.80}, "
                          "which is not a tensor of the graph.")
            refs.append(tensor["config"]["keras_history"])
        kwargs = {k: self.value(v) for k, v in (node.get("kwargs") or {}).items()
                  if k != "training" and not (k == "mask" and v is None)}
        entry = {"args": refs, "list_input": list_input}
        if kwargs:
            entry["kwargs"] = kwargs
        return entry


def _is_ref(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _refs(value):
    return [value] if _is_ref(value) else list(value or [])


def _init_arguments(cls) -> set:
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up to ``Layer.__init__``."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters
        names.update(n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if klass is Layer or not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            break
    names.discard("self")
    return names


# --------------------------------------------------------------------------- reading weights


def _dataset(h5py, group, key, where):
    """A dataset read only through a hard link, stored inside the file and numeric (no external or virtual data)."""
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ModelFileError(f"{where}/{key} is a link to elsewhere; refusing to follow it.")
    dataset = group[key]
    if not isinstance(dataset, h5py.Dataset) or dataset.is_virtual or dataset.external:
        raise ModelFileError(f"{where}/{key} is not an array stored in the file.")
    if dataset.dtype.kind not in "fiub":
        raise ModelFileError(f"{where}/{key} holds {dataset.dtype}, not numbers.")
    return dataset


def _group(h5py, h5, path):
    """The group at ``path`` reached through hard links only, or None."""
    node = h5
    for part in [p for p in path.split("/") if p]:
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink) or not isinstance(node[part], h5py.Group):
            raise ModelFileError(f"{path} in the weights file is not a plain group; refusing to follow it.")
        node = node[part]
    return node


def _read_arrays(h5py, h5, groups, where, skip_mismatch=False):
    """The arrays for each weight of ``groups`` from a Keras 3 weights file, shapes checked.

    With ``skip_mismatch`` an object whose stored variables do not fit is left out instead of refused.
    """
    pairs = []
    for group in groups:
        try:
            pairs.extend(_group_arrays(h5py, h5, group, where))
        except ModelFileError:
            if not skip_mismatch:
                raise
    return pairs


def _group_arrays(h5py, h5, group, where):
    path, name, weights = group
    pairs = []
    if weights:
        vars_path = posixpath.join(path, "vars") if path else "vars"
        stored = _group(h5py, h5, vars_path)
        if stored is None or len(stored) != len(weights):
            found = 0 if stored is None else len(stored)
            raise ModelFileError(f"{where}: layer {name!r} has {len(weights)} weights but the file holds {found} "
                                 f"under {vars_path!r}; the file was written for another architecture.")
        for i, weight in enumerate(weights):
            dataset = _dataset(h5py, stored, str(i), f"{where}: {vars_path}")
            if dataset is None or tuple(dataset.shape) != tuple(weight.shape):
                shape = None if dataset is None else tuple(dataset.shape)
                raise ModelFileError(f"{where}: weight {i} of layer {name!r} ({weight.name}) has shape "
                                     f"{tuple(weight.shape)} but {vars_path}/{i} in the file has {shape}.")
            pairs.append((weight, np.asarray(dataset[()])))
    return pairs


def _assign(pairs):
    # everything is read and checked first, so a bad file leaves the model untouched
    for weight, array in pairs:
        weight.data[...] = backend.to_device(array.astype(weight.data.dtype, copy=False), weight.device)


def _h5_value_count(h5py, h5) -> int:
    total = [0]

    def visit(_, item):
        if isinstance(item, h5py.Dataset):
            total[0] += int(item.size)

    h5.visititems(visit)
    return total[0]


class _KerasArchive(Archive):
    """A ``.keras`` zip with its members checked as deepgrad's own files are; config.json is Keras' record."""

    def _read_config(self):
        config = self.json_member("config.json")
        if not isinstance(config, dict):
            raise ModelFileError(f"{self.path}: config.json is not a Keras model record.")
        return config


def load_keras_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a Keras 3 ``.keras`` file as a deepgrad model (architecture, weights, compile settings).

    Nothing in the file is executed whatever ``safe_mode`` says: Lambda functions and
    classes deepgrad does not have come only from ``custom_objects``.
    """
    h5py = _h5py()
    archive = _KerasArchive(filepath)
    try:
        if WEIGHTS_MEMBER not in archive.infos:
            raise ModelFileError(f"{archive.path} holds no {WEIGHTS_MEMBER}; it is not a Keras 3 model file.")
        reader = _Reader(custom_objects, archive.path)
        entry = reader.layer(archive.config)
        with h5py.File(io.BytesIO(archive._read(WEIGHTS_MEMBER)), "r") as h5:
            return _rebuild(archive, reader, entry, h5, h5py, compile)
    finally:
        archive.close()


def _rebuild(archive, reader, entry, h5, h5py, compile):
    from .saving import deserialize_layer  # noqa: PLC0415

    with weight_allowance(2 * _h5_value_count(h5py, h5) + (1 << 20), archive.path):
        try:
            model = deserialize_layer(entry, reader.custom)
        except ModelFileError as err:
            raise ModelFileError(f"{archive.path}: {err}") from err.__cause__
        if not model.built:
            shape = (archive.config.get("build_config") or {}).get("input_shape")
            if shape is None:
                raise ModelFileError(f"{archive.path}: the model declares no input shape, so it cannot be built.")
            model.build(tuple(shape))
    orders = _file_orders(model, reader.orders)
    _assign(_read_arrays(h5py, h5, weight_groups(model, orders), archive.path))
    compile_config = archive.config.get("compile_config")
    if compile and compile_config:
        _compile(model, reader, compile_config, archive.path)
    return model


def load_keras_weights(model, filepath, skip_mismatch=False):
    """Load the weights of a ``.keras`` file into ``model`` (an architecture like the saved one)."""
    h5py = _h5py()
    archive = _KerasArchive(filepath)
    try:
        if not model.built:
            raise ValueError(f"model {model.name!r} is not built; build it before loading weights from {archive.path}.")
        with h5py.File(io.BytesIO(archive._read(WEIGHTS_MEMBER)), "r") as h5:
            pairs = _read_arrays(h5py, h5, weight_groups(model), archive.path, skip_mismatch)
    finally:
        archive.close()
    _assign(pairs)


def _file_orders(model, names):
    """``id(functional model)`` -> its layers in the order the file lists them (Keras' own order)."""
    orders = {}
    stack = [model]
    while stack:
        current = stack.pop()
        if isinstance(current, Model) and current.name in names:
            by_name = {layer.name: layer for layer in current.layers}
            orders[id(current)] = [by_name[n] for n in names[current.name] if n in by_name]
        stack.extend(sub for sub in getattr(current, "layers", []) if isinstance(sub, Model))
    return orders


def _compile(model, reader, compile_config, where):
    from .. import optimizers  # noqa: PLC0415
    from .saving import _check_compiled, _resolve_custom  # noqa: PLC0415

    optimizer = "rmsprop"
    record = compile_config.get("optimizer")
    try:
        if isinstance(record, dict):
            name = reader.registered(record)
            cls = optimizers.get(name).__class__ if name not in reader.custom else reader.custom[name]
            settings = {k: reader.value(v) for k, v in (record.get("config") or {}).items()}
            optimizer = cls(**reader.accepted(cls, settings, f"optimizer {name!r}"))
        elif isinstance(record, str):
            optimizer = record
        loss = _resolve_custom(reader.value(compile_config.get("loss")), reader.custom)
        metrics = _resolve_custom(reader.value(compile_config.get("metrics")), reader.custom)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      loss_weights=compile_config.get("loss_weights"))
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(f"{where}: the saved compile settings cannot be used ({type(err).__name__}: {err}); "
                             "load with compile=False and compile the model yourself.") from err
    _check_compiled(model, _Where(where))


class _Where:
    def __init__(self, path):
        self.path = path


# --------------------------------------------------------------------------- .h5 weight files


def load_h5_weights(model, filepath, skip_mismatch=False):
    """Load Keras ``.h5`` weights into ``model``: the legacy Keras 2 layout or Keras 3's ``.weights.h5``.

    The legacy layout lists ``layer_names`` and, per layer, ``weight_names``; its layers
    with weights are matched to the model's, in order, as Keras does. A Keras 3 file is
    matched by its group paths. Shapes are checked before anything is assigned.
    """
    h5py = _h5py()
    path = str(filepath)
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ModelFileError(f"{path} is not a readable HDF5 file ({err}).") from None
    with h5:
        if not model.built:
            raise ValueError(f"model {model.name!r} is not built; build it before loading weights from {path}.")
        root = _group(h5py, h5, "model_weights") if "model_weights" in h5 else h5
        if "layer_names" in root.attrs:
            pairs = _legacy_arrays(h5py, root, model, path, skip_mismatch)
        else:
            pairs = _read_arrays(h5py, h5, weight_groups(model), path, skip_mismatch)
    _assign(pairs)


def _names(attribute):
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in np.asarray(attribute).ravel()]


def _legacy_arrays(h5py, root, model, where, skip_mismatch):
    stored = []
    for name in _names(root.attrs["layer_names"]):
        group = _group(h5py, root, name)
        weight_names = _names(group.attrs.get("weight_names", [])) if group is not None else []
        if weight_names:
            stored.append((name, group, weight_names))
    layers = [layer for layer in _flat_layers(model) if layer.weights]
    if len(stored) != len(layers) and not skip_mismatch:
        raise ModelFileError(f"{where} holds weights for {len(stored)} layers but model {model.name!r} has "
                             f"{len(layers)} layers with weights.")
    pairs = []
    for layer, (name, group, weight_names) in zip(layers, stored):
        if len(weight_names) != len(layer.weights):
            if skip_mismatch:
                continue
            raise ModelFileError(f"{where}: layer {name!r} in the file has {len(weight_names)} weights but "
                                 f"layer {layer.name!r} has {len(layer.weights)}.")
        arrays = [_dataset(h5py, group, n, f"{where}: {name}") for n in weight_names]
        if any(a is None or tuple(a.shape) != tuple(w.shape) for a, w in zip(arrays, layer.weights)):
            if skip_mismatch:
                continue
            raise ModelFileError(f"{where}: the weights of layer {name!r} in the file have shapes "
                                 f"{[None if a is None else tuple(a.shape) for a in arrays]} but layer "
                                 f"{layer.name!r} needs {[tuple(w.shape) for w in layer.weights]}.")
        pairs.extend((w, np.asarray(a[()])) for w, a in zip(layer.weights, arrays))
    return pairs


def _flat_layers(model):
    """Layers of a model with nested models opened, in Keras' ``model.layers`` order (Keras 2's weight order)."""
    layers = []
    for layer in _model_layers(model, None):
        layers.extend(_flat_layers(layer) if isinstance(layer, Model) else [layer])
    return layers


def is_h5_path(filepath) -> bool:
    """Whether ``filepath`` names an HDF5 file by its extension (``.h5``, ``.hdf5``, ``.weights.h5``)."""
    return str(filepath).lower().endswith((".h5", ".hdf5"))


register_format("keras", save_model=save_keras_model, load_model=load_keras_model, recognizes=is_keras_file,
                load_weights=load_keras_weights)
register_format("h5", save_weights=save_keras_weights, load_weights=load_h5_weights)

__all__ = ["keras_config", "keras_layer_order", "load_h5_weights", "load_keras_model", "save_keras_model",
           "save_keras_weights", "weight_groups"]
