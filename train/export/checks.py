"""Runs an exported file, compares it with the PyTorch model, and checks it against a device target.

Each check is ``pass`` / ``fail`` / ``not-checkable-here`` with a reason; a target's verdict is
``fail`` if any check fails, else ``not-checkable-here`` if any check could not run here, else ``pass``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from portraitkit.train.export.convert import coreml_predict, dir_size, input_names, to_nhwc
from portraitkit.train.export.opsets import coreml_io, ops_of
from portraitkit.train.export.targets import Target

PASS, FAIL, NOT_HERE = "pass", "fail", "not-checkable-here"
MACOS_ONLY = "not checkable here (macOS only): Core ML predict() runs only on macOS"

Inputs = Sequence[np.ndarray]  # one sample: NCHW float32 arrays (image, [positives, negatives])


@dataclass
class Check:
    status: str
    reason: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        d = {"status": self.status, "reason": self.reason}
        if self.value is not None:
            d["value"] = self.value
        return d


# --------------------------------------------------------------------------- runners


def torch_runner(model) -> Callable[[Inputs], np.ndarray]:
    import torch

    def run(inputs: Inputs) -> np.ndarray:
        with torch.inference_mode():
            return model(*[torch.from_numpy(x) for x in inputs]).float().numpy()

    return run


def onnx_runner(path: Path, threads: int = 1) -> Callable[[Inputs], np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(inputs: Inputs) -> np.ndarray:
        return sess.run(None, dict(zip(names, inputs)))[0]

    return run


def tflite_runner(path: Path, threads: int = 1) -> Callable[[Inputs], np.ndarray]:
    """LiteRT interpreter (XNNPACK on by default); NHWC io, int8 io (de)quantised with the file's own params."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    sig = next(iter(it.get_signature_list()))
    runner = it.get_signature_runner(sig)
    in_details = runner.get_input_details()
    out_name, out_detail = next(iter(runner.get_output_details().items()))
    names = sorted(in_details, key=lambda n: int(n.rsplit("_", 1)[-1]) if n.rsplit("_", 1)[-1].isdigit() else 0)

    def run(inputs: Inputs) -> np.ndarray:
        feeds = {}
        for name, x in zip(names, inputs):
            d = in_details[name]
            x = to_nhwc(x)
            if np.issubdtype(d["dtype"], np.integer):
                scale, zero = d["quantization"]
                info = np.iinfo(d["dtype"])
                x = np.clip(np.round(x / scale + zero), info.min, info.max)
            feeds[name] = x.astype(d["dtype"])
        out = runner(**feeds)[out_name]
        if np.issubdtype(out.dtype, np.integer):
            scale, zero = out_detail["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2), np.float32)

    return run


def coreml_runner(path: Path) -> Callable[[Inputs], np.ndarray]:
    return lambda inputs: coreml_predict(path, inputs)


# --------------------------------------------------------------------------- measurements


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def parity(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], threshold: float) -> dict[str, float]:
    """max |dp| over every pixel, pooled mask IoU over all images, and the worst image's IoU."""
    inter = union = 0
    worst = 1.0
    max_dp = 0.0
    for ref, cand in zip(reference, candidate):
        p, q = _sigmoid(ref.astype(np.float64)), _sigmoid(cand.astype(np.float64))
        max_dp = max(max_dp, float(np.abs(p - q).max()))
        a, b = p >= threshold, q >= threshold
        i, u = int(np.logical_and(a, b).sum()), int(np.logical_or(a, b).sum())
        inter, union = inter + i, union + u
        worst = min(worst, i / u if u else 1.0)
    return {"max_dp": round(max_dp, 6), "iou": round(inter / union if union else 1.0, 6),
            "worst_iou": round(worst, 6), "images": len(reference)}


def latency(run: Callable[[Inputs], np.ndarray], inputs: Inputs, runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        run(inputs)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "runs": runs, "warmup": warmup}


# --------------------------------------------------------------------------- op and io checks


def check_ops(target: Target, path: Path) -> Check:
    ops = ops_of(path)
    names = sorted(ops)
    if target.format == "tflite":
        custom = [o for o in names if o.startswith("CUSTOM")]
        if custom:
            return Check(FAIL, f"custom / Flex ops {', '.join(custom)} (builtin ops only)", names)
    if target.format == "onnx":
        foreign = [o for o in names if "::" in o]
        if foreign:
            return Check(FAIL, f"ops outside the default ONNX domain: {', '.join(foreign)}", names)
    if target.allowed_ops is not None:
        outside = [o for o in names if o not in set(target.allowed_ops)]
        if outside:
            return Check(FAIL, f"ops {target.name} does not run: {', '.join(outside)}", names)
    return Check(PASS, f"{len(names)} op types, all supported", names)


def check_coreml_io(target: Target, path: Path) -> Check:
    io = coreml_io(path)
    problems = []
    if target.min_specification_version and io["specification_version"] < target.min_specification_version:
        problems.append(f"specification version {io['specification_version']} < {target.min_specification_version}")
    if target.io_dtype:
        bad = [f"{f['name']} is {f['dtype']}" for f in io["inputs"] + io["outputs"] if f["dtype"] != target.io_dtype]
        if bad:
            problems.append(f"io not {target.io_dtype}: {', '.join(bad)}")
    if problems:
        return Check(FAIL, "; ".join(problems), io)
    return Check(PASS, f"spec v{io['specification_version']}, io {target.io_dtype or 'any'}", io)


def check_size(target: Target, path: Path) -> Check:
    size = dir_size(path)
    mb = size / 1e6
    if target.max_size_mb is None:
        return Check(PASS, f"{mb:.3f} MB (no budget)", size)
    if mb > target.max_size_mb:
        return Check(FAIL, f"{mb:.3f} MB > {target.max_size_mb:g} MB", size)
    return Check(PASS, f"{mb:.3f} MB <= {target.max_size_mb:g} MB", size)


def _on_macos() -> bool:
    return sys.platform == "darwin"


def runner_for(target: Target, path: Path, threads: int) -> Callable[[Inputs], np.ndarray] | None:
    """How this machine runs the target's file; None where it cannot (Core ML off macOS)."""
    if target.format == "tflite":
        return tflite_runner(path, threads)
    if target.format == "onnx":
        return onnx_runner(path, threads)
    if target.format == "coreml":
        return coreml_runner(path) if _on_macos() else None
    raise ValueError(target.format)


def check_parity(target: Target, run, reference: Sequence[np.ndarray], samples: Sequence[Inputs], threshold: float) -> Check:
    if run is None:
        return Check(NOT_HERE, MACOS_ONLY)
    result = parity(reference, [run(s) for s in samples], threshold)
    ok = result["iou"] >= target.min_iou
    how = "LiteRT CPU interpreter" if target.format == "tflite" else target.runtime
    reason = (f"mask IoU {result['iou']:.4f} {'>=' if ok else '<'} {target.min_iou:g} over {result['images']} images "
              f"(worst {result['worst_iou']:.4f}, max |dp| {result['max_dp']:.4f}; run by {how})")
    return Check(PASS if ok else FAIL, reason, result)


def check_latency(target: Target, run, sample: Inputs, runs: int, warmup: int, threads: int) -> Check:
    if target.runtime == "litert-gpu":
        return Check(NOT_HERE, "not checkable here: no mobile GPU (TFLite GPU delegate) on this machine")
    if run is None:
        return Check(NOT_HERE, MACOS_ONLY)
    result = latency(run, sample, runs, warmup)
    result["threads"] = threads
    where = f"median {result['median_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms over {runs} runs, {threads} thread(s) on this machine"
    if target.latency_budget_ms is None:
        return Check(PASS, where + " (no budget)", result)
    ok = result["median_ms"] <= target.latency_budget_ms
    return Check(PASS if ok else FAIL, f"{where} {'<=' if ok else '>'} {target.latency_budget_ms:g} ms", result)


def verdict(checks: dict[str, Check]) -> tuple[str, list[str]]:
    statuses = [c.status for c in checks.values()]
    if FAIL in statuses:
        status = FAIL
    elif NOT_HERE in statuses:
        status = NOT_HERE
    else:
        status = PASS
    reasons = [f"{k}: {c.reason}" for k, c in checks.items() if c.status != PASS]
    return status, reasons


def check_target(target: Target, folder: Path, missing_reason: str | None, reference: Sequence[np.ndarray],
                 samples: Sequence[Inputs], threshold: float, runs: int, warmup: int, threads: int,
                 extra: dict[str, Check] | None = None) -> dict[str, Any]:
    """Every check of one target on its file in ``folder``."""
    path = folder / target.file
    checks: dict[str, Check] = {}
    if missing_reason or not path.exists():
        checks["file"] = Check(FAIL, f"{target.file} not exported: {missing_reason or 'missing'}")
    else:
        checks["ops"] = check_ops(target, path)
        if target.format == "coreml":
            checks["io"] = check_coreml_io(target, path)
        checks["size"] = check_size(target, path)
        try:
            run = runner_for(target, path, threads)
            checks["parity"] = check_parity(target, run, reference, samples, threshold)
        except Exception as exc:  # noqa: BLE001 - a file the runtime refuses is this target's finding
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
            checks["parity"] = Check(FAIL, f"{target.runtime} cannot run {target.file}: {first}")
            checks["latency"] = Check(FAIL, f"{target.runtime} cannot run {target.file}")
        else:
            checks["latency"] = check_latency(target, run, samples[0], runs, warmup, threads)
        checks.update(extra or {})
    status, reasons = verdict(checks)
    return {"target": target.name, "file": target.file, "format": target.format, "precision": target.precision,
            "verdict": status, "reasons": reasons, "checks": {k: c.as_dict() for k, c in checks.items()}}


__all__ = ["PASS", "FAIL", "NOT_HERE", "Check", "check_target", "parity", "latency", "torch_runner",
           "onnx_runner", "tflite_runner", "input_names"]
