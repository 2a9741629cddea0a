"""How to feed a model file and read its output: the *input spec*, and where it comes from.

Our checkpoints carry their spec. For any other file (an export, a third-party segmenter) the spec
is assembled from, in this order, each source filling only what the earlier ones left open:

1. the command line (``--input-size --layout --normalize --resize --output-channel --output``);
2. ``--spec-from FILE``: a portraitkit ``.pt`` checkpoint or a JSON file holding a spec object;
3. ``export.json`` beside the model: a top-level ``input_spec`` object, or one in the entry whose
   ``file`` (or ``path`` / ``name``) is the model's file name (that one wins);
4. the file's own static input shape (size, layout and channel count, when unambiguous).

``normalize`` and ``output`` have no safe default: a foreign file without them is an error that
says which options to give.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from portraitkit.errors import UserError

Layout = Literal["nchw", "nhwc"]
Normalize = Literal["0-1", "-1-1", "imagenet"]
Resize = Literal["letterbox", "stretch"]
OutputKind = Literal["logits", "probabilities"]

LAYOUTS: tuple[str, ...] = get_args(Layout)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalize)
RESIZES: tuple[str, ...] = get_args(Resize)
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SPEC_KEYS = ("input_size", "layout", "normalize", "resize", "output_channel", "output", "in_channels", "click_encoding")


@dataclass(frozen=True)
class InputSpec:
    """Everything the harness needs to turn a photo into the model's input and its output into a mask."""

    input_size: tuple[int, int]  # (height, width) of the model's input
    layout: str = "nchw"
    normalize: str = "0-1"
    resize: str = "letterbox"
    output_channel: int = 0
    output: str = "logits"
    in_channels: int = 3
    click_encoding: dict[str, Any] | None = None  # set for interactive models (in_channels 5)

    @property
    def interactive(self) -> bool:
        return self.click_encoding is not None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        h, w = self.input_size
        d["input_size"] = h if h == w else [h, w]
        return d


@dataclass
class PartialSpec:
    """A spec being assembled: None = not known yet."""

    input_size: tuple[int, int] | None = None
    layout: str | None = None
    normalize: str | None = None
    resize: str | None = None
    output_channel: int | None = None
    output: str | None = None
    in_channels: int | None = None
    click_encoding: dict[str, Any] | None = None
    sources: dict[str, str] | None = None  # key -> where its value came from

    def fill(self, values: dict[str, Any], source: str, where: str) -> "PartialSpec":
        """Take the keys of ``values`` this spec does not know yet, validated; ``where`` names the source in errors."""
        known = {f.name for f in fields(self)} - {"sources"}
        out = replace(self, sources=dict(self.sources or {}))
        for key, value in values.items():
            if key not in known or value is None or getattr(out, key) is not None:
                continue
            setattr(out, key, _check(key, value, where))
            out.sources[key] = source
        return out

    def finish(self, model: Path) -> InputSpec:
        missing = [k for k in ("input_size", "normalize", "output") if getattr(self, k) is None]
        if missing:
            opts = " ".join(f"--{k.replace('_', '-')}" for k in missing)
            raise UserError(
                f"{model}: no input spec for {', '.join(missing)} (the file is not ours and states nothing): "
                f"give {opts} (or --spec-from a checkpoint / spec JSON)"
            )
        spec = InputSpec(
            input_size=self.input_size,
            layout=self.layout or "nchw",
            normalize=self.normalize,
            resize=self.resize or "letterbox",
            output_channel=self.output_channel if self.output_channel is not None else 0,
            output=self.output,
            in_channels=self.in_channels or (5 if self.click_encoding else 3),
            click_encoding=self.click_encoding,
        )
        h, w = spec.input_size
        if spec.resize == "letterbox" and h != w:
            raise UserError(f"{model}: letterbox needs a square input, the model takes {w}x{h}: give --resize stretch")
        if spec.in_channels not in (3, 5):
            raise UserError(f"{model}: {spec.in_channels} input channels; the harness feeds 3 (RGB) or 5 (RGB + clicks)")
        if spec.in_channels == 5 and spec.click_encoding is None:
            raise UserError(f"{model}: 5 input channels but no click_encoding in its spec (--spec-from a spec JSON)")
        return spec


def _check(key: str, value: Any, where: str) -> Any:
    def bad(expected: str) -> UserError:
        return UserError(f"{where}: {key}: expected {expected} (got {value!r})")

    choices = {"layout": LAYOUTS, "normalize": NORMALIZATIONS, "resize": RESIZES, "output": OUTPUT_KINDS}
    if key in choices:
        if value not in choices[key]:
            raise bad("one of " + "|".join(choices[key]))
        return value
    if key == "input_size":
        if isinstance(value, bool):
            raise bad("a size in pixels")
        if isinstance(value, int):
            value = (value, value)
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            if min(value) < 8:
                raise bad("at least 8 pixels")
            return (int(value[0]), int(value[1]))
        raise bad("an int or [height, width]")
    if key in ("output_channel", "in_channels"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("a non-negative int")
        return value
    if key == "click_encoding":
        if not isinstance(value, dict) or value.get("kind") not in ("distance", "disk"):
            raise bad('{"kind": "distance"|"disk", ...}')
        return dict(value)
    return value


def spec_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Spec values of a portraitkit checkpoint's meta (our models: NCHW, 0-1, letterbox, logits)."""
    out: dict[str, Any] = {
        "input_size": meta.get("input_size"),
        "layout": "nchw",
        "normalize": "0-1" if meta.get("normalize", "0-1") == "0-1" else meta.get("normalize"),
        "resize": "letterbox",
        "output_channel": 0,
        "output": "logits",
        "in_channels": meta.get("in_channels"),
        "click_encoding": meta.get("click_encoding") if meta.get("interactive") else None,
    }
    return out


def _spec_for_file(node: Any, name: str) -> dict[str, Any] | None:
    """The ``input_spec`` of the entry naming ``name`` anywhere in an export.json tree."""
    if isinstance(node, dict):
        for k in ("file", "path", "name"):
            v = node.get(k)
            if isinstance(v, str) and Path(v).name == name and isinstance(node.get("input_spec"), dict):
                return node["input_spec"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _spec_for_file(child, name)
        if found is not None:
            return found
    return None


def export_json_spec(model: Path) -> tuple[dict[str, Any], str] | None:
    """(spec values, where) from ``export.json`` beside ``model``, or None."""
    from portraitkit.io import read_json

    path = model.parent / "export.json"
    if not path.is_file():
        return None
    data = read_json(path)
    merged: dict[str, Any] = {}
    own = _spec_for_file(data, model.name)
    if own:
        merged.update(own)
    if isinstance(data, dict) and isinstance(data.get("input_spec"), dict):
        merged = {**data["input_spec"], **merged}
    return (merged, str(path)) if merged else None


def read_spec_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(spec values, checkpoint meta or None) of a ``--spec-from`` file: a ``.pt`` checkpoint or a JSON spec."""
    from portraitkit.io import read_json

    if not path.is_file():
        raise UserError(f"{path}: --spec-from file not found")
    if path.suffix == ".pt":
        from portraitkit.train.evaluation.runners import load_portraitkit_checkpoint

        _, meta = load_portraitkit_checkpoint(path, device="cpu")
        return spec_from_meta(meta), meta
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: a spec JSON must be an object with keys {', '.join(SPEC_KEYS)}")
    if isinstance(data.get("input_spec"), dict):
        data = data["input_spec"]
    unknown = sorted(set(data) - set(SPEC_KEYS) - {"dataset_fingerprint", "source_checkpoint"})
    if unknown:
        raise UserError(f"{path}: unknown spec key(s) {', '.join(unknown)} (known: {', '.join(SPEC_KEYS)})")
    return data, None


def shape_spec(shape: list[Any]) -> dict[str, Any]:
    """Size / layout / channels read off a static 4-D input shape, where unambiguous."""
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        return {}
    _, a, b, c = shape
    if a in (3, 5) and c not in (3, 5):
        return {"layout": "nchw", "in_channels": a, "input_size": (b, c)}
    if c in (3, 5) and a not in (3, 5):
        return {"layout": "nhwc", "in_channels": c, "input_size": (a, b)}
    return {}
