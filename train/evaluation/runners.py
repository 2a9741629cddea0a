"""One ``Runner`` for every model file the harness scores: our ``.pt`` checkpoints, ``.onnx`` files
(onnxruntime) and ``.tflite`` files (the LiteRT interpreter).

A runner takes one RGB photo (uint8, H x W x 3, plus clicks for interactive models) and returns the
person probability at the photo's own resolution: the photo is letterboxed (or stretched) to the
model's input size, normalised and laid out as its spec says; the chosen output channel is turned
into a probability, resized to the input size if the model's output is smaller, and the letterbox
(or stretch) is undone. Thresholding is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from portraitkit.errors import UserError
from portraitkit.train.evaluation.spec import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    PartialSpec,
    export_json_spec,
    read_spec_file,
    shape_spec,
    spec_from_meta,
)

FORMATS = {".pt": "pt", ".onnx": "onnx", ".tflite": "tflite"}


@dataclass
class ModelFile:
    path: Path
    format: str
    size_bytes: int
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)  # checkpoint meta (ours), else empty

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path.name, "format": self.format, "size_bytes": self.size_bytes, "sha256": self.sha256}


def model_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r} (expected .pt, .onnx or .tflite)")
    return fmt


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def load_portraitkit_checkpoint(path: Path, device: str = "cpu"):
    """(model in eval mode, meta) of one of our checkpoints, or a one-line UserError."""
    try:
        from portraitkit.train.checkpoint import load_checkpoint
    except ImportError as exc:  # the train package is part of this install; only a broken install gets here
        raise UserError(f"{path}: cannot load checkpoints ({_first_line(exc)})") from None
    try:
        model, meta = load_checkpoint(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read a user's file is reported in one line
        raise UserError(f"{path}: not a readable portraitkit checkpoint ({_first_line(exc)})") from None
    if not isinstance(meta, dict) or "input_size" not in meta:
        raise UserError(f"{path}: checkpoint has no input_size in its meta (not a portraitkit model?)")
    model.eval()
    return model.to(device), meta


# ---------------------------------------------------------------- geometry: photo <-> model input


@dataclass
class Placement:
    """How a photo was fitted into the model input, so a probability map can be put back."""

    height: int
    width: int
    undo: Callable[[np.ndarray], np.ndarray]  # input-size probability -> photo-size probability
    to_input: Callable[[np.ndarray], np.ndarray]  # any photo-size H x W plane -> input-size plane


def place(rgb: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Placement]:
    """(C x h x w float32 RGB in [0, 1] at the input size, placement)."""
    import cv2

    height, width = rgb.shape[:2]
    ih, iw = spec.input_size
    if spec.resize == "letterbox":
        from portraitkit.train.letterbox import letterbox_image, letterbox_mask, unletterbox

        chw, lb = letterbox_image(rgb, ih)
        chw = np.asarray(chw, np.float32)

        def plane_to_input(plane: np.ndarray) -> np.ndarray:
            return np.asarray(letterbox_mask(np.asarray(plane, np.uint8), lb))

        return chw, Placement(height, width, lambda prob: np.asarray(unletterbox(prob, lb), np.float32), plane_to_input)
    small = cv2.resize(rgb, (iw, ih), interpolation=cv2.INTER_AREA if ih * iw < height * width else cv2.INTER_LINEAR)
    chw = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32) / 255.0
    return chw, Placement(
        height,
        width,
        lambda prob: cv2.resize(np.asarray(prob, np.float32), (width, height), interpolation=cv2.INTER_LINEAR),
        lambda plane: cv2.resize(plane, (iw, ih), interpolation=cv2.INTER_NEAREST),
    )


def normalize(chw: np.ndarray, how: str) -> np.ndarray:
    if how == "0-1":
        return chw
    if how == "-1-1":
        return chw * 2.0 - 1.0
    if how == "imagenet":
        mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
        std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
        return (chw - mean) / std
    raise ValueError(f"unknown normalisation {how!r}")


def to_probability(raw: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    """The chosen output channel of one sample's raw output as an h x w probability map."""
    a = np.asarray(raw, np.float32)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise UserError(f"{where}: output batch of {a.shape[0]} for one image (output shape {list(a.shape)})")
        a = a[0]
    if a.ndim == 3:
        axis = 0 if spec.layout == "nchw" else 2
        if a.shape[axis] <= spec.output_channel:
            raise UserError(
                f"{where}: output has {a.shape[axis]} channel(s) on the {spec.layout} channel axis "
                f"(output shape {list(a.shape)}); --output-channel {spec.output_channel} does not exist"
            )
        a = np.take(a, spec.output_channel, axis=axis)
    elif a.ndim != 2:
        raise UserError(f"{where}: cannot read a mask from an output of shape {list(np.shape(raw))}")
    if spec.output == "logits":
        a = 1.0 / (1.0 + np.exp(-np.clip(a, -80.0, 80.0)))
    elif a.min(initial=0.0) < -1e-3 or a.max(initial=0.0) > 1.0 + 1e-3:
        raise UserError(f"{where}: --output probabilities, but the output spans {a.min():.3g}..{a.max():.3g}: use --output logits")
    ih, iw = spec.input_size
    if a.shape != (ih, iw):
        import cv2

        a = cv2.resize(np.ascontiguousarray(a), (iw, ih), interpolation=cv2.INTER_LINEAR)
    return np.clip(a, 0.0, 1.0)


# ---------------------------------------------------------------- runners


class Runner:
    """Base: subclasses implement ``_forward(image NCHW-or-NHWC, clicks or None) -> raw output``."""

    def __init__(self, model: ModelFile, spec: InputSpec) -> None:
        self.model = model
        self.spec = spec

    @property
    def interactive(self) -> bool:
        return self.spec.interactive

    def click_planes(self, placement: Placement, positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
        """2 x h x w float32 click channels (positives, negatives) at the input size."""
        from portraitkit.train.evaluation.clickmaps import click_planes

        return click_planes(self.spec, placement, positives, negatives)

    def predict(self, rgb: np.ndarray, positives: np.ndarray | None = None, negatives: np.ndarray | None = None) -> np.ndarray:
        """Person probability (H x W float32 in [0, 1]) of one uint8 RGB photo."""
        chw, placement = place(rgb, self.spec)
        image = normalize(chw, self.spec.normalize)
        clicks = None
        if self.interactive:
            pos = np.zeros((0, 2), np.int64) if positives is None else np.asarray(positives, np.int64).reshape(-1, 2)
            neg = np.zeros((0, 2), np.int64) if negatives is None else np.asarray(negatives, np.int64).reshape(-1, 2)
            clicks = self.click_planes(placement, pos, neg)
        if self.spec.layout == "nhwc":
            image = image.transpose(1, 2, 0)
            clicks = clicks.transpose(1, 2, 0) if clicks is not None else None
        image = np.ascontiguousarray(image[None], np.float32)
        clicks = np.ascontiguousarray(clicks[None], np.float32) if clicks is not None else None
        raw = self._forward(image, clicks)
        prob = to_probability(raw, self.spec, str(self.model.path))
        return placement.undo(prob)

    def _forward(self, image: np.ndarray, clicks: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError


class TorchRunner(Runner):
    def __init__(self, model: ModelFile, spec: InputSpec, module: Any, device: str) -> None:
        super().__init__(model, spec)
        self.module = module
        self.device = device

    def _forward(self, image: np.ndarray, clicks: np.ndarray | None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(image).to(self.device)
            if clicks is None:
                out = self.module(x)
            else:
                c = torch.from_numpy(clicks).to(self.device)
                out = self.module(torch.cat([x, c], dim=1))  # the model contract: one N x 5 x H x W input
            return out.float().cpu().numpy()


class OnnxRunner(Runner):
    def __init__(self, model: ModelFile, spec: InputSpec, session: Any) -> None:
        super().__init__(model, spec)
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]
        self.output = session.get_outputs()[0].name

    def _forward(self, image: np.ndarray, clicks: np.ndarray | None) -> np.ndarray:
        feeds = _feeds(self.inputs, image, clicks, self.spec.layout, str(self.model.path))
        return self.session.run([self.output], feeds)[0]


class TFLiteRunner(Runner):
    def __init__(self, model: ModelFile, spec: InputSpec, interpreter: Any) -> None:
        super().__init__(model, spec)
        self.interpreter = interpreter
        self.inputs = interpreter.get_input_details()
        self.output = interpreter.get_output_details()[0]

    def _forward(self, image: np.ndarray, clicks: np.ndarray | None) -> np.ndarray:
        feeds = _feeds([d["name"] for d in self.inputs], image, clicks, self.spec.layout, str(self.model.path))
        for detail in self.inputs:
            value = feeds[detail["name"]]
            if tuple(detail["shape"]) != value.shape:
                raise UserError(
                    f"{self.model.path}: input {detail['name']!r} is {list(detail['shape'])}, the spec gives "
                    f"{list(value.shape)}: check --input-size / --layout"
                )
            self.interpreter.set_tensor(detail["index"], _quantize(value, detail))
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)


def _feeds(names: list[str], image: np.ndarray, clicks: np.ndarray | None, layout: str, where: str) -> dict[str, np.ndarray]:
    """One input: image (+ clicks) stacked on the channel axis; two: image, clicks; three: image, positives, negatives."""
    axis = 1 if layout == "nchw" else 3
    if len(names) == 1:
        return {names[0]: image if clicks is None else np.concatenate([image, clicks], axis=axis)}
    if clicks is None:
        raise UserError(f"{where}: the model has {len(names)} inputs ({', '.join(names)}) but its spec is not interactive")
    if len(names) == 2:
        return {names[0]: image, names[1]: clicks}
    if len(names) == 3:
        pos, neg = np.split(clicks, 2, axis=axis)
        return {names[0]: image, names[1]: np.ascontiguousarray(pos), names[2]: np.ascontiguousarray(neg)}
    raise UserError(f"{where}: the model has {len(names)} inputs; the harness feeds 1 to 3")


def _quantize(value: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return value.astype(dtype)
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        raise UserError(f"input {detail['name']!r} is {np.dtype(dtype).name} without quantisation parameters")
    info = np.iinfo(dtype)
    return np.clip(np.round(value / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(value.dtype, np.floating):
        return value
    scale, zero = detail.get("quantization", (0.0, 0))
    return (value.astype(np.float32) - zero) * (scale or 1.0)


# ---------------------------------------------------------------- opening a model file


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r}: CUDA is not available here (use --device cpu or auto)")
    return device


def _onnx_input_shapes(session: Any) -> list[list[Any]]:
    return [list(i.shape) for i in session.get_inputs()]


def open_runner(
    path: str | Path,
    cli_spec: dict[str, Any] | None = None,
    spec_from: Path | None = None,
    device: str = "auto",
    threads: int = 1,
) -> Runner:
    """A runner for ``path``; the spec is assembled as :mod:`.spec` describes."""
    from portraitkit.io import sha256_file

    path = Path(path)
    fmt = model_format(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    model = ModelFile(path, fmt, path.stat().st_size, sha256_file(path))
    partial = PartialSpec().fill(cli_spec or {}, "command line", "command line")

    if fmt == "pt":
        import torch

        torch.set_num_threads(max(1, int(threads)))
        dev = _resolve_device(device)
        module, meta = load_portraitkit_checkpoint(path, dev)
        model.meta = dict(meta)
        # our checkpoint states its own spec; command-line options cannot contradict how it was trained
        own = spec_from_meta(meta)
        for key, value in (cli_spec or {}).items():
            if value is not None and own.get(key) is not None and _norm(key, value) != _norm(key, own[key]):
                raise UserError(f"{path}: --{key.replace('_', '-')} {value} contradicts the checkpoint's {key} {own[key]!r}")
        spec = PartialSpec().fill(own, "checkpoint", str(path)).finish(path)
        return TorchRunner(model, spec, module, dev)

    if spec_from is not None:
        values, meta = read_spec_file(Path(spec_from))
        partial = partial.fill(values, f"--spec-from {spec_from}", str(spec_from))
        if meta:
            model.meta = {"spec_from": dict(meta)}
    found = export_json_spec(path)
    if found is not None:
        partial = partial.fill(found[0], found[1], found[1])

    if fmt == "onnx":
        try:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, int(threads))
            opts.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from None
        shapes = _onnx_input_shapes(session)
        partial = partial.fill(_shape_values(shapes), "model input shape", str(path))
        return OnnxRunner(model, partial.finish(path), session)

    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=max(1, int(threads)))
        interpreter.allocate_tensors()
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path}: not a readable TFLite model ({_first_line(exc)})") from None
    shapes = [[int(d) for d in det["shape"]] for det in interpreter.get_input_details()]
    partial = partial.fill(_shape_values(shapes), "model input shape", str(path))
    return TFLiteRunner(model, partial.finish(path), interpreter)


def _shape_values(shapes: list[list[Any]]) -> dict[str, Any]:
    if not shapes:
        return {}
    values = shape_spec(shapes[0])
    if len(shapes) > 1 and values:
        values["in_channels"] = 5  # image + click inputs
    return values


def _norm(key: str, value: Any) -> Any:
    if key == "input_size" and isinstance(value, int):
        return (value, value)
    if isinstance(value, list):
        return tuple(value)
    return value
