"""Model files: a zip holding ``config.json`` and one ``.npy`` per array. Never pickle, never eval.

Layout of a ``.deepgrad`` file::

    config.json        format version, model class and config, compile settings,
                       the weight table (name, shape, dtype, member), optimizer config/state,
                       ``model.metadata`` (a JSON object; absent in older files)
    weights/<i>.npy    model weights, written with allow_pickle=False
    optimizer/<i>.npy  optimizer state arrays (moments, accumulators)

Writes go to a temporary file in the target folder and are renamed over the target
in one step, so a crash mid-save leaves the previous file intact. Loading reads
members by exact name (nothing is extracted to disk), checks every declared size,
shape and dtype against the config before reading data, and only builds layers
whose class names it knows.
"""

from __future__ import annotations

import json

from .. import backend
from ..fileio import (  # noqa: F401 - FORMAT, FORMAT_VERSION and ModelFileError are part of this module's API
    FORMAT,
    FORMAT_VERSION,
    Archive,
    ModelFileError,
    flatten_state,
    restore_state,
    write_archive,
)


# --------------------------------------------------------------------------- layer (de)serialization


def serialize_layer(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``: a layer as JSON-able data."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_classes():
    from .. import layers as layers_module  # noqa: PLC0415
    from ..layers.base import Layer  # noqa: PLC0415
    from .functional import Functional  # noqa: PLC0415
    from .sequential import Sequential  # noqa: PLC0415

    classes = {name: obj for name, obj in vars(layers_module).items()
               if isinstance(obj, type) and issubclass(obj, Layer)}
    classes.update({"Sequential": Sequential, "Functional": Functional, "Model": Functional})
    return classes


def deserialize_layer(entry, custom_objects=None):
    """Rebuild a layer (or nested model) from ``{"class_name": ..., "config": ...}``."""
    if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config"), dict):
        raise ModelFileError(f"a layer entry must be {{'class_name': ..., 'config': {{...}}}}, got {entry!r:.200}.")
    classes = _layer_classes()
    custom = dict(custom_objects or {})
    name = entry["class_name"]
    cls = custom.get(name) or classes.get(name)
    if cls is None:
        raise ModelFileError(
            f"unknown layer class {name!r}. Known layers: {sorted(classes)}. Pass custom classes with "
            "load_model(path, custom_objects={'Name': cls})."
        )
    config = dict(entry["config"])
    if name == "Lambda":
        function = custom.get(config.get("function"))
        if function is None:
            raise ModelFileError(
                f"Lambda layer {config.get('name')!r} wraps function {config.get('function')!r}; deepgrad never "
                "stores code, so pass it: load_model(path, custom_objects={'%s': function})." % config.get("function")
            )
        config["function"] = function
    if "batch_input_shape" in config:
        config["batch_input_shape"] = tuple(config["batch_input_shape"])
    if hasattr(cls, "from_config"):
        try:
            if name in ("Sequential", "Functional", "Model"):
                return cls.from_config(config, custom_objects=custom)
            return cls.from_config(config)
        except (TypeError, ValueError, KeyError) as err:
            raise ModelFileError(f"cannot rebuild layer {name!r} from its config: {err}") from None
    raise ModelFileError(f"class {name!r} has no from_config().")


def model_to_config(model) -> dict:
    """The architecture of ``model`` as JSON-able data (subclassed models need get_config())."""
    from .functional import Functional  # noqa: PLC0415
    from .sequential import Sequential  # noqa: PLC0415

    if not isinstance(model, (Sequential, Functional)) and type(model).get_config is _base_get_config():
        raise NotImplementedError(
            f"{type(model).__name__} is a subclassed model without get_config(), so its architecture "
            "cannot be saved (deepgrad never stores code). Use model.save_weights(path), or implement "
            "get_config()/from_config() and pass the class in custom_objects when loading."
        )
    return {"class_name": type(model).__name__, "config": model.get_config()}


def _base_get_config():
    from .model import Model  # noqa: PLC0415

    return Model.get_config


def serialize_compile(model) -> dict:
    """The loss, metrics and loss weights given to ``compile``, as JSON-able data."""
    from ..layers.base import _serialize  # noqa: PLC0415

    def plain(spec):
        if spec is None or isinstance(spec, (str, int, float, bool)):
            return spec
        if isinstance(spec, dict):
            return {k: plain(v) for k, v in spec.items()}
        if isinstance(spec, (list, tuple)):
            return [plain(v) for v in spec]
        return _serialize(spec)

    return {"loss": plain(model._loss_spec), "metrics": plain(model._metric_spec),
            "loss_weights": plain(model._loss_weights)}


# --------------------------------------------------------------------------- writing


def _weights_table(model, arrays):
    table = []
    for i, weight in enumerate(model.weights):
        member = f"weights/{i}.npy"
        arrays[member] = weight.data
        table.append({"name": weight.name, "shape": list(weight.shape), "dtype": str(weight.dtype),
                      "member": member})
    return table


def save_model(model, filepath, overwrite=True):
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``filepath`` atomically."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet; build it (fit, call or input_shape) before saving.")
    arrays = {}
    config = {
        "model": model_to_config(model),
        "build_input_shape": _jsonable_shape(model.input_shape_built),
        "weights": _weights_table(model, arrays),
        "compile_config": model.get_compile_config(),
        "optimizer": None,
        "metadata": _checked_metadata(model),
    }
    if model.optimizer is not None:
        from .. import optimizers  # noqa: PLC0415

        state = flatten_state(model.optimizer.get_state(), arrays, "optimizer")
        config["optimizer"] = {"config": optimizers.serialize(model.optimizer), "state": state}
    write_archive(filepath, config, arrays, overwrite)


def _checked_metadata(model) -> dict:
    """``model.metadata`` (a dict of JSON values), checked before anything is written."""
    metadata = getattr(model, "metadata", None) or {}
    if not isinstance(metadata, dict):
        raise TypeError(f"model.metadata must be a dict of JSON values, got {type(metadata).__name__}.")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as err:
        raise TypeError(f"model.metadata must hold only JSON values (str, number, bool, None, list, dict): {err}. "
                        "Convert arrays with .tolist().") from None
    return metadata


def save_weights(model, filepath, overwrite=True):
    """Write only the weights (and their table) to ``filepath`` atomically."""
    arrays = {}
    # the input shape lets load_weights build a model that has not seen data yet
    config = {"model": None,
              "build_input_shape": _jsonable_shape(model.input_shape_built) if model.built else None,
              "weights": _weights_table(model, arrays)}
    write_archive(filepath, config, arrays, overwrite)


def _jsonable_shape(shape):
    if shape is None:
        return None
    if isinstance(shape, list):
        return [list(s) for s in shape]
    return list(shape)


# --------------------------------------------------------------------------- reading


def _check_weight_table(archive, table):
    if not isinstance(table, list):
        raise ModelFileError(f"{archive.path}: the weight table is missing or malformed.")
    for entry in table:
        if not isinstance(entry, dict) or not {"shape", "dtype", "member"} <= set(entry):
            raise ModelFileError(f"{archive.path}: malformed weight entry {entry!r:.200}.")
        if not isinstance(entry["shape"], list) or not all(isinstance(s, int) and s >= 0 for s in entry["shape"]):
            raise ModelFileError(f"{archive.path}: weight {entry.get('name')!r} has an invalid shape {entry['shape']!r}.")


def _assign_weights(model, archive, table, skip_mismatch=False):
    _check_weight_table(archive, table)
    weights = model.weights
    if len(weights) != len(table):
        if skip_mismatch:
            return
        raise ModelFileError(
            f"{archive.path} holds {len(table)} weight arrays but model {model.name!r} has {len(weights)}."
        )
    arrays = []
    for weight, entry in zip(weights, table):
        if tuple(entry["shape"]) != tuple(weight.shape):
            if skip_mismatch:
                arrays.append(None)
                continue
            raise ModelFileError(
                f"{archive.path}: weight {entry.get('name')!r} has shape {tuple(entry['shape'])} in the file but "
                f"{tuple(weight.shape)} in the model."
            )
        arrays.append(archive.array(entry["member"], entry["shape"], entry["dtype"]))
    # read everything first, then assign: a bad file leaves the model untouched
    for weight, array in zip(weights, arrays):
        if array is not None:
            weight.data[...] = backend.to_device(array.astype(weight.data.dtype, copy=False), weight.device)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002 - Keras name
    """Load a model saved with ``model.save``: architecture, weights, compile settings, optimizer state.

    ``custom_objects`` maps names to user classes/functions (custom layers, Lambda
    functions, losses). Every name, shape and dtype is validated before anything is
    built; a bad file raises :class:`ModelFileError` and executes nothing.
    """
    from .. import optimizers  # noqa: PLC0415

    archive = Archive(filepath)
    try:
        config = archive.config
        model_entry = config.get("model")
        if model_entry is None:
            raise ModelFileError(f"{archive.path} holds only weights; build the model and call load_weights().")
        table = config.get("weights")
        _check_weight_table(archive, table)
        model = deserialize_layer(model_entry, custom_objects)
        if not model.built and config.get("build_input_shape") is not None:
            shape = config["build_input_shape"]
            model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
        _assign_weights(model, archive, table)
        metadata = config.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ModelFileError(f"{archive.path}: the model metadata is not a JSON object.")
        model.metadata = metadata
        compile_config = config.get("compile_config")
        if compile and compile_config is not None:
            optimizer = "rmsprop"
            if config.get("optimizer"):
                optimizer = optimizers.deserialize(config["optimizer"]["config"])
            custom = dict(custom_objects or {})
            loss = _resolve_custom(compile_config.get("loss"), custom)
            metrics = _resolve_custom(compile_config.get("metrics"), custom)
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                          loss_weights=compile_config.get("loss_weights"))
            saved_state = (config.get("optimizer") or {}).get("state")
            if isinstance(saved_state, dict) and saved_state.get("shapes"):  # the optimizer had stepped
                model._parameter_buffer()
                state = restore_state(config["optimizer"]["state"], archive)
                model.optimizer.set_state(state, model.trainable_weights)
        return model
    finally:
        archive.close()


def _resolve_custom(spec, custom):
    if isinstance(spec, str) and spec in custom:
        return custom[spec]
    if isinstance(spec, list):
        return [_resolve_custom(s, custom) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _resolve_custom(v, custom) for k, v in spec.items()}
    return spec


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights saved by ``save_weights`` or ``save`` into ``model`` (validated first)."""
    archive = Archive(filepath)
    try:
        if not model.built:
            shape = archive.config.get("build_input_shape")
            if shape is None:
                raise ValueError(f"model {model.name!r} is not built; build it before loading weights.")
            model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
        _assign_weights(model, archive, archive.config.get("weights"), skip_mismatch=skip_mismatch)
    finally:
        archive.close()
