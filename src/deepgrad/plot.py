"""Plots of the course: training curves, decision regions, activations, weights, gradients, autoencoders.

Every function draws one matplotlib Figure, saves it when given ``save_path=`` (or
``path=``) and returns it. matplotlib is optional (``pip install deepgrad[plot]``) and is
imported on the first call only; without a display (a server, a test run) the Agg
backend is used, so figures are written to files without a window. In a Jupyter
notebook they appear inline.

>>> from deepgrad import plot
>>> # history = model.fit(x, y, validation_split=0.2, epochs=50)
>>> # plot.plot_history(history, save_path="history.png")
"""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np

from . import activations
from .tensor import Tensor, no_grad


def _pyplot():
    """matplotlib.pyplot, with the Agg backend when there is no display to draw on.

    A Jupyter kernel has no display either, but shows figures inline: there the backend
    is left to matplotlib and IPython (the inline backend), and no figure is closed, so
    each one appears below its cell.
    """
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ImportError("deepgrad.plot needs matplotlib: pip install 'deepgrad[plot]' "
                          "(or pip install matplotlib).") from None
    headless = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY") and "ipykernel" not in sys.modules)
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _finish(fig, save_path, path):
    """Lay ``fig`` out, save it to the path given (either spelling) and return it."""
    fig.tight_layout()
    if save_path is not None and path is not None and save_path != path:
        raise ValueError(f"give the file once: save_path={save_path!r} and path={path!r} differ.")
    target = save_path if save_path is not None else path
    if target is not None:
        fig.savefig(target, dpi=100, bbox_inches="tight")
    return fig


def _figure(ax, figsize):
    """(figure, axes): a new figure, or the figure of the axes given."""
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


# --------------------------------------------------------------------------- training curves


def plot_history(history, metrics=None, title=None, save_path=None, path=None):
    """Training curves: one panel per quantity, training and validation together.

    ``history`` is the History returned by ``fit`` (or its ``.history`` dict): the loss
    panel shows ``loss`` and ``val_loss`` against the epoch (1-based), as in the course's
    ``plt.plot(history.history['loss'])``; each metric gets its own panel. ``metrics``
    picks the quantities to draw (default: every key without the ``val_`` prefix).
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history needs a History from fit() or a non-empty dict such as "
                         "{'loss': [...], 'val_loss': [...]}.")
    keys = [k for k in logs if not k.startswith("val_")] or [k[4:] for k in logs]
    keys = sorted(keys, key=lambda k: (k != "loss", k))
    if metrics is not None:
        unknown = [m for m in metrics if m not in logs and f"val_{m}" not in logs]
        if unknown:
            raise ValueError(f"no {unknown} in the history; it records {sorted(logs)}.")
        keys = list(metrics)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, label, style in ((key, "train", "-"), (f"val_{key}", "validation", "--")):
            if name in logs:
                values = np.asarray(logs[name], dtype=np.float64)
                ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- decision regions


def _predict(model, x):
    """model.predict(x) for deepgrad models (one big batch, silent) and estimators alike."""
    try:
        parameters = inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        parameters = {}
    kwargs = {}
    if "batch_size" in parameters:
        kwargs["batch_size"] = len(x)
    if "verbose" in parameters:
        kwargs["verbose"] = 0
    return np.asarray(model.predict(x, **kwargs))


def _as_labels(predictions, classes):
    """Class labels from predictions: argmax of scores per class, else the nearest class value."""
    out = np.asarray(predictions)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    out = out.reshape(len(out))
    if np.issubdtype(out.dtype, np.floating) and not np.all(np.isin(out, classes)):
        # probabilities of the upper class (sigmoid) or raw scores: the nearest class value,
        # i.e. threshold 0.5 for 0/1 labels and 0 for -1/+1 labels
        return classes[np.abs(out[:, None] - classes[None, :]).argmin(axis=1)]
    return out


def _check_2d(x, what):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{what} draws 2-D data: x must have shape (n_samples, 2), got {x.shape}. "
                         "Pick two features, or project the data (e.g. PCA) first.")
    return x


def _class_colors(n):
    plt = _pyplot()
    palette = plt.get_cmap("tab10")
    return [palette(i % 10) for i in range(n)]


def plot_decision_regions(model, x, y, resolution=200, padding=0.5, ax=None, title=None,
                          save_path=None, path=None):
    """The regions each class wins in a 2-D input space, with the samples on top.

    ``model`` is anything with ``predict``: a deepgrad model (softmax outputs -> argmax,
    one sigmoid output -> threshold 0.5), a Perceptron or a scikit-learn estimator
    (labels as they come). The plane is sampled on a ``resolution`` x ``resolution`` grid
    reaching ``padding`` beyond the data, predicted in one call, and filled by class.
    """
    x = _check_2d(x, "plot_decision_regions")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(len(y))
    if len(y) != len(x):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}.")
    classes = np.unique(y)
    lo, hi = x.min(axis=0) - padding, x.max(axis=0) + padding
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    labels = _as_labels(_predict(model, grid), classes.astype(np.float64))
    every = np.union1d(classes, np.unique(labels))
    regions = np.searchsorted(every, labels).reshape(xx.shape)
    colors = _class_colors(len(every))
    from matplotlib.colors import ListedColormap  # noqa: PLC0415

    fig, ax = _figure(ax, (6, 5))
    ax.contourf(xx, yy, regions, levels=np.arange(len(every) + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.3)
    markers = "osD^v<>ph*"
    for i, label in enumerate(every):
        member = y == label
        if member.any():
            ax.scatter(x[member, 0], x[member, 1], color=colors[i], marker=markers[i % len(markers)],
                       edgecolor="black", linewidth=0.5, s=30, label=f"class {label}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="best")
    ax.set_title(title or "decision regions")
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- activations


def _elementwise_activation_names():
    """Canonical names of the elementwise activations (aliases and softmax-like ones left out)."""
    return sorted({activations.serialize(name) for name in activations.elementwise_names()})


def _draw_activation(ax, name, z, derivative):
    function = activations.get(name)
    if activations.serialize(function) not in _elementwise_activation_names():
        raise ValueError(f"{name!r} acts on a whole vector, not elementwise, so it has no single curve; "
                         f"plot one of: {', '.join(_elementwise_activation_names())}.")
    # z as one unit seen over many samples: activations that depend on the unit's position
    # (brelu flips every other unit) then draw the first unit's curve
    column = z.reshape(-1, 1)
    with no_grad():
        values = function(Tensor(column)).numpy().ravel()
    ax.plot(z, values, label="f(z)", linewidth=2)
    if derivative:
        ax.plot(z, activations.derivative(name, column).ravel(), "--", label="f'(z)", linewidth=1.5)
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.axvline(0, color="gray", linewidth=0.5)
    ax.grid(alpha=0.3)
    ax.set_title(activations.serialize(function))
    ax.set_xlabel("z (pre-activation)")
    ax.set_ylabel("f(z), f'(z)" if derivative else "f(z)")


def plot_activation(name, z=None, derivative=True, ax=None, save_path=None, path=None):
    """An activation f(z) and its derivative f'(z) (from ``deepgrad.activations.derivative``).

    ``name`` is any registered name ('relu', 'sigmoid', 'elu', ...) or activation
    function; ``z`` defaults to 501 points on [-5, 5]. The points are fed as samples of
    one unit, so brelu (which flips every other unit) shows its first unit's curve.
    """
    z = np.linspace(-5.0, 5.0, 501) if z is None else np.asarray(z, dtype=np.float64)
    fig, ax = _figure(ax, (5, 3.8))
    _draw_activation(ax, name, z, derivative)
    ax.legend()
    return _finish(fig, save_path, path)


def plot_activations_grid(names=None, ncols=5, z=None, save_path=None, path=None):
    """The table of activations: one panel per function with f(z) and f'(z).

    ``names`` defaults to every elementwise activation deepgrad registers.
    """
    names = _elementwise_activation_names() if names is None else list(names)
    if not names:
        raise ValueError("plot_activations_grid needs at least one activation name.")
    z = np.linspace(-5.0, 5.0, 401) if z is None else np.asarray(z, dtype=np.float64)
    ncols = max(1, min(int(ncols), len(names)))
    nrows = -(-len(names) // ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        _draw_activation(ax, name, z, True)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(loc="upper left", fontsize="small")
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- weights and gradients


def _epoch_shades(plt, fig, axes, cmap, epochs, span, always=False):
    """(one colour per epoch, colour bar or None): lines shaded by epoch, labelled by a colour bar.

    A legend names at most a few lines; a colour bar names every epoch at once. It is
    drawn beside the last of ``axes`` (which share the shades) when there are more than
    two epochs (or ``always``, for more than one).
    """
    from matplotlib.cm import ScalarMappable  # noqa: PLC0415
    from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    colors = plt.get_cmap(cmap)(np.linspace(span[0], span[1], len(epochs)))
    if len(epochs) < 2 or (len(epochs) < 3 and not always):
        return colors, None
    # the bar shows the part of the colour map the lines use, from the first epoch to the last
    shown = LinearSegmentedColormap.from_list(f"{cmap}_epochs", colors)
    mappable = ScalarMappable(norm=Normalize(epochs[0], epochs[-1]), cmap=shown)
    # beside the last panel only: a bar spanning several panels defeats tight_layout
    colorbar = fig.colorbar(mappable, ax=axes[-1], fraction=0.05, pad=0.02)
    colorbar.set_label("epoch")
    colorbar.locator = MaxNLocator(integer=True)
    colorbar.update_ticks()
    return colors, colorbar


def _kernel_heading(layer, kernel, position):
    """'Dense layer 2 (dense_1): kernel 8 x 2, 8 inputs -> 2 units': what the histogram shows."""
    shape = " x ".join(str(s) for s in kernel.shape)
    heading = f"{type(layer).__name__} layer {position} ({layer.name}): kernel {shape}"
    if kernel.ndim == 2:
        heading += f", {kernel.shape[0]} inputs -> {kernel.shape[1]} units"
    return heading


def _kernels(model):
    """[(heading, kernel values), ...] of every layer with a kernel, asked through Layer.kernel_and_bias."""
    from .diagnostics import _leaf_layers  # noqa: PLC0415

    kernels = [(_kernel_heading(layer, kernel, position), kernel.numpy().ravel())
               for position, layer in enumerate(_leaf_layers(model), 1)
               for kernel in layer.kernel_and_bias()[:1] if kernel is not None]
    if not kernels:
        raise ValueError(f"model {getattr(model, 'name', model)!r} has no layer with a kernel to plot; "
                         "build it first (call it on data or fit it).")
    return kernels


def plot_weight_histograms(model, other=None, labels=("model 1", "model 2"), bins=50, save_path=None, path=None):
    """Histograms of each layer's kernel weights; with ``other``, two models side by side.

    Each panel is titled with the layer's class, position, name and kernel shape (inputs
    -> units); the kernel is what the layer names through ``Layer.kernel_and_bias``.

    The course compares a model trained without and with L2 regularization this way:
    regularization pulls the weights towards 0 and shortens the tails. Rows are layers
    (in order), columns models; a row shares its x axis so the spreads compare directly.
    """
    columns = [_kernels(model)] + ([_kernels(other)] if other is not None else [])
    if other is not None and len(columns[0]) != len(columns[1]):
        raise ValueError(f"the models have {len(columns[0])} and {len(columns[1])} layers with kernels; "
                         "side by side needs the same number.")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    nrows, ncols = len(columns[0]), len(columns)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 2.6 * nrows), squeeze=False, sharex="row")
    colors = _class_colors(ncols)
    for col, kernels in enumerate(columns):
        for row, (name, values) in enumerate(kernels):
            ax = axes[row, col]
            ax.hist(values, bins=bins, color=colors[col], alpha=0.8)
            heading = f"{labels[col]}: {name}" if ncols > 1 else name
            ax.set_title(f"{heading}\n(min {values.min():.3g}, max {values.max():.3g})", fontsize="small")
            ax.set_ylabel("number of weights")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[-1, col].set_xlabel("weight value")
    return _finish(fig, save_path, path)


def plot_gradient_flow(monitor, save_path=None, path=None):
    """What a :class:`deepgrad.diagnostics.GradientMonitor` recorded, layer by layer.

    Left: the RMS gradient ||dL/dW|| / sqrt(n) per layer (log scale), one line per epoch
    (dark to light, named by a colour bar past two epochs): vanishing gradients fall
    away towards the first layers, exploding ones climb. Middle: the update-to-weight
    ratio ||dW|| / ||W|| (about 1e-3 is healthy). Right: the share of dead ReLU and saturated sigmoid/tanh units in the
    last epoch.
    """
    if not getattr(monitor, "epochs", None):
        raise ValueError("plot_gradient_flow needs a GradientMonitor that has recorded at least one epoch: "
                         "pass it to fit(callbacks=[monitor]) first.")
    names = monitor.weighted_layer_names()
    columns = [monitor.layer_names.index(n) for n in names]
    counts = np.array([monitor.parameter_counts[n] for n in names], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = monitor.array("grad_norm")[:, columns] / np.sqrt(counts)
    ratio = monitor.array("update_ratio")[:, columns]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    epochs = [epoch + 1 for epoch in monitor.epochs]
    shades, colorbar = _epoch_shades(plt, fig, axes[:2], "viridis", epochs, (0.0, 0.9))
    positions = np.arange(len(names))
    for row, color, epoch in zip(range(len(epochs)), shades, epochs):
        label = None if colorbar else f"epoch {epoch}"
        axes[0].plot(positions, np.where(rms[row] > 0, rms[row], np.nan), marker="o", color=color, label=label)
        axes[1].plot(positions, np.where(ratio[row] > 0, ratio[row], np.nan), marker="o", color=color, label=label)
    axes[1].axhline(1e-3, color="gray", linestyle="--", linewidth=1, label="about 1e-3 is healthy")
    for ax, heading, ylabel in ((axes[0], "RMS gradient per layer", "||dL/dW|| / sqrt(n)"),
                                (axes[1], "update / weight ratio", "||dW|| / ||W||")):
        ax.set_yscale("log")
        ax.set_xticks(positions)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize="small")
        ax.set_title(heading)
        ax.set_xlabel("layer (input to output)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    dead = monitor.array("dead_fraction")[-1]
    saturated = monitor.array("saturated_fraction")[-1]
    all_positions = np.arange(len(monitor.layer_names))
    axes[2].bar(all_positions - 0.2, np.nan_to_num(dead), width=0.4, label="dead (ReLU)", color="tab:red")
    axes[2].bar(all_positions + 0.2, np.nan_to_num(saturated), width=0.4, label="saturated (sigmoid/tanh)",
                color="tab:orange")
    if not (np.nan_to_num(dead).any() or np.nan_to_num(saturated).any()):
        axes[2].text(0.5, 0.5, "no dead or saturated units", transform=axes[2].transAxes, ha="center")
    axes[2].set_ylim(0, 1)
    axes[2].set_xticks(all_positions)
    axes[2].set_xticklabels(monitor.layer_names, rotation=45, ha="right", fontsize="small")
    axes[2].set_title("unit health (last epoch)")
    axes[2].set_ylabel("share of units")
    axes[2].legend(fontsize="small")
    axes[2].grid(alpha=0.3)
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- inside a convolutional network


def _conv_layer(model, layer, what):
    """``layer`` (a Layer, its name or its index among the model's layers), or the model's first convolution."""
    from .diagnostics import _leaf_layers  # noqa: PLC0415

    leaves = _leaf_layers(model)
    if layer is None:
        for candidate in leaves:
            kernel = candidate.kernel_and_bias()[0]
            if kernel is not None and kernel.ndim >= 3:
                return candidate
        raise ValueError(f"model {getattr(model, 'name', model)!r} has no built convolution layer to plot {what} "
                         "of; build it first (call it on data or fit it).")
    if isinstance(layer, str):
        for candidate in leaves:
            if candidate.name == layer:
                return candidate
        raise ValueError(f"no layer named {layer!r}; the layers are {[c.name for c in leaves]}.")
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        return leaves[layer]
    return layer


def _panel_grid(plt, count, ncols, size):
    """A figure with ``count`` axes on a grid ``ncols`` wide (no empty axes), ticks hidden."""
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig = plt.figure(figsize=(size * ncols, size * nrows + 0.6))
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(count)]
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def plot_filters(model, layer=None, channel=None, max_filters=64, ncols=8, cmap="gray", save_path=None,
                 path=None):
    """The learned kernels of a convolution layer (the first one by default), one panel per filter.

    A kernel (kh, kw, C, F) gives F images of kh x kw: in colour when C = 3 and ``channel``
    is None (each filter rescaled to [0, 1], as the first layer of an RGB network is shown),
    else the weights of input channel ``channel`` (default 0) on one grey scale shared by
    all filters and symmetric about 0, so dark and light read as negative and positive
    weights the same way in every panel. 1-d kernels (k, C, F) are drawn as 1 x k strips.
    ``layer`` is a layer, its name or its index; at most ``max_filters`` filters are drawn.
    """
    layer = _conv_layer(model, layer, "filters")
    kernel = layer.kernel_and_bias()[0]
    if kernel is None or kernel.ndim not in (3, 4):
        raise ValueError(f"plot_filters draws 1-d and 2-d convolution kernels; layer {layer.name!r} has "
                         f"{'no kernel' if kernel is None else f'a kernel of shape {kernel.shape}'}.")
    weights = kernel.numpy()
    if weights.ndim == 3:
        weights = weights[None]
    channels, filters = weights.shape[-2:]
    colour = channels == 3 and channel is None
    channel = 0 if channel is None else int(channel)
    if not colour and not 0 <= channel < channels:
        raise ValueError(f"channel must be in [0, {channels}) for layer {layer.name!r}, got {channel}.")
    count = min(filters, int(max_filters))
    plt = _pyplot()
    fig, axes = _panel_grid(plt, count, ncols, 1.2)
    scale = float(np.abs(weights[..., channel, :count]).max()) or 1.0
    for f, ax in enumerate(axes):
        if colour:
            image = weights[..., f]
            span = image.max() - image.min()
            ax.imshow((image - image.min()) / (span if span > 0 else 1.0))
        else:
            ax.imshow(weights[..., channel, f], cmap=cmap, vmin=-scale, vmax=scale)
        ax.set_title(f"filter {f}", fontsize="small")
    size = " x ".join(str(s) for s in kernel.shape[:-2])
    source = "RGB" if colour else (f"input channel {channel}" if channels > 1 else "")
    fig.suptitle(f"{type(layer).__name__} layer {layer.name!r}: {filters} filters {size}"
                 + (f" ({source})" if source else "") + (f", first {count} shown" if count < filters else ""))
    return _finish(fig, save_path, path)


def _one_sample(model, image):
    """``image`` as a batch of one for ``model``: the batch axis added, and a missing single channel axis."""
    from .diagnostics import _leaf_layers  # noqa: PLC0415

    x = np.asarray(image, dtype=np.float32)
    built = _leaf_layers(model)[0].input_shape_built
    rank = len(built) if built is not None else 4
    if x.ndim == rank - 2:
        return x[None, ..., None]
    if x.ndim == rank - 1:
        return x[None]
    if x.ndim == rank and x.shape[0] == 1:
        return x
    raise ValueError(f"plot_feature_maps takes one sample of shape {tuple(built[1:]) if built else '(h, w, c)'}, "
                     f"got shape {x.shape}.")


def plot_feature_maps(model, image, layer=None, max_maps=32, ncols=8, cmap="viridis", save_path=None, path=None):
    """The feature maps a layer (the first convolution by default) computes for one image, one panel per channel.

    ``image`` is one sample, (h, w, c) or (h, w) for one channel (a batch of one also
    works); the model runs on it in inference mode and the layer's output is read on the
    way (``Layer._output_observer``, as :class:`~deepgrad.diagnostics.GradientMonitor`
    reads it), so any model works, Sequential or functional. Each channel is shown on its
    own colour scale. ``layer`` is a layer, its name or its index.
    """
    layer = _conv_layer(model, layer, "feature maps")
    x = _one_sample(model, image)
    captured = []
    layer._output_observer = lambda outputs, training: captured.append(outputs)
    try:
        model.predict(x, verbose=0)
    finally:
        del layer._output_observer
    if not captured:
        raise ValueError(f"layer {layer.name!r} did not run on the image: is it a layer of this model?")
    maps = captured[-1].numpy()[0]
    if getattr(layer, "data_format", None) == "channels_first" and maps.ndim > 1:
        maps = np.moveaxis(maps, 0, -1)
    if maps.ndim not in (2, 3):
        raise ValueError(f"layer {layer.name!r} outputs shape {maps.shape} per sample; feature maps need "
                         "(steps, channels) or (height, width, channels).")
    if maps.ndim == 2:
        maps = maps[None]
    count = min(maps.shape[-1], int(max_maps))
    plt = _pyplot()
    fig, axes = _panel_grid(plt, count, ncols, 1.4)
    for c, ax in enumerate(axes):
        ax.imshow(maps[..., c], cmap=cmap)
        ax.set_title(f"channel {c}", fontsize="small")
    shape = " x ".join(str(s) for s in maps.shape)
    fig.suptitle(f"feature maps of {type(layer).__name__} layer {layer.name!r} ({shape})"
                 + (f", first {count} shown" if count < maps.shape[-1] else ""))
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- learning rate, confusion matrix


def plot_gradients_through_time(monitor, epoch=-1, ax=None, title=None, save_path=None, path=None):
    """||dL/dh_t|| against the time step t for each recurrent layer a GradientMonitor watched (log scale).

    A curve that falls by orders of magnitude towards the first steps is the vanishing
    gradient through time: those steps receive (almost) no learning signal. ``epoch``
    picks the epoch (default: the last); ``monitor`` may also be a dict name -> norms.
    """
    curves = monitor if isinstance(monitor, dict) else getattr(monitor, "time_gradients", None)
    if curves is None:
        raise TypeError("plot_gradients_through_time takes a GradientMonitor used in fit() (or a dict of "
                        f"norms per layer), got {type(monitor).__name__}.")
    curves = {name: (np.asarray(values) if isinstance(monitor, dict) else np.asarray(values[epoch]))
              for name, values in curves.items() if len(values)}
    if not curves:
        raise ValueError("no recurrent layer recorded gradients through time: train a model with a SimpleRNN, "
                         "LSTM or GRU layer with the GradientMonitor in callbacks.")
    fig, ax = _figure(ax, (6, 4))
    for name, norms in curves.items():
        ax.semilogy(np.arange(1, norms.size + 1), np.maximum(norms, 1e-30), marker=".", label=name)
    ax.set_xlabel("time step t (processing order)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title or "gradient through time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return _finish(fig, save_path, path)


def plot_lr_finder(result, ax=None, save_path=None, path=None):
    """The learning-rate range test from ``deepgrad.optimizers.find_learning_rate``.

    Smoothed loss against the learning rate (log axis) over the raw per-step losses,
    with the suggested rate (steepest descent) and the rate of the lowest loss marked.
    """
    if not hasattr(result, "learning_rates") or not hasattr(result, "losses"):
        raise TypeError("plot_lr_finder takes the result of deepgrad.optimizers.find_learning_rate(...), "
                        f"got {type(result).__name__}.")
    fig, ax = _figure(ax, (6, 4))
    ax.plot(result.learning_rates, result.raw_losses, color="lightgray", linewidth=1, label="loss per step")
    result.plot(ax=ax)  # the smoothed curve and the suggested rate
    ax.lines[-2].set_label("smoothed loss")
    ax.lines[-1].set_label(f"suggested {result.suggested_learning_rate:.2g}")
    ax.axvline(result.minimum_learning_rate, color="tab:red", linestyle=":",
               label=f"lowest loss at {result.minimum_learning_rate:.2g}")
    finite = result.losses[np.isfinite(result.losses)]
    if finite.size:
        spread = finite[0] - finite.min()
        ax.set_ylim(finite.min() - 0.1 * spread - 1e-12, finite[0] + 0.5 * spread + 1e-12)
    ax.set_title("learning-rate range test" + (" (stopped: loss diverged)" if result.diverged else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _finish(fig, save_path, path)


def _class_ids(values, what):
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        return values.argmax(axis=1)
    values = values.reshape(len(values))
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{what} contains NaN or infinity.")
        if not np.all(values == np.round(values)):  # probabilities of the upper class
            return (values >= 0.5).astype(np.int64)
    return values.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """counts[i, j] = number of samples of true class i predicted as class j.

    Labels are class ids 0..k-1, one-hot rows or per-class scores (argmax), or
    probabilities of the upper class of a binary problem (threshold 0.5).
    """
    true = _class_ids(y_true, "y_true")
    pred = _class_ids(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} samples but y_pred has {len(pred)}.")
    if len(true) and min(true.min(), pred.min()) < 0:
        raise ValueError("class ids must be non-negative integers 0..k-1.")
    k = int(num_classes or (max(true.max(), pred.max()) + 1 if len(true) else 0))
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(y_true, y_pred, labels=None, normalize=False, ax=None, cmap="Blues",
                          save_path=None, path=None):
    """The confusion matrix as a heat map with the count (or the row share) in each cell.

    Rows are true classes, columns predicted ones; the diagonal holds the correct
    predictions. ``normalize=True`` divides each row by its total (per-class recall).
    """
    counts = confusion_matrix(y_true, y_pred, None if labels is None else len(labels))
    k = len(counts)
    labels = [str(i) for i in range(k)] if labels is None else [str(label) for label in labels]
    values = counts.astype(np.float64)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure(ax, (1.0 + 0.6 * k, 0.8 + 0.6 * k))
    image = ax.imshow(values, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = values.max() / 2 if values.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else str(int(counts[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if values[i, j] > threshold else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix" + (" (row-normalized)" if normalize else ""))
    return _finish(fig, save_path, path)


def _image_panel(image):
    """An image as imshow takes it: a single channel squeezed to (h, w), channels last otherwise."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):  # channels first
        return image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3):
        return image
    raise ValueError(f"images must be (h, w), (h, w, 1) or (h, w, 3) each, got one of shape {image.shape}.")


def plot_misclassified(x, y_true, y_pred, labels=None, max_images=25, ncols=5, cmap="gray", save_path=None,
                       path=None):
    """A grid of the images the model got wrong, each titled with its true and predicted class.

    ``x`` holds the images, (n, h, w) or (n, h, w, c) with c = 1 or 3; ``y_true`` and
    ``y_pred`` are class ids, one-hot rows or per-class scores (argmax), as for
    :func:`confusion_matrix`. The first ``max_images`` errors in ``x``'s order are drawn,
    titled "true -> predicted" with the names from ``labels`` (class ids when omitted).
    Raises ValueError when there is no error to show.
    """
    true = _class_ids(y_true, "y_true")
    pred = _class_ids(y_pred, "y_pred")
    images = np.asarray(x)
    if not len(images) == len(true) == len(pred):
        raise ValueError(f"x, y_true and y_pred must have one entry per sample, got {len(images)}, {len(true)} "
                         f"and {len(pred)}.")
    wrong = np.flatnonzero(true != pred)
    if not len(wrong):
        raise ValueError("every prediction is correct: there is no misclassified image to plot.")
    shown = wrong[:int(max_images)]
    names = (lambda i: str(i)) if labels is None else (lambda i: str(labels[i]))
    plt = _pyplot()
    fig, axes = _panel_grid(plt, len(shown), ncols, 1.9)
    for index, ax in zip(shown, axes):
        ax.imshow(_image_panel(images[index]), cmap=cmap)
        ax.set_title(f"{names(true[index])} \u2192 {names(pred[index])}", fontsize="small", color="firebrick")
    fig.suptitle(f"{len(wrong)} of {len(true)} misclassified (true \u2192 predicted)"
                 + (f", first {len(shown)} shown" if len(shown) < len(wrong) else ""))
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- autoencoders


def plot_reconstructions(originals, reconstructions, n=10, cmap="gray", title=None, save_path=None, path=None):
    """Originals against their reconstructions: one column per image, one row per model.

    ``originals`` holds the images, (n, h, w) or (n, h, w, c) with c = 1 or 3;
    ``reconstructions`` is one array of the same shape (a row titled "reconstruction") or
    a dict ``{row title: array}`` to compare several models (PCA, autoencoders) on the
    same images. The first ``n`` images are drawn, every panel on the grey scale [0, 1]
    of pixel intensities, so a washed-out reconstruction looks washed out.
    """
    rows = {"original": np.asarray(originals)}
    named = reconstructions if isinstance(reconstructions, dict) else {"reconstruction": reconstructions}
    for label, images in named.items():
        images = np.asarray(images)
        if images.shape != rows["original"].shape:
            raise ValueError(f"reconstructions {label!r} have shape {images.shape}, the originals "
                             f"{rows['original'].shape}: give one reconstruction per original, same shape.")
        rows[str(label)] = images
    count = min(int(n), len(rows["original"]))
    if count < 1:
        raise ValueError("plot_reconstructions needs at least one image (n >= 1 and a non-empty array).")
    plt = _pyplot()
    fig, axes = _panel_grid(plt, count * len(rows), count, 1.2)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(count):
            ax = axes[r * count + c]
            ax.imshow(np.clip(_image_panel(images[c]), 0.0, 1.0), cmap=cmap, vmin=0.0, vmax=1.0)
        axes[r * count].set_ylabel(label, fontsize="small", rotation=0, ha="right", va="center")
    fig.suptitle(title or "originals (top row) and their reconstructions")
    return _finish(fig, save_path, path)


def plot_latent_space(codes, labels, class_names=None, ax=None, title=None, save_path=None, path=None):
    """A 2-D code space: one point per sample at its code, coloured by its class.

    ``codes`` is (n, 2) (an encoder's output with a code of two numbers, or codes
    projected to two dimensions first, e.g. by :class:`deepgrad.decomposition.PCA`);
    ``labels`` are class ids, one-hot rows or per-class scores (argmax). The legend names
    the classes with ``class_names`` (class ids when omitted). Classes the encoder keeps
    apart without ever seeing a label show as separate clouds.
    """
    codes = _check_2d(codes, "plot_latent_space")
    classes = _class_ids(labels, "labels")
    if len(classes) != len(codes):
        raise ValueError(f"codes has {len(codes)} samples but labels has {len(classes)}.")
    present = np.unique(classes)
    colors = _class_colors(int(present.max()) + 1 if len(present) else 1)
    fig, ax = _figure(ax, (7, 6))
    for k in present:
        member = classes == k
        name = str(k) if class_names is None else str(class_names[k])
        ax.scatter(codes[member, 0], codes[member, 1], s=4, alpha=0.6, color=colors[k], label=name)
    ax.set_xlabel("code[0]")
    ax.set_ylabel("code[1]")
    ax.grid(alpha=0.3)
    ax.legend(markerscale=3, fontsize="small", loc="best")
    ax.set_title(title or "2-D code space, coloured by class")
    return _finish(fig, save_path, path)


def plot_latent_grid(decoder, n=15, x_range=(-2.0, 2.0), y_range=None, cmap="gray", title=None, save_path=None,
                     path=None):
    """Images decoded from an n x n grid of points of a 2-D code space, tiled into one picture.

    ``decoder`` maps codes (m, 2) to images (m, h, w[, 1]) through ``predict`` (a deepgrad
    model or anything with that method). The grid spans ``x_range`` on code[0] (left to
    right) and ``y_range`` on code[1] (bottom to top; default ``x_range``); for a
    variational autoencoder, whose codes follow N(0, 1), (-2, 2) covers about 95% of
    them. Neighbouring tiles change smoothly where the code space is continuous.
    """
    n = int(n)
    if n < 2:
        raise ValueError(f"plot_latent_grid needs n >= 2 grid points per axis, got {n}.")
    y_range = x_range if y_range is None else y_range
    xs = np.linspace(float(x_range[0]), float(x_range[1]), n)
    ys = np.linspace(float(y_range[1]), float(y_range[0]), n)  # top row: the largest code[1]
    points = np.array([(x, y) for y in ys for x in xs], dtype=np.float32)
    images = _predict(decoder, points)
    if len(images) != n * n:
        raise ValueError(f"the decoder returned {len(images)} images for {n * n} codes.")
    tiles = [_image_panel(image) for image in images]
    h, w = tiles[0].shape[:2]
    picture = np.concatenate([np.concatenate(tiles[r * n:(r + 1) * n], axis=1) for r in range(n)], axis=0)
    fig, ax = _figure(None, (8, 8))
    ax.imshow(np.clip(picture, 0.0, 1.0), cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(np.arange(n) * w + (w - 1) / 2)
    ax.set_xticklabels([f"{v:.1f}" for v in xs], fontsize="small")
    ax.set_yticks(np.arange(n) * h + (h - 1) / 2)
    ax.set_yticklabels([f"{v:.1f}" for v in ys], fontsize="small")
    ax.set_xlabel("code[0]")
    ax.set_ylabel("code[1]")
    ax.set_title(title or f"images decoded from a {n} x {n} grid of the code space")
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- perceptron


def _boundary_history(source):
    """[(w, b), ...] from a list of pairs or an object with weights_history_ / bias_history_."""
    if hasattr(source, "weights_history_"):
        weights = np.asarray(source.weights_history_, dtype=np.float64)
        biases = np.asarray(getattr(source, "bias_history_", np.zeros(len(weights))), dtype=np.float64)
        return [(w, float(b)) for w, b in zip(weights, biases)]
    try:
        history = [(np.asarray(w, dtype=np.float64).reshape(-1), float(b)) for w, b in source]
    except (TypeError, ValueError):
        raise TypeError("plot_perceptron_boundary takes a fitted Perceptron (weights_history_, bias_history_) "
                        "or a list of (weights, bias) pairs, one per epoch.") from None
    return history


def plot_perceptron_boundary(perceptron, x, y, ax=None, save_path=None, path=None):
    """The perceptron's line w1 x1 + w2 x2 + b = 0 moving epoch by epoch over 2-D data.

    ``perceptron`` is a fitted :class:`deepgrad.perceptron.Perceptron` (its
    ``weights_history_`` and ``bias_history_``: the line before training and after each
    epoch) or a list ``[(w, b), ...]``. Early lines are light, the last one bold, and a
    colour bar gives each shade its epoch; a line with w = 0 (nothing learned yet) is
    not drawn. With ``errors_`` available, a second panel shows the misclassifications
    per epoch.
    """
    x = _check_2d(x, "plot_perceptron_boundary")
    y = np.asarray(y).reshape(len(x))
    history = _boundary_history(perceptron)
    if not history or any(w.shape != (2,) for w, _ in history):
        raise ValueError("plot_perceptron_boundary needs a non-empty history of 2-D weights (one per epoch).")
    errors = getattr(perceptron, "errors_", None)
    plt = _pyplot()
    if ax is None:
        ncols = 2 if errors else 1
        fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 5), squeeze=False)
        ax = axes[0, 0]
    else:
        fig, errors = ax.figure, None
    classes = np.unique(y)
    colors = _class_colors(len(classes))
    for i, label in enumerate(classes):
        member = y == label
        ax.scatter(x[member, 0], x[member, 1], color=colors[i], edgecolor="black", linewidth=0.5, s=40,
                   marker="os^"[i % 3], label=f"class {label}")
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    shades, _ = _epoch_shades(plt, fig, [ax], "Greys", list(range(len(history))), (0.25, 1.0), always=True)
    span = np.linspace(lo[0], hi[0], 2)
    for epoch, ((w, b), shade) in enumerate(zip(history, shades)):
        last = epoch == len(history) - 1
        style = {"color": "black" if last else shade, "linewidth": 2.5 if last else 1.0,
                 "label": f"epoch {epoch}" if last else None}
        if abs(w[1]) > 1e-12:
            ax.plot(span, -(w[0] * span + b) / w[1], **style)
        elif abs(w[0]) > 1e-12:
            ax.axvline(-b / w[0], **style)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(f"perceptron boundary over {len(history) - 1} epoch(s)")
    ax.legend(loc="best", fontsize="small")
    if errors:
        error_ax = fig.axes[1]
        error_ax.plot(np.arange(1, len(errors) + 1), errors, marker="o")
        from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

        error_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        error_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        error_ax.set_xlabel("epoch")
        error_ax.set_ylabel("misclassified samples")
        error_ax.set_title("errors per epoch")
        error_ax.grid(alpha=0.3)
    return _finish(fig, save_path, path)


# --------------------------------------------------------------------------- attention


def _attention_panels(weights, heads):
    """(panels (n, Tq, Tv), titles) from attention weights of one sentence, as ``heads`` asks."""
    w = np.asarray(weights.numpy() if isinstance(weights, Tensor) else weights, dtype=np.float64)
    if w.ndim == 4 and w.shape[0] == 1:  # a batch of one sentence, as returned by the layer
        w = w[0]
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError("attention weights must have shape (Tq, Tv), (heads, Tq, Tv) or (1, heads, Tq, Tv) "
                         f"(one sentence: index the batch first), got {w.shape}.")
    if heads == "mean":
        return w.mean(axis=0, keepdims=True), ["mean over heads" if len(w) > 1 else "attention"]
    if heads == "all":
        return w, [f"head {h}" for h in range(len(w))]
    if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool) and -len(w) <= heads < len(w):
        return w[[heads]], [f"head {int(heads) % len(w)}"]
    raise ValueError(f"heads must be 'mean', 'all' or a head index in [0, {len(w)}), got {heads!r}.")


def plot_attention_weights(weights, tokens, query_tokens=None, heads="mean", ncols=4, cmap="viridis",
                           save_path=None, path=None):
    """Attention weights of one sentence as a heat map: queries down, keys across, tokens on both axes.

    ``weights`` is what ``MultiHeadAttention(..., return_attention_scores=True)`` returns for
    one sentence: (heads, Tq, Tv), (1, heads, Tq, Tv), or (Tq, Tv). Row i shows how query token
    i spreads its attention w[i, j] = softmax_j(q_i . k_j / sqrt(d)) over the key tokens j (each
    row sums to 1 over all keys). ``tokens`` name the keys (and the queries unless
    ``query_tokens`` is given); longer weight axes are cut to the tokens, so padded positions
    after the sentence are left out. ``heads``: ``"mean"`` (the average over heads, one panel),
    ``"all"`` (one panel per head, ``ncols`` per row) or a head index.
    """
    panels, titles = _attention_panels(weights, heads)
    keys = [str(t) for t in tokens]
    queries = keys if query_tokens is None else [str(t) for t in query_tokens]
    if not keys or not queries:
        raise ValueError("tokens must name at least one token.")
    if panels.shape[1] < len(queries) or panels.shape[2] < len(keys):
        raise ValueError(f"the weights cover {panels.shape[1]} queries and {panels.shape[2]} keys, fewer than the "
                         f"{len(queries)} query and {len(keys)} key tokens given.")
    panels = panels[:, :len(queries), :len(keys)]
    plt = _pyplot()
    cols = min(int(ncols), len(panels))
    rows = -(-len(panels) // cols)
    size = 0.8 + 0.32 * max(len(keys), len(queries))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 0.8, size * rows), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, panel, title in zip(axes.ravel(), panels, titles):
        image = ax.imshow(panel, cmap=cmap, vmin=0, vmax=max(float(panel.max()), 1e-12))
        ax.set_xticks(range(len(keys)))
        ax.set_yticks(range(len(queries)))
        ax.set_xticklabels(keys, rotation=90)
        ax.set_yticklabels(queries)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _finish(fig, save_path, path)
