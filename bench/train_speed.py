"""Training speed: seconds per optimisation step of each architecture, batch 8.

One step is what ``portraitkit train`` does per step: forward, the ignore-aware BCE + soft Dice
loss (``train.training.masked_loss``), backward and an AdamW update; on CUDA under autocast
float16 with a GradScaler (``train.amp``). Inputs are random images and masks (speed does not
depend on the pixels). Each configuration runs ``--warmup`` untimed steps, then ``--steps``
timed ones; the table shows the median and the fastest step.

Sizes: the demo's ``train.input_size`` (params.yaml) and 256. CPU with 1 and 2 torch threads
(``train.threads``; with another process busy on the machine, 2 threads can be slower than 1),
and CUDA when present. The default run takes a few minutes on a 2-core machine.

    .venv/bin/python bench/train_speed.py [--steps 3] [--sizes demo,256] [--threads 1,2]
        [--archs portrait_unet,squeezenet_sharpmask,enet] [--channels 3] [--devices auto] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portraitkit.params import load_params  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def step_seconds(arch: str, size: int, channels: int, batch: int, device: str, threads: int,
                 steps: int, warmup: int, seed: int = 0) -> list[float]:
    import torch

    from portraitkit.train.models import build_model
    from portraitkit.train.training import masked_loss, optimizer_step

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cuda = device.startswith("cuda")
    model = build_model(arch, in_channels=channels).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda") if cuda else None
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, channels, size, size, generator=g).to(device)
    y = (torch.rand(batch, 1, size, size, generator=g) > 0.5).float().to(device)
    times = []
    for i in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
            loss = masked_loss(model(x), y, 1.0)
        optimizer_step(loss, opt, scaler)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="portrait_unet,squeezenet_sharpmask,enet")
    ap.add_argument("--sizes", default="demo,256", help="input sides; 'demo' = params.yaml train.input_size")
    ap.add_argument("--threads", default="1,2", help="CPU torch thread counts")
    ap.add_argument("--devices", default="auto", help="auto (cpu, and cuda when present), or a list: cpu,cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=3, choices=(3, 5), help="3 automatic, 5 interactive")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = ap.parse_args()

    import torch

    from portraitkit.train.models import SIZE_MULTIPLE, build_model, count_params_macs

    demo = load_params(a.params).train.input_size
    sizes = [demo if s == "demo" else int(s) for s in a.sizes.split(",")]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if a.devices == "auto" else a.devices.split(",")
    rows = []
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, batch {a.batch}, {a.channels} channels, "
          f"{a.warmup} warm-up + {a.steps} timed steps; demo input size {demo}", flush=True)
    for arch in a.archs.split(","):
        n_params = None
        for size in sizes:
            if size % SIZE_MULTIPLE[arch]:
                print(f"skip {arch} @ {size}: not a multiple of {SIZE_MULTIPLE[arch]}")
                continue
            n_params, macs = count_params_macs(build_model(arch, in_channels=a.channels).eval(), a.channels, size)
            for device in devices:
                for threads in (a.threads.split(",") if device == "cpu" else ["-"]):
                    t = step_seconds(arch, size, a.channels, a.batch, device,
                                     int(threads) if threads != "-" else 1, a.steps, a.warmup)
                    row = {"arch": arch, "size": size, "device": device, "threads": threads, "n_params": n_params,
                           "macs": macs, "median_s": statistics.median(t), "min_s": min(t), "steps": len(t)}
                    rows.append(row)
                    print(f"  {arch:22s} {size:4d}px {device:4s} threads {threads}: {row['median_s']:.3f} s/step "
                          f"(min {row['min_s']:.3f})", flush=True)
    print()
    print(f"| arch | input | device | threads | params | MACs/image | s/step (median) | s/step (min) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['size']}² | {r['device']} | {r['threads']} | {r['n_params'] / 1e6:.3f} M | "
              f"{r['macs'] / 1e9:.3f} G | {r['median_s']:.3f} | {r['min_s']:.3f} |")
    if a.json is not None:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
