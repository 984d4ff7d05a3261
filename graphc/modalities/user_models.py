"""A user's model in a conversion pipeline: an ONNX file (graphc.onnx, the extra
graphc[onnx]) or a graphc saved-model directory (graphc.saved_model), with one input and
the first output used, and the files that travel beside it:

- a tokenizer, for models that read or write token ids: `<model stem>.tokenizer.json` beside
  a model file, `tokenizer.json` inside a saved-model directory (graphc/modalities/text.py);
- class labels, for classifiers: `<model stem>.labels.txt` beside a file, `labels.txt` inside
  a directory, one label per line.

The conventions the pipelines feed and read (docs/modalities.md):

- images go in as float32 in [0, 1], [1, height, width, channels] (or [1, channels,
  height, width] when the model's input says channels-first), resized to the model's
  input size when it is fixed and given as many channels as it takes;
- images come out as [1, h, w, c], [h, w, c], [1, c, h, w] (c in 1, 3, 4) floats in [0, 1]
  or uint8; video as [1, t, h, w, c] or [t, h, w, c]; audio as [1, n] or [n] in [-1, 1];
- token ids go in as [1, length] in the model's integer dtype, padded (or cut) to the
  model's fixed length when it has one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphc.modalities.compiled import resize01, to_uint8


class UserModel:
    """A loaded model with one input: `model(array) -> first output` as numpy."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            from graphc.saving.saved_model import is_saved_model, load
            if not is_saved_model(self.path):
                raise ValueError(f"model {str(path)!r}: a folder must be a graphc saved model "
                                 f"(graphc.saved_model.save)")
            self._model = load(str(self.path))
            inputs = self._model.inputs
            if len(inputs) != 1:
                raise ValueError(f"model {str(path)!r} takes {len(inputs)} inputs "
                                 f"({', '.join(inputs)}); a conversion feeds one")
            (self._input, tensor), = inputs.items()
            self.input_shape = tensor.shape.as_list() if tensor.shape.ndims is not None \
                else None
            self.input_dtype = np.dtype(tensor.dtype.np)
            self._output = next(iter(self._model.outputs))
        elif self.path.is_file() and self.path.suffix.lower() == ".onnx":
            import graphc.onnx
            self._model = graphc.onnx.load(str(self.path))
            proto = self._model.proto
            inits = {t.name for t in proto.graph.initializer}
            inputs = [vi for vi in proto.graph.input if vi.name not in inits]
            if len(inputs) != 1:
                raise ValueError(f"model {str(path)!r} takes {len(inputs)} inputs "
                                 f"({', '.join(vi.name for vi in inputs)}); a conversion "
                                 f"feeds one")
            import onnx.helper
            tensor_type = inputs[0].type.tensor_type
            self._input = inputs[0].name
            self.input_shape = [d.dim_value if d.HasField("dim_value") else None
                                for d in tensor_type.shape.dim] \
                if tensor_type.HasField("shape") else None
            self.input_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(
                tensor_type.elem_type))
            self._output = None
        elif not self.path.exists():
            raise FileNotFoundError(f"model {str(path)!r} does not exist")
        else:
            raise ValueError(f"model {str(path)!r}: expected an .onnx file or a graphc "
                             f"saved-model folder")
        self._tokenizer = None

    def __repr__(self):
        return f"UserModel({str(self.path)!r}, input {self.input_shape} {self.input_dtype})"

    def __call__(self, array) -> np.ndarray:
        array = np.asarray(array).astype(self.input_dtype, copy=False)
        if self._output is None:
            return np.asarray(self._model(array)[0])
        return np.asarray(self._model(**{self._input: array})[self._output])

    # --- files beside the model ----------------------------------------------------------
    def _beside(self, name: str) -> Path:
        return self.path / name if self.path.is_dir() else \
            self.path.with_name(f"{self.path.stem}.{name}")

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from graphc.modalities import text
            self._tokenizer = text.load_beside(self.path)
        return self._tokenizer

    def labels(self) -> list:
        path = self._beside("labels.txt")
        if not path.is_file():
            raise FileNotFoundError(f"model {str(self.path)!r} gives class scores; its labels "
                                    f"belong in {str(path)!r}, one per line")
        return path.read_text(encoding="utf-8").splitlines()

    # --- the pipelines' conventions ------------------------------------------------------
    def _image_layout(self):
        """(channels_first, height, width, channels) the model's image input fixes (None
        where free)."""
        shape = self.input_shape
        if shape is None or len(shape) != 4:
            raise ValueError(f"model {str(self.path)!r}: an image model takes [1, height, "
                             f"width, channels] (or channels first), its input is {shape}")
        first = shape[1] in (1, 3, 4) and shape[3] not in (1, 3, 4)
        _, a, b, c = shape
        return (True, b, c, a) if first else (False, a, b, c)

    def image_input(self, image: np.ndarray) -> np.ndarray:
        first, height, width, channels = self._image_layout()
        image = np.asarray(image, np.uint8)
        if channels is not None and image.shape[-1] != channels:
            image = _channels(image, channels)
        height = height or image.shape[0]
        width = width or image.shape[1]
        x = resize01(image[None], height, width)
        return np.transpose(x, (0, 3, 1, 2)) if first else x

    def ids_input(self, text: str) -> np.ndarray:
        ids = list(self.tokenizer.encode(text))
        if not ids:
            raise ValueError(f"model {str(self.path)!r}: the text encodes to no tokens")
        fixed = self.input_shape[-1] if self.input_shape else None
        if fixed:
            pad = getattr(self.tokenizer, "pad_id", 0) or 0
            ids = (ids + [pad] * fixed)[:fixed]
        return np.asarray([ids])


def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    c = image.shape[-1]
    color = image[..., :3] if c >= 3 else np.repeat(image[..., :1], 3, -1)
    if channels == 1:
        gray = color.astype(np.float32) @ np.array([0.2989, 0.587, 0.114], np.float32)
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None]
    if channels == 3:
        return color
    alpha = image[..., -1:] if c in (2, 4) else np.full(image.shape[:-1] + (1,), 255, np.uint8)
    return np.concatenate([color, alpha], -1)


def image_output(array, what: str) -> np.ndarray:
    """A model's image output as uint8 [h, w, c]."""
    a = np.asarray(array)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{what}: expected an image [1, h, w, c] or [h, w, c], got "
                         f"{list(np.shape(array))}")
    return a if a.dtype == np.uint8 else to_uint8(a)


def frames_output(array, what: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 5 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4) or len(a) == 0:
        raise ValueError(f"{what}: expected frames [1, t, h, w, c] or [t, h, w, c], got "
                         f"{list(np.shape(array))}")
    return a if a.dtype == np.uint8 else to_uint8(a)


def waveform_output(array, what: str) -> np.ndarray:
    a = np.asarray(array, np.float32)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(f"{what}: expected a waveform [1, n] or [n], got "
                         f"{list(np.shape(array))}")
    return np.clip(a, -1.0, 1.0)
