"""Export size, parity and latency per architecture and format at 256^2 (issue 14).

For each architecture (portrait_unet, squeezenet_sharpmask, enet): the exported files the
export stage writes (ONNX, TFLite fp32, full-integer int8 ``static_wi8_ai8``, weight-only int8;
optionally Core ML, size only: it runs on macOS only), each with

* file size;
* parity with the PyTorch model (max |dp| and mask IoU at 0.5) on ``--images`` synthetic frames;
* latency: median and p90 of ``--runs`` invocations after ``--warmup``, ONE thread: the LiteRT
  interpreter's ``invoke()`` (XNNPACK, input set once) and onnxruntime's ``run``;
* MACs of one 256^2 frame (``count_params_macs``) beside the milliseconds.

Weights: a checkpoint per architecture when ``--checkpoints DIR`` holds ``DIR/<arch>/model.pt``
(e.g. data/train), else a fresh model whose BatchNorm statistics are set on the synthetic frames
(a few forward passes in train mode), so activations have trained-like scales; parity of a fresh
model is a conversion check, not a quality figure. Latency does not depend on the weights.

Target (issue 14): portrait_unet int8 <= 1 MB and <= 10 ms per 256^2 frame on one core.

    .venv/bin/python bench/export_latency.py [--size 256] [--runs 50] [--archs portrait_unet,enet]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

from portraitkit.params import load_params  # noqa: E402
from portraitkit.train.export import checks, convert  # noqa: E402
from portraitkit.train.export import contract as C  # noqa: E402
from portraitkit.train.export.stage import W8_RECIPE, attempter, export_int8  # noqa: E402
from portraitkit.train.models import ARCHITECTURES, build_model, count_params_macs  # noqa: E402

TARGET_MB, TARGET_MS = 1.0, 10.0


def frames(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth synthetic photos with a bright blob (a 'person') and noise: N x 3 x S x S in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.2, 0.8, 3)
        cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        blob = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.float64)
        img = np.stack([a * xx + 0.5 * blob, b * yy + 0.3 * blob, c * (1 - xx) + 0.1 * blob])
        out.append(np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1))
    return np.asarray(out, np.float32)


def fresh_model(arch: str, x: np.ndarray):
    torch.manual_seed(0)
    model = build_model(arch)
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), 4):
            model(torch.from_numpy(x[i : i + 4]))
    return model.eval()


def load_model(arch: str, checkpoints: Path | None, x: np.ndarray):
    if checkpoints is not None and (checkpoints / arch / "model.pt").is_file():
        from portraitkit.train.checkpoint import load_checkpoint

        return load_checkpoint(checkpoints / arch / "model.pt")[0], "checkpoint"
    return fresh_model(arch, x), "fresh (BN stats from synthetic frames)"


def invoke_latency(path: Path, sample: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """LiteRT invoke() only (XNNPACK, one thread): the input is set once, as a phone loop would."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = convert.to_nhwc(sample)
    if np.issubdtype(d["dtype"], np.integer):
        scale, zero = d["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127)
    it.set_tensor(d["index"], x.astype(d["dtype"]))
    return checks.latency(lambda _: it.invoke(), None, runs, warmup)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--images", type=int, default=20, help="parity frames")
    ap.add_argument("--calibration", type=int, default=16, help="int8 calibration frames")
    ap.add_argument("--archs", default=",".join(ARCHITECTURES))
    ap.add_argument("--checkpoints", type=Path, default=None, help="DIR with <arch>/model.pt (e.g. data/train)")
    ap.add_argument("--coreml", action="store_true", help="also convert to Core ML (sizes only)")
    ap.add_argument("--out", type=Path, default=None, help="keep the exported files here (default: a temp folder)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    p = load_params(None).export
    calib = frames(args.calibration, args.size, 1)
    test = frames(args.images, args.size, 2)
    print(f"# export latency at {args.size}^2, 1 thread, {args.runs} runs after {args.warmup} warm-up; "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.2f}; int8 = {p.int8_recipe}, "
          f"w8 = {W8_RECIPE}")
    print(f"{'arch':22s} {'format':12s} {'MB':>7s} {'IoU':>7s} {'max|dp|':>8s} {'median ms':>10s} {'p90 ms':>8s} {'GMACs':>6s}  note")
    summary = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as scratch:
        for arch in args.archs.split(","):
            folder = (args.out or Path(scratch)) / arch
            folder.mkdir(parents=True, exist_ok=True)
            model, origin = load_model(arch, args.checkpoints, calib)
            n_params, macs = count_params_macs(model, 3, args.size)
            prepared = convert.prepare(model)
            sample = (torch.from_numpy(calib[:1]),)
            errors: dict[str, str] = {}
            attempt = attempter(folder, errors, log=lambda s: None)
            t0 = time.perf_counter()
            attempt((C.ONNX,), "onnx", lambda: convert.export_onnx(prepared, sample, folder / C.ONNX))
            if attempt((C.TFLITE_FP32,), "fp32", lambda: convert.export_tflite_fp32(prepared, sample, folder / C.TFLITE_FP32)):
                export_int8(prepared, calib, folder, p, attempt, log=lambda s: None)
                attempt((C.TFLITE_W8,), "w8", lambda: convert.quantize_tflite(folder / C.TFLITE_FP32, folder / C.TFLITE_W8, W8_RECIPE))
            if args.coreml:
                attempt(C.PACKAGES, "coreml", lambda: convert.export_coreml(prepared, sample, folder / C.COREML_FP16,
                                                                             folder / C.COREML_W8, p.coreml_weight_threshold))
            seconds = time.perf_counter() - t0
            ref = [checks.torch_runner(model)((x[None],)) for x in test]
            for name in C.MODEL_FILES:
                path = folder / name
                if name in errors or not path.exists():
                    if name in errors:
                        print(f"{arch:22s} {name:12s} conversion failed: {errors[name]}")
                    continue
                mb = convert.dir_size(path) / 1e6
                iou = dp = med = p90 = None
                if name.endswith((".tflite", ".onnx")):
                    try:
                        run = checks.tflite_runner(path, 1) if name.endswith(".tflite") else checks.onnx_runner(path, 1)
                    except Exception as exc:  # noqa: BLE001 - the runtime refusing a file is a result
                        print(f"{arch:22s} {name:12s} {convert.dir_size(path) / 1e6:7.3f}  the runtime refuses the file: "
                              f"{str(exc).splitlines()[0][:160]}")
                        continue
                    par = checks.parity(ref, [run((x[None],)) for x in test], 0.5)
                    iou, dp = par["iou"], par["max_dp"]
                    lat = (invoke_latency(path, test[:1], args.runs, args.warmup) if name.endswith(".tflite")
                           else checks.latency(run, (test[:1],), args.runs, args.warmup))
                    med, p90 = lat["median_ms"], lat["p90_ms"]
                note = "macOS only: size" if name.endswith(".mlpackage") else ""
                fmt = name.replace("model_", "").replace("model.", "")

                def f(v, spec):
                    return format(v, spec) if v is not None else "-"

                print(f"{arch:22s} {fmt:12s} {mb:7.3f} {f(iou, '7.4f')} {f(dp, '8.4f')} {f(med, '10.2f')} {f(p90, '8.2f')} "
                      f"{macs / 1e9:6.3f}  {note}", flush=True)
                if arch == "portrait_unet" and name == C.TFLITE_INT8:
                    summary.append((mb, med))
            print(f"# {arch}: {n_params / 1e6:.3f} M params, {macs / 1e6:.1f} MMACs at {args.size}^2, weights {origin}, "
                  f"conversions {seconds:.0f} s", flush=True)
    for mb, med in summary:
        ok = mb <= TARGET_MB and med <= TARGET_MS
        print(f"# portrait_unet int8: {mb:.3f} MB (target <= {TARGET_MB:g}), {med:.2f} ms (target <= {TARGET_MS:g}): "
              + ("meets the target" if ok else f"misses it by {max(0.0, med - TARGET_MS):.2f} ms / {max(0.0, mb - TARGET_MB):.3f} MB"))


if __name__ == "__main__":
    main()
