"""Model files: a zip holding ``config.json`` and one ``.npy`` per array. Never pickle, never eval.

Layout of a ``.deepgrad`` file::

    config.json        format version, model class and config, compile settings,
                       the weight table (name, shape, dtype, member), optimizer config/state,
                       ``model.metadata`` (a JSON object; absent in older files)
    weights/<i>.npy    model weights, written with allow_pickle=False
    optimizer/<i>.npy  optimizer state arrays (moments, accumulators)

Writes go to a temporary file in the target folder and are renamed over the target
in one step, so a crash mid-save leaves the previous file intact. Loading reads
members by exact name (nothing is extracted to disk), checks the config against
:data:`MODEL_FILE` (types, ranges, counts), checks the weight table against the members'
real sizes, and only then builds layers whose class names it knows, never allocating
more weight values than the file holds. Every rejection is a :class:`ModelFileError`
naming the file.
"""

from __future__ import annotations

import json

from .. import backend
from ..configurable import custom_objects_with
from ..fileio import (  # noqa: F401 - FORMAT, FORMAT_VERSION and ModelFileError are part of this module's API
    ARRAY_REFERENCE,
    DIMENSION,
    DTYPE,
    FORMAT,
    FORMAT_VERSION,
    SHAPE,
    AnyOf,
    Anything,
    Archive,
    Bool,
    Int,
    ListOf,
    MapOf,
    ModelFileError,
    Nullable,
    Number,
    Record,
    Str,
    Tuple,
    check_schema,
    flatten_state,
    restore_state,
    weight_allowance,
    write_archive,
)

# --------------------------------------------------------------------------- the schema of a model file

MAX_LAYERS = 10_000  # in all, nested models included
MAX_WEIGHTS = 100_000
_MODEL_CLASSES = ("Sequential", "Functional", "Model")

BATCH_SHAPE = ListOf(Nullable(DIMENSION), max_length=32)
INPUT_SHAPES = Nullable(AnyOf(BATCH_SHAPE, ListOf(BATCH_SHAPE, min_length=1, max_length=MAX_LAYERS),
                              description="a batch shape or a list of them"))
# a functional graph's tensor: [layer name, node index, output index]
TENSOR_REFERENCE = Tuple(Str(max_length=1000), Int(0, MAX_LAYERS), Int(0, MAX_LAYERS))
LAYER_CONFIG = Record(optional={"name": Str(max_length=1000), "trainable": Bool(),
                                "batch_input_shape": BATCH_SHAPE})


_LAYER_RECORD = Record({"class_name": Str(max_length=200), "config": MapOf(Anything())},
                       {"inbound_nodes": ListOf(Record({"args": ListOf(TENSOR_REFERENCE, max_length=MAX_LAYERS)},
                                                       {"list_input": Bool(), "kwargs": MapOf(Anything())}),
                                                max_length=MAX_LAYERS)})


class LayerEntry:
    """``{"class_name": ..., "config": {...}}``; Sequential and Functional configs are checked in depth."""

    def check(self, value, path):
        _LAYER_RECORD.check(value, path)
        LAYER_CONFIG.check(value["config"], f"{path}.config")
        if value["class_name"] == "Sequential":
            SEQUENTIAL_CONFIG.check(value["config"], f"{path}.config")
        elif value["class_name"] in ("Functional", "Model"):
            FUNCTIONAL_CONFIG.check(value["config"], f"{path}.config")


LAYER_ENTRY = LayerEntry()
SEQUENTIAL_CONFIG = Record({"layers": ListOf(LAYER_ENTRY, max_length=MAX_LAYERS)},
                           {"build_input_shape": Nullable(BATCH_SHAPE)})
FUNCTIONAL_CONFIG = Record({"layers": ListOf(LAYER_ENTRY, max_length=MAX_LAYERS),
                            "input_layers": ListOf(TENSOR_REFERENCE, min_length=1, max_length=MAX_LAYERS),
                            "output_layers": ListOf(TENSOR_REFERENCE, min_length=1, max_length=MAX_LAYERS)},
                           {"multi_input": Bool(), "multi_output": Bool()})
WEIGHT_ENTRY = Record({"name": Str(max_length=1000), "shape": SHAPE, "dtype": DTYPE, "member": Str(max_length=1000)})
WEIGHT_TABLE = ListOf(WEIGHT_ENTRY, max_length=MAX_WEIGHTS)
COMPILE_CONFIG = Record(optional={
    "loss": Anything(), "metrics": Anything(),  # resolved (and so checked) by compiling at load
    "loss_weights": Nullable(AnyOf(Number(), ListOf(Nullable(Number())), MapOf(Nullable(Number())),
                                   description="a number, or a list or object of numbers")),
})
OPTIMIZER_STATE = Record(optional={
    "iterations": Int(0, 1 << 62), "scalars": MapOf(Number()), "slot_names": ListOf(Str(max_length=200)),
    "shapes": ListOf(SHAPE, max_length=MAX_WEIGHTS), "dtypes": ListOf(DTYPE, max_length=MAX_WEIGHTS),
    "arrays": MapOf(ARRAY_REFERENCE), "accumulated_calls": Int(0, 1 << 62),
})
OPTIMIZER = Record({"config": Record({"class_name": Str(max_length=200)}, {"config": MapOf(Anything())})},
                   {"state": Nullable(OPTIMIZER_STATE)})
#: what ``config.json`` of a model or weights file must look like before any of it is used
MODEL_FILE = Record({"weights": WEIGHT_TABLE}, {
    "model": Nullable(LAYER_ENTRY), "build_input_shape": INPUT_SHAPES, "compile_config": Nullable(COMPILE_CONFIG),
    "optimizer": Nullable(OPTIMIZER), "metadata": Nullable(MapOf(Anything())),
})


#: the part of ``config.json`` that ``load_weights`` uses
WEIGHTS_FILE = Record({"weights": WEIGHT_TABLE}, {"build_input_shape": INPUT_SHAPES})


def _count_layers(entry) -> int:
    """The number of layers ``entry`` declares, nested models included; counted before the schema is checked,
    so it takes any JSON (its depth is bounded on reading)."""
    config = entry.get("config") if isinstance(entry, dict) else None
    layers = config.get("layers") if isinstance(config, dict) else None
    if isinstance(layers, list):
        return 1 + sum(_count_layers(layer) for layer in layers)
    return 1


# --------------------------------------------------------------------------- layer (de)serialization


def serialize_layer(layer) -> dict:
    """``{"class_name": ..., "config": layer.get_config()}``: a layer as JSON-able data."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_classes():
    from ..layers.base import layer_classes  # noqa: PLC0415

    # the abstract base builds nothing and computes nothing, so a file naming it is corrupt
    return layer_classes()


def deserialize_layer(entry, custom_objects=None):
    """Rebuild a layer (or nested model) from ``{"class_name": ..., "config": ...}``."""
    if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config"), dict):
        raise ModelFileError(f"a layer entry must be {{'class_name': ..., 'config': {{...}}}}, got {entry!r:.200}.")
    classes = _layer_classes()
    custom = custom_objects_with(custom_objects)
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
            if name in _MODEL_CLASSES:
                return cls.from_config(config, custom_objects=custom)
            return cls.from_config(config)
        except ModelFileError:
            raise
        except Exception as err:
            raise ModelFileError(
                f"cannot rebuild layer {config.get('name', name)!r} ({name}) from its config: "
                f"{type(err).__name__}: {err}"
            ) from err
    raise ModelFileError(f"class {name!r} has no from_config().")


def model_to_config(model) -> dict:
    """The architecture of ``model`` as JSON-able data (subclassed models need get_config())."""
    return model.architecture_config()


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
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``filepath`` atomically.

    The file's extension picks the format: ``.keras`` writes Keras 3's format (readable by
    Keras itself, see :mod:`deepgrad.models.keras_format`), anything else deepgrad's own
    (``.deepgrad``); the legacy ``.h5`` format is not written.
    """
    if _extension_format(filepath) == "keras":
        return _handler("keras", "save_model")(model, filepath, overwrite=overwrite)
    _refuse_h5(filepath, "model.save")
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


# Other file formats register their readers and writers here (models/keras_format.py: "keras" for .keras
# files, "h5" for Keras weight files), so that this module never imports them.
_FORMATS = {}


def register_format(name, **handlers):
    """Register the functions (``save_model``, ``load_model``, ``recognizes``, ``save_weights``,
    ``load_weights``) that read and write the file format ``name``."""
    _FORMATS.setdefault(name, {}).update(handlers)


def _handler(name, what):
    return _FORMATS[name][what]


def _extension_format(filepath) -> str:
    """'keras' for a ``.keras`` path, 'h5' for ``.h5``/``.hdf5``, else 'deepgrad'."""
    name = str(filepath).lower()
    if name.endswith(".keras"):
        return "keras"
    return "h5" if name.endswith((".h5", ".hdf5")) else "deepgrad"


def _refuse_h5(filepath, what):
    if _extension_format(filepath) == "h5":
        raise ValueError(f"{what}({str(filepath)!r}): the legacy Keras .h5 format is read but not written. Save as "
                         "'.keras' (Keras 3's format, which Keras and deepgrad load), or '.deepgrad'; weights alone "
                         "as '.weights.h5' (Keras 3's layout).")


def save_weights(model, filepath, overwrite=True):
    """Write only the weights (and their table) to ``filepath`` atomically.

    A ``.weights.h5`` path writes Keras 3's weights file (Keras' ``load_weights`` reads it);
    another ``.h5`` path is refused: the legacy layout is only read.
    """
    if str(filepath).lower().endswith(".weights.h5"):
        return _handler("h5", "save_weights")(model, filepath, overwrite=overwrite)
    _refuse_h5(filepath, "model.save_weights")
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


def _check_weight_members(archive, table) -> int:
    """Check every weight member against its table entry (sizes only, nothing read); return the value count."""
    return sum(archive.check_member(entry["member"], entry["shape"], entry["dtype"]) for entry in table)


def _assign_weights(model, archive, table, skip_mismatch=False):
    weights = model.weights
    if len(weights) != len(table):
        if skip_mismatch:
            return
        raise ModelFileError(
            f"{archive.path} holds {len(table)} weight arrays but model {model.name!r} has {len(weights)}."
        )
    arrays = []
    for weight, entry in zip(weights, table):
        if tuple(entry["shape"]) != tuple(weight.shape) or entry["name"] != weight.name:
            if skip_mismatch:
                arrays.append(None)
                continue
            raise ModelFileError(
                f"{archive.path}: weight {len(arrays)} is {entry['name']!r} of shape {tuple(entry['shape'])} in "
                f"the file but {weight.name!r} of shape {tuple(weight.shape)} in model {model.name!r}."
            )
        arrays.append(archive.array(entry["member"], entry["shape"], entry["dtype"]))
    # read everything first, then assign: a bad file leaves the model untouched
    for weight, array in zip(weights, arrays):
        if array is not None:
            weight.data[...] = backend.to_device(array.astype(weight.data.dtype, copy=False), weight.device)


def _build_shape(shape):
    return [tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save``: architecture, weights, compile settings, optimizer state.

    ``custom_objects`` maps names to user classes/functions (custom layers, Lambda
    functions, losses). The config is checked against :data:`MODEL_FILE` and the weight
    table against the members' sizes before anything is built; layers are rebuilt with
    their constructors' own checks and the compile settings resolved. Any problem raises
    :class:`ModelFileError` naming the file, and nothing in a file is ever executed.
    A Keras 3 ``.keras`` file (recognized by its content, whatever its name) is read by
    :func:`deepgrad.models.keras_format.load_keras_model`.
    """
    if "keras" in _FORMATS and _handler("keras", "recognizes")(filepath):
        return _handler("keras", "load_model")(filepath, custom_objects=custom_objects, compile=compile,
                                               safe_mode=safe_mode)
    archive = Archive(filepath)
    try:
        config = archive.config
        count = _count_layers(config.get("model"))
        if count > MAX_LAYERS:
            raise ModelFileError(f"{archive.path} declares {count} layers, more than the limit of {MAX_LAYERS}.")
        check_schema(config, MODEL_FILE, archive.path)
        if config.get("model") is None:
            raise ModelFileError(f"{archive.path} holds only weights; build the model and call load_weights().")
        table = config["weights"]
        values = _check_weight_members(archive, table)
        try:
            return _rebuild(archive, config, values, custom_objects, compile)
        except ModelFileError as err:
            if archive.path in str(err):
                raise
            raise ModelFileError(f"{archive.path}: {err}") from err.__cause__
        except Exception as err:
            raise ModelFileError(f"{archive.path}: cannot rebuild the model: {type(err).__name__}: {err}") from err
    finally:
        archive.close()


def _rebuild(archive, config, values, custom_objects, compile):
    from .. import optimizers  # noqa: PLC0415

    # layers may create what the file holds; the slack covers a layer built twice while rebuilding
    with weight_allowance(2 * values + (1 << 20), archive.path):
        model = deserialize_layer(config["model"], custom_objects)
        if not model.built and config.get("build_input_shape") is not None:
            model.build(_build_shape(config["build_input_shape"]))
    _assign_weights(model, archive, config["weights"])
    model.metadata = config.get("metadata") or {}
    compile_config = config.get("compile_config")
    if compile and compile_config is not None:
        optimizer = "rmsprop"
        if config.get("optimizer"):
            optimizer = optimizers.deserialize(config["optimizer"]["config"])
        custom = custom_objects_with(custom_objects)
        loss = _resolve_custom(compile_config.get("loss"), custom)
        metrics = _resolve_custom(compile_config.get("metrics"), custom)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      loss_weights=compile_config.get("loss_weights"))
        _check_compiled(model, archive)
        saved_state = (config.get("optimizer") or {}).get("state")
        if isinstance(saved_state, dict) and saved_state.get("shapes"):  # the optimizer had stepped
            model._parameter_buffer()
            state = restore_state(saved_state, archive)
            model.optimizer.set_state(state, model.trainable_weights)
    return model


def _check_compiled(model, archive):
    """Resolve the losses and metrics now, so that bad compile settings fail at load, not at the first evaluate.

    The resolved state is dropped: metrics such as 'accuracy' pick their variant from the
    targets that fit or evaluate will see.
    """
    from .training import CompiledState  # noqa: PLC0415

    if model._loss_spec is None:
        return
    try:
        CompiledState(model, model._loss_spec, model._loss_weights, model._metric_spec, None)
    except Exception as err:
        raise ModelFileError(
            f"{archive.path}: the saved compile settings are invalid ({type(err).__name__}: {err}); "
            "load with compile=False and compile the model yourself."
        ) from err


def _resolve_custom(spec, custom):
    if isinstance(spec, str) and spec in custom:
        return custom[spec]
    if isinstance(spec, list):
        return [_resolve_custom(s, custom) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _resolve_custom(v, custom) for k, v in spec.items()}
    return spec


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights saved by ``save_weights`` or ``save`` into ``model`` (validated first).

    The weight table must match the model's weights one by one: same names, same shapes
    (with ``skip_mismatch=True`` mismatching weights are left as they are). A bad file
    raises :class:`ModelFileError` and leaves the model untouched. Keras ``.h5`` files
    (the legacy layout or Keras 3's ``.weights.h5``) and the weights of ``.keras`` files are
    read by :mod:`deepgrad.models.keras_format`.
    """
    if _extension_format(filepath) == "h5":
        return _handler("h5", "load_weights")(model, filepath, skip_mismatch=skip_mismatch)
    if "keras" in _FORMATS and _handler("keras", "recognizes")(filepath):
        return _handler("keras", "load_weights")(model, filepath, skip_mismatch=skip_mismatch)
    archive = Archive(filepath)
    try:
        check_schema(archive.config, WEIGHTS_FILE, archive.path)
        _check_weight_members(archive, archive.config["weights"])
        if not model.built:
            shape = archive.config.get("build_input_shape")
            if shape is None:
                raise ValueError(f"model {model.name!r} is not built; build it before loading weights.")
            model.build(_build_shape(shape))
        _assign_weights(model, archive, archive.config["weights"], skip_mismatch=skip_mismatch)
    finally:
        archive.close()
