"""The export stage: one trained checkpoint -> ONNX, TFLite (fp32, int8, weight-only int8) and Core ML
(fp16, 8-bit weights), each checked against its device targets (``train/targets/*.yaml``).

Data: the int8 activation ranges are calibrated on the first ``export.calibration_images`` train
images (by id); parity runs on the first ``export.parity_images`` val images, topped up from test,
then train, then mirrored copies when val is smaller (the reason says how many of each). Everything is letterboxed
to the checkpoint's input size exactly as training and evaluation do.

int8 logit guard: when the PyTorch logits on the calibration images reach beyond
``export.int8_logit_limit``, the int8 file is converted from the model with its logits clamped to
``export.int8_logit_clamp`` (``convert.LogitClamp``): a range of hundreds rounds every small logit
to zero under int8. export.json ``int8_guard`` records the range seen and whether it fired.

Core ML: converted and checked (ops of the MIL program, io types, spec version, size) on any
system; parity and latency run through ``predict()`` on macOS only, elsewhere they are
"not-checkable-here", never a pass.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from portraitkit.cli_common import info
from portraitkit.errors import UserError
from portraitkit.io import sha256_file, sha256_tree, write_json
from portraitkit.params.base import data_dump
from portraitkit.train.export import contract as C

STAGE = "export"

FILE_FORMATS = {
    C.ONNX: ("onnx", "fp32"),
    C.TFLITE_FP32: ("tflite", "fp32"),
    C.TFLITE_INT8: ("tflite", "int8"),
    C.TFLITE_W8: ("tflite", "w8"),
    C.COREML_FP16: ("coreml", "fp16"),
    C.COREML_W8: ("coreml", "w8"),
}
W8_RECIPE = "weight_only_wi8_afp32"  # ai-edge-quantizer: int8 weights dequantised at load, fp32 compute


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


def load_samples(curated: Path, images: Path, meta: dict[str, Any], clicks: Path | None,
                 calibration: int, parity: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(calibration inputs, parity inputs, parity images per split): N x C x S x S float32."""
    from portraitkit.train.training import load_interactive_split, load_split

    size = int(meta["input_size"])
    if meta.get("interactive"):
        if clicks is None:
            raise UserError("--clicks: the model is interactive (5 input channels): give the clicks stage's --out folder")

        def load(split: str, n: int) -> np.ndarray:
            return load_interactive_split(curated, images, clicks, split, size, limit=n).x
    else:
        def load(split: str, n: int) -> np.ndarray:
            return load_split(curated, images, split, size, limit=n).x

    calib = load("train", calibration)
    if len(calib) == 0:
        raise UserError(f"{curated / 'train.json'}: the train split holds no images to calibrate int8 on")
    parts, counts = [], {}
    for split in ("val", "test", "train"):
        need = parity - sum(len(x) for x in parts)
        if need <= 0:
            break
        x = load(split, need)
        if len(x):
            parts.append(x)
            counts[split] = int(len(x))
    if not parts:
        raise UserError(f"{curated}: no val, test or train images to compare the exports with")
    x = np.concatenate(parts)
    # A small dataset (the demo) has fewer images than parity_images: mirrored copies make up the
    # rest (other inputs for the same comparison), counted apart in the reason.
    extra = [np.ascontiguousarray(x[i % len(x)][..., ::-1] if (i // len(x)) % 2 == 0 else x[i % len(x)][..., ::-1, :])
             for i in range(parity - len(x))]
    if extra:
        counts["mirrored"] = len(extra)
        x = np.concatenate([x, np.stack(extra)])
    return calib, x, counts


def _logits(model, x: np.ndarray, batch: int = 8) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(x[i : i + batch])).float().numpy() for i in range(0, len(x), batch)])


def _input_spec(meta: dict[str, Any], layout: str) -> dict[str, Any]:
    from portraitkit.train.evaluation.spec import spec_from_meta

    return {**spec_from_meta(meta), "layout": layout}


def _file_entry(folder: Path, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    path = folder / name
    fmt, precision = FILE_FORMATS[name]
    from portraitkit.train.export.convert import dir_size

    entry = {"file": name, "format": fmt, "precision": precision, "size_bytes": dir_size(path),
             "sha256": sha256_tree(path) if path.is_dir() else sha256_file(path),
             "sha256_of": "tree" if path.is_dir() else "file"}
    if fmt == "onnx":
        entry["input_spec"] = _input_spec(meta, "nchw")
    elif fmt == "tflite":
        entry["input_spec"] = _input_spec(meta, "nhwc")  # to_channel_last_io: NHWC input and output
    else:
        entry["input_spec"] = _input_spec(meta, "nchw")
    return entry


def _flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A target row with its headline numbers beside the checks (what DVC metrics and the report show)."""
    checks = row["checks"]

    def value(check: str, key: str | None = None):
        v = checks.get(check, {}).get("value")
        if key is None:
            return v if isinstance(v, (int, float)) else None
        return v.get(key) if isinstance(v, dict) else None

    out = {k: row[k] for k in ("target", "file", "format", "precision", "verdict", "reasons")}
    out.update(size_bytes=value("size"), iou=value("parity", "iou"), max_dp=value("parity", "max_dp"),
               latency_median_ms=value("latency", "median_ms"), latency_p90_ms=value("latency", "p90_ms"),
               checks=checks)
    return out


def attempter(folder: Path, errors: dict[str, str], log: Callable[[str], None] = info) -> Callable[..., bool]:
    """``attempt(files, what, fn)``: run one conversion; a failure is recorded in ``errors`` for each of
    ``files`` (whose partial output is removed), not raised: the targets reading them then fail with it."""

    def attempt(names: tuple[str, ...], what: str, fn: Callable[[], None]) -> bool:
        log(f"export: {what}")
        try:
            with _quiet_progress():
                fn()
            return True
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed conversion is a finding, reported per target
            for name in names:
                errors[name] = f"{what} failed: {_first_line(exc)}"
                target = folder / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            return False

    return attempt


@contextlib.contextmanager
def _quiet_progress():
    """The converters' own tqdm bars off (TQDM_DISABLE sets tqdm's default; our bars pass ``disable`` themselves)."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def int8_guard(model, calib: np.ndarray, p) -> dict[str, Any]:
    """The PyTorch logit range on the calibration images, and whether it is beyond ``int8_logit_limit``."""
    logits = _logits(model, calib)
    lo, hi = float(logits.min()), float(logits.max())
    fired = max(abs(lo), abs(hi)) > p.int8_logit_limit
    return {"calibration_logit_min": round(lo, 4), "calibration_logit_max": round(hi, 4),
            "limit": p.int8_logit_limit, "clamp": p.int8_logit_clamp if fired else None, "fired": fired}


def export_int8(prepared, calib: np.ndarray, folder: Path, p, attempt: Callable[..., bool],
                log: Callable[[str], None] = info) -> dict[str, Any]:
    """``model_int8.tflite`` (full-integer, calibrated) from ``folder``'s fp32 file, or from the clamped
    model when the logit guard fires; returns the guard record."""
    import torch

    from portraitkit.train.export import convert

    guard = int8_guard(prepared, calib, p)
    calibration = [(calib[i : i + 1],) for i in range(len(calib))]
    sample = (torch.from_numpy(np.ascontiguousarray(calib[:1])),)
    with tempfile.TemporaryDirectory(prefix="portraitkit-export-") as scratch:
        source: Path | None = folder / C.TFLITE_FP32
        if guard["fired"]:
            log(f"export: int8 logit guard: calibration logits span {guard['calibration_logit_min']:.1f}.."
                f"{guard['calibration_logit_max']:.1f}, beyond +-{p.int8_logit_limit:g}: the int8 file's logits "
                f"are clamped to +-{p.int8_logit_clamp:g}")
            source = Path(scratch) / "clamped_fp32.tflite"
            clamped = convert.LogitClamp(prepared, p.int8_logit_clamp).eval()
            if not attempt((C.TFLITE_INT8,), "TFLite fp32 of the clamped model",
                           lambda: convert.export_tflite_fp32(clamped, sample, source)):
                source = None
        if source is not None:
            attempt((C.TFLITE_INT8,), f"TFLite int8 ({p.int8_recipe}, {len(calibration)} calibration images)",
                    lambda: convert.quantize_tflite(source, folder / C.TFLITE_INT8, p.int8_recipe, calibration))
    return guard


def convert_all(model, meta: dict[str, Any], calib: np.ndarray, folder: Path, params,
                log: Callable[[str], None] = info) -> tuple[dict[str, str], dict[str, Any]]:
    """Write every model file into ``folder``; (file -> error of the conversions that failed, int8 guard)."""
    import torch

    from portraitkit.train.export import convert

    p = params.export
    prepared = convert.prepare(model)
    sample = (torch.from_numpy(np.ascontiguousarray(calib[:1])),)
    errors: dict[str, str] = {}

    attempt = attempter(folder, errors, log)

    attempt((C.ONNX,), "ONNX (torch.onnx dynamo)", lambda: convert.export_onnx(prepared, sample, folder / C.ONNX))
    fp32_ok = attempt((C.TFLITE_FP32,), "TFLite fp32 (litert-torch)",
                      lambda: convert.export_tflite_fp32(prepared, sample, folder / C.TFLITE_FP32))

    if not fp32_ok:
        errors[C.TFLITE_INT8] = errors[C.TFLITE_W8] = f"no fp32 TFLite to quantise ({errors[C.TFLITE_FP32]})"
        guard = int8_guard(prepared, calib, p)
    else:
        guard = export_int8(prepared, calib, folder, p, attempt, log)
        attempt((C.TFLITE_W8,), f"TFLite weight-only int8 ({W8_RECIPE})",
                lambda: convert.quantize_tflite(folder / C.TFLITE_FP32, folder / C.TFLITE_W8, W8_RECIPE))
    attempt((C.COREML_FP16, C.COREML_W8), "Core ML fp16 and 8-bit weights (coremltools, ML program, iOS 16)",
            lambda: convert.export_coreml(prepared, sample, folder / C.COREML_FP16, folder / C.COREML_W8,
                                          p.coreml_weight_threshold))
    return errors, guard


def coreml_weight_check(path: Path, p):
    """8-bit weights of a Core ML package, read from its MIL program: one dequantising const per conv weight."""
    from portraitkit.train.export.checks import FAIL, PASS, Check
    from portraitkit.train.export.opsets import coreml_ops

    ops = coreml_ops(path)
    quantized = ops["constexpr_affine_dequantize"] + ops["constexpr_lut_to_dense"]
    weighted = ops["conv"] + ops["conv_transpose"]
    value = {"quantized_consts": quantized, "conv_ops": weighted, "weight_threshold": p.coreml_weight_threshold}
    if quantized >= weighted:
        return Check(PASS, f"{quantized} 8-bit weight consts for {weighted} (transposed) convs", value)
    return Check(FAIL, f"only {quantized} of {weighted} (transposed) conv weights are 8-bit "
                 f"(export.coreml_weight_threshold {p.coreml_weight_threshold} leaves the smaller ones in fp16)", value)


def coreml_stored_weights_check(prepared, path: Path, target, parity_x: np.ndarray, reference, threshold: float):
    """The package's stored weights put back into the (BN-folded) PyTorch model, scored against the
    trained model on the parity images: the error of the weights alone, checkable off macOS."""
    import torch

    from portraitkit.train.export.checks import FAIL, NOT_HERE, PASS, Check, parity
    from portraitkit.train.export.coreml_weights import WeightMappingError, with_stored_weights

    sample = (torch.from_numpy(np.ascontiguousarray(parity_x[:1])),)
    try:
        loaded = with_stored_weights(prepared, path, sample)
    except WeightMappingError as exc:
        return Check(NOT_HERE, f"not checkable here: the package's weights do not map onto the model ({exc})")
    result = parity(reference, list(_logits(loaded, parity_x)[:, None]), threshold)
    ok = result["iou"] >= target.min_iou
    reason = (f"stored {target.precision} weights in the PyTorch model: mask IoU {result['iou']:.4f} "
              f"{'>=' if ok else '<'} {target.min_iou:g} over {result['images']} images (worst {result['worst_iou']:.4f}, "
              f"max |dp| {result['max_dp']:.4f}); the weights' error only, Core ML's fp16 arithmetic runs on macOS")
    return Check(PASS if ok else FAIL, reason, result)


def check_all(model, targets, folder: Path, errors: dict[str, str], parity_x: np.ndarray,
              parity_counts: dict[str, int], params, log: Callable[[str], None] = info) -> dict[str, dict[str, Any]]:
    """device.json rows: every target checked on its file in ``folder``."""
    import torch

    from portraitkit.train.export.checks import check_target

    p = params.export
    torch.set_num_threads(p.threads)
    samples = [(parity_x[i : i + 1],) for i in range(len(parity_x))]
    reference = list(_logits(model, parity_x)[:, None])  # the PyTorch model as trained (BatchNorm not folded)
    split_note = ", ".join(f"{n} {s}" for s, n in parity_counts.items())
    prepared = None
    rows: dict[str, dict[str, Any]] = {}
    for target in targets:
        log(f"export: checking {target.name} ({target.file})")
        extra = None
        if target.format == "coreml" and (folder / target.file).is_dir():
            from portraitkit.train.export.convert import prepare

            prepared = prepared if prepared is not None else prepare(model)
            extra = {"stored_weights": coreml_stored_weights_check(prepared, folder / target.file, target, parity_x,
                                                                   reference, p.threshold)}
            if target.precision == "w8":
                extra["weights"] = coreml_weight_check(folder / target.file, p)
        row = check_target(target, folder, errors.get(target.file), reference, samples, p.threshold,
                           p.latency_runs, p.latency_warmup, p.threads, extra=extra)
        parity = row["checks"].get("parity")
        if parity is not None and "value" in parity:
            parity["value"]["splits"] = dict(parity_counts)
            parity["reason"] += f" [images: {split_note}]"
            row["reasons"] = [f"parity: {parity['reason']}" if r.startswith("parity: ") else r for r in row["reasons"]]
        rows[target.name] = _flat_row(row)
    return rows


def export(model_path: Path, curated: Path, images: Path, out: Path, params,
           targets: list[str] | None = None, clicks: Path | None = None) -> dict[str, Any]:
    """Convert, check and write ``out/`` as a whole; returns device.json's content."""
    from portraitkit.outputs import check_output, stage_output
    from portraitkit.train.checkpoint import load_checkpoint
    from portraitkit.train.export.targets import load_targets
    from portraitkit.train.fingerprint import curated_fingerprint

    p = params.export
    model_path, curated, images, out = Path(model_path), Path(curated), Path(images), Path(out)
    inputs = [model_path, curated, images, clicks]
    check_output(out, STAGE, inputs)  # before any work: a refused --out costs nothing
    target_list = load_targets(list(targets or p.targets))
    model, meta = load_checkpoint(model_path)
    fingerprint = curated_fingerprint(curated)
    match = fingerprint == meta.get("dataset_fingerprint")
    if not match:
        info(f"export: WARNING: {model_path} was trained on another dataset version than {curated} "
             f"(dataset fingerprints differ); calibration and parity use {curated}")
    calib, parity_x, parity_counts = load_samples(curated, images, meta, clicks, p.calibration_images, p.parity_images)

    with stage_output(out, STAGE, inputs) as tmp:
        errors, guard = convert_all(model, meta, calib, tmp, params)
        rows = check_all(model, target_list, tmp, errors, parity_x, parity_counts, params)
        for name in C.MODEL_FILES:  # the quantiser writes its files executable; a model file is data
            if (tmp / name).is_file():
                (tmp / name).chmod(0o644)
        files = [_file_entry(tmp, name, meta) for name in C.MODEL_FILES if (tmp / name).exists()]
        summary = {v: sum(r["verdict"] == v for r in rows.values()) for v in C.VERDICTS}
        export_json = {
            "stage": STAGE,
            "source": {"file": str(model_path), "sha256": sha256_file(model_path), "size_bytes": model_path.stat().st_size,
                       "arch": meta["arch"], "input_size": int(meta["input_size"]), "in_channels": int(meta["in_channels"]),
                       "interactive": bool(meta["interactive"]), "step": meta.get("step"),
                       "params_digest": meta.get("params_digest"), "macs": meta.get("macs"), "n_params": meta.get("n_params")},
            "dataset_fingerprint": meta["dataset_fingerprint"],
            "curated_fingerprint": fingerprint,
            "dataset_match": match,
            "input_spec": _input_spec(meta, "nchw"),
            "files": files,
            "errors": errors,
            "int8_guard": guard,
            "calibration_images": int(len(calib)),
            "parity_images": dict(parity_counts),
            "params": {"export": data_dump(p)},
        }
        device = {
            "stage": STAGE, "model": meta["arch"], "input_size": int(meta["input_size"]),
            "platform": f"{sys.platform}-{platform.machine()}", "threads": p.threads,
            "summary": summary, "targets": rows,
        }
        write_json(tmp / C.CONTRACT.jsons["export"].file, export_json)
        write_json(tmp / C.CONTRACT.jsons["device"].file, device)
    return device
