"""Loading a Keras model's weights from a safetensors file named the PyTorch way or
graphc's way.

source='torchvision': a PyTorch state dict (as `safetensors.torch.save_file(model.state_dict(),
path)` writes it). A parameter `<module>.<param>` belongs to the layer named `<module>`
(graphc's vision models name their layers after torchvision's modules) and is converted
to graphc's layout:

    Conv1D/2D/3D        weight (out, in, *kernel)   -> kernel (*kernel, in, out)
    DepthwiseConv2D     weight (C * M, 1, kh, kw)   -> depthwise_kernel (kh, kw, C, M)
    Dense               weight (out, in)            -> kernel (in, out)
    BatchNormalization  weight, bias                -> gamma, beta
                        running_mean, running_var   -> moving_mean, moving_variance

`bias` keeps its name and shape; `num_batches_tracked` (a counter PyTorch keeps for
momentum=None) is ignored. A Dense layer reading a Flatten of a feature map needs its input
columns permuted: PyTorch flattens NCHW maps channel by channel (c, h, w), graphc NHWC maps
pixel by pixel (h, w, c).

source='graphc': `<layer name>/<weight>` (`layer1.0.conv1/kernel`) in graphc's layout, as
save_weights here writes them (and Model.save_weights, for a model alone in its graph:
it names weights by variable, and a graph's second `conv1` has `conv1_1/kernel`).

save_weights writes either naming; the conversions run backwards for 'torchvision'.

Either way the file must hold exactly the model's weights with the right shapes; anything
missing, unknown or mis-shaped is one ValueError listing all of them. Reading a safetensors
file never executes code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from graphc import layers as tf_layers
from graphc.keras import backend
from graphc.keras.base_layer import history_of
from graphc.keras.layers_conv import DepthwiseConv2D
from graphc.layers.convolutional import Conv, _ConvTranspose, _SeparableConv

SOURCES = ("torchvision", "graphc", "auto")
_IGNORED_SUFFIX = ".num_batches_tracked"
_LISTED = 12  # names shown per category in a mismatch error
_BATCH_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
               "moving_variance": "running_var"}


def _same(value):
    return value


@dataclass(frozen=True)
class Entry:
    """One variable of the model: the file's name for it, the shape the file holds, and
    the conversions between the file's layout and the variable's."""
    name: str
    shape: tuple
    variable: object
    load: Callable = _same  # file layout -> graphc's
    save: Callable = _same  # graphc's layout -> file's


def expected_weights(model, source: str = "torchvision") -> dict:
    """{name in the file: shape in the file} of every weight of `model` (torchvision's
    naming omits num_batches_tracked, which load_weights ignores)."""
    return {e.name: e.shape for e in _entries(model, _check_source(source))}


def load_weights(model, path, source: str = "auto", ignore=()) -> None:
    """Set every weight of `model` from the safetensors file `path`.

    source: 'torchvision' (PyTorch state-dict names and layouts), 'graphc'
    (`<layer>/<weight>` in graphc's layouts) or 'auto' (graphc's names have a '/',
    PyTorch's never do). ignore: prefixes of file names to skip (a classifier's head when
    the model was built without it). A file that does not match the model exactly is a
    ValueError naming the missing, unknown and mis-shaped weights."""
    from graphc.saving.format import TensorFile
    source = _check_source(source)
    prefixes = (ignore,) if isinstance(ignore, str) else tuple(ignore)
    f = TensorFile(str(path))
    names = [n for n in f.names() if not n.startswith(prefixes)]
    if source == "auto":
        source = "graphc" if any("/" in n for n in names) else "torchvision"
    if source == "torchvision":
        names = [n for n in names if not n.endswith(_IGNORED_SUFFIX)]
    entries = _entries(model, source)
    _check_match(model, path, source, entries, {n: f.shape(n) for n in names})
    pairs = [(e.variable, _value(e, f.get(e.name), path)) for e in entries]
    with model.graph_scope():
        backend.batch_set_value(pairs)


def save_weights(model, path, names: str = "graphc") -> None:
    """Write every weight of `model` to the safetensors file `path`, named and laid out as
    load_weights reads them: names='graphc' (`<layer>/<weight>`, whatever the graph's
    variable names) or 'torchvision' (a state dict PyTorch's `load_state_dict` takes, with
    a zero num_batches_tracked per batch norm)."""
    from graphc.saving.format import write_tensors
    if names not in SOURCES[:2]:
        raise ValueError(f"save_weights: names must be 'graphc' or 'torchvision', got "
                         f"{names!r}")
    entries = _entries(model, names)
    with model.graph_scope():
        values = backend.batch_get_value([e.variable for e in entries])
    arrays = {e.name: np.ascontiguousarray(e.save(v)) for e, v in zip(entries, values)}
    if names == "torchvision":
        for name in [n for n in arrays if n.endswith(".running_mean")]:
            arrays[name[:-len(".running_mean")] + _IGNORED_SUFFIX] = np.zeros((), np.int64)
    write_tensors(str(path), arrays)


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"load_weights: source must be one of {SOURCES}, got {source!r}")
    return source


def _value(entry: Entry, array: np.ndarray, path) -> np.ndarray:
    if array.dtype.kind != "f":
        raise ValueError(f"load_weights: {path}: weight '{entry.name}' has dtype "
                         f"{array.dtype}, a floating-point tensor was expected")
    return np.ascontiguousarray(entry.load(array), dtype=entry.variable.dtype.np)


def _check_match(model, path, source: str, entries: list, found: dict) -> None:
    wanted = {e.name: e.shape for e in entries}
    missing = [n for n in wanted if n not in found]
    unknown = [n for n in found if n not in wanted]
    wrong = [f"{n}: file {found[n]}, model expects {wanted[n]}" for n in wanted
             if n in found and tuple(found[n]) != wanted[n]]
    if not (missing or unknown or wrong):
        return
    parts = [f"load_weights: {path} does not match model '{model.name}' "
             f"(source='{source}'):"]
    for title, items in (("missing from the file", missing), ("unknown to the model", unknown),
                         ("wrong shape", wrong)):
        if items:
            shown = ", ".join(items[:_LISTED])
            more = f", ... and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
            parts.append(f"  {title} ({len(items)}): {shown}{more}")
    raise ValueError("\n".join(parts))


# --- the model's side -----------------------------------------------------------------------
def _layers(model) -> list:
    """Every layer holding weights, nested models opened."""
    found = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers"):
            found += _layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def _short(variable) -> str:
    """'kernel' of 'layer1.0.conv1/kernel:0'."""
    return variable.name.rsplit("/", 1)[-1].split(":")[0]


def _entries(model, source: str) -> list:
    entries = []
    for layer in _layers(model):
        if source == "graphc":
            entries += [Entry(f"{layer.name}/{_short(v)}", tuple(v.shape.as_list()), v)
                        for v in layer.weights]
        else:
            entries += _torch_entries(layer)
    seen, repeated = set(), set()
    for e in entries:
        (repeated if e.name in seen else seen).add(e.name)
    if repeated:
        raise ValueError(f"model '{model.name}' has several layers giving the same weight "
                         f"names {sorted(repeated)}: layer names must be unique")
    return entries


def _torch_entries(layer) -> list:
    rule = _torch_rule(layer)
    if rule is None:
        raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) has no PyTorch "
                         f"counterpart graphc can map (Conv1D/2D/3D, DepthwiseConv2D, Dense, "
                         f"BatchNormalization); use graphc's names (source='graphc')")
    entries = []
    for v in layer.weights:
        short, shape = _short(v), tuple(v.shape.as_list())
        if short == "bias":
            entries.append(Entry(f"{layer.name}.bias", shape, v))
        elif short in _BATCH_NORM:
            entries.append(Entry(f"{layer.name}.{_BATCH_NORM[short]}", shape, v))
        else:
            torch_shape, load, save = rule(layer, shape)
            entries.append(Entry(f"{layer.name}.weight", torch_shape, v, load, save))
    return entries


def _torch_rule(layer):
    """(layer, graphc shape) -> (PyTorch shape, load, save) for the layer's main weight."""
    if isinstance(layer, DepthwiseConv2D):  # before Conv: it subclasses Conv2D
        return _depthwise_rule
    if isinstance(layer, tf_layers.BatchNormalization):
        return _batch_norm_rule
    if isinstance(layer, tf_layers.Dense):
        return _dense_rule
    if isinstance(layer, (_ConvTranspose, _SeparableConv)):
        return None
    if isinstance(layer, Conv):
        return _conv_rule
    return None


def _permutation(perm: tuple):
    """(load, save): transposing by perm, and back."""
    back = tuple(np.argsort(perm))
    return (lambda w: np.transpose(w, perm)), (lambda k: np.transpose(k, back))


def _conv_rule(layer, shape):
    """(*kernel, in, out) <-> (out, in, *kernel)."""
    rank = len(shape) - 2
    torch_shape = (shape[-1], shape[-2]) + shape[:-2]
    return (torch_shape, *_permutation(tuple(range(2, rank + 2)) + (1, 0)))


def _depthwise_rule(layer, shape):
    """(kh, kw, C, M) <-> (C * M, 1, kh, kw): PyTorch's output channel c * M + m is input
    channel c's m-th filter, as in graphc."""
    kh, kw, channels, multiplier = shape
    torch_shape = (channels * multiplier, 1, kh, kw)
    return (torch_shape,
            lambda w: w.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1),
            lambda k: k.transpose(2, 3, 0, 1).reshape(torch_shape))


def _batch_norm_rule(layer, shape):
    """Never reached for graphc's BatchNormalization, whose four weights all have PyTorch
    names (_BATCH_NORM); a subclass adding a fifth would land here."""
    raise ValueError(f"layer '{layer.name}': a batch-norm weight of shape {shape} has no "
                     f"PyTorch name")


def _dense_rule(layer, shape):
    """(in, out) <-> (out, in), the inputs reordered between (c, *spatial) and
    (*spatial, c) when the layer reads a flattened feature map."""
    units_in, units = shape
    spatial = _flattened_map(layer)
    if spatial is None or len(spatial) < 2 or int(np.prod(spatial)) != units_in:
        return (units, units_in), np.transpose, np.transpose
    load, save = _permutation((0,) + tuple(range(2, len(spatial) + 1)) + (1,))
    nhwc = (units,) + tuple(spatial[1:]) + (spatial[0],)
    return ((units, units_in),
            lambda w: load(w.reshape((units,) + tuple(spatial))).reshape(units, -1).T,
            lambda k: save(k.T.reshape(nhwc)).reshape(units, -1))


def _flattened_map(layer):
    """(channels, *spatial) of the feature map a Flatten gave `layer` on its first call, or
    None when its input is not a flattened map of known shape."""
    if not getattr(layer, "_inbound_nodes", None) or not layer._inbound_nodes[0].inputs:
        return None
    record = history_of(layer._inbound_nodes[0].inputs[0])
    if record is None or not isinstance(record[0].layer, tf_layers.Flatten):
        return None
    flatten_node = record[0]
    dims = flatten_node.inputs[0].shape.dims[1:] if flatten_node.inputs else []
    if len(dims) < 2 or None in dims:
        return None
    if flatten_node.layer.data_format == "channels_first":
        return tuple(dims)
    return (dims[-1],) + tuple(dims[:-1])
