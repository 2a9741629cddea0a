"""Model checkpoints: weights plus everything needed to rebuild, feed and trace the model.

A checkpoint is one ``torch.save`` file holding ``{"meta": dict, "state_dict": ...}``; the meta
keys are listed in docs/CONVENTIONS.md (``format`` = ``FORMAT``). ``load_checkpoint`` rebuilds the
model from ``meta["arch"]`` and ``meta["model_config"]`` and returns it in eval mode.
"""

from __future__ import annotations

import io

import os
from pathlib import Path
from typing import Any

from portraitkit.errors import UserError
from portraitkit.io import atomic_path

FORMAT = "portraitkit-model/1"
REQUIRED_META = (
    "format", "arch", "model_config", "in_channels", "input_size", "interactive", "click_encoding",
    "normalize", "params_digest", "dataset_fingerprint", "step", "best_val_iou", "params", "macs", "n_params",
)


def save_checkpoint(path: str | os.PathLike, model, meta: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights and ``meta`` atomically. ``extra`` (optimizer state etc.) is for resuming."""
    import torch

    meta = dict(meta)
    meta.setdefault("format", FORMAT)
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"checkpoint meta lacks {missing}")
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    payload = {"meta": meta, "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()}}
    if extra:
        payload["extra"] = extra
    # Serialised in memory first: torch.save names the zip's records after the file it writes, and the
    # atomic temp name is random, so saving to the file directly gives different bytes for equal weights.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def _short_reason(exc: BaseException) -> str:
    """A few words on why torch.load failed (its own texts run to a page of advice)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if text.startswith("Weights only load failed"):
        if "Unsupported global" in text:
            return "pickled Python objects, not only tensors"
        return "not a torch checkpoint file"
    if "zip archive" in text or "central directory" in text:
        return "not a torch zip archive, or a truncated one"
    first = re.split(r"(?<=[.:])\s", text.splitlines()[0] if text else type(exc).__name__)[0]
    return first[:80].rstrip(" .:")


def read_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """The raw payload (meta, state_dict, extra), validated; one-line UserError for a bad file."""

    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load raises many types (KeyError, UnpicklingError, ...) for foreign files
        raise UserError(f"{path}: not a readable portraitkit checkpoint ({_short_reason(exc)})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict) or "state_dict" not in payload:
        raise UserError(f"{path}: not a portraitkit checkpoint (no meta/state_dict)")
    meta = payload["meta"]
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: meta: format: expected {FORMAT!r}, got {meta.get('format')!r}")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise UserError(f"{path}: meta: missing keys {', '.join(missing)}")
    return payload


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu"):
    """(model in eval mode, meta) from a checkpoint written by ``save_checkpoint``."""
    from portraitkit.train.models import build_model

    payload = read_checkpoint(path, map_location)
    meta = payload["meta"]
    config = dict(meta["model_config"])
    try:
        model = build_model(meta["arch"], **config)
        model.load_state_dict(payload["state_dict"])
    except UserError as exc:
        raise UserError(f"{path}: meta: {exc}") from None
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{path}: weights do not fit {meta['arch']} {config} ({first[:160]})") from None
    model.to(map_location)
    model.eval()
    return model, meta
