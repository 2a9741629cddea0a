"""Flag stage throughput: person annotations per second at 1 and 2 workers (640-px demo images).

Generates demo data (``demo.images`` images, or ``--images N``) into a temp dir, treats every
demo image as curated, runs the stage with each worker count and checks the outputs agree.
Reports wall-clock throughput and, since the machine may be shared, CPU-time-based throughput:
CPU seconds of this process and its (reaped) worker processes, ``persons / (cpu_s / workers)``
= what ``workers`` idle cores would give (start-up included in both).

    python bench/flag_speed.py [--params params.yaml] [--images 480] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its terminated children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--images", type=int, default=480)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("PORTRAITKIT_QUIET", "1")

    from portraitkit.curate.coarseness.stage import run_flag
    from portraitkit.curate.demo import generate
    from portraitkit.io import sha256_file
    from portraitkit.params import load_params

    params = load_params(args.params)
    with tempfile.TemporaryDirectory(prefix="flag-speed-") as tmp:
        work = args.work or Path(tmp)
        demo = work / "demo"
        if not (demo / "annotations" / "instances.json").exists():
            generate(demo, args.images, params.demo.seed)
        cur = work / "curated"
        cur.mkdir(parents=True, exist_ok=True)
        (cur / "train.json").write_bytes((demo / "annotations" / "instances.json").read_bytes())
        digests = {}
        for w in args.workers:
            out = work / f"flags_w{w}"
            t0 = time.perf_counter()
            c0 = _cpu()
            s = run_flag(cur, demo / "images", out, params.flag, params.curate.person_category_id, workers=w)
            dt, cpu = time.perf_counter() - t0, _cpu() - c0
            digests[w] = sha256_file(out / "flags.parquet")
            print(f"workers={w}: {s['persons']} persons in {s['images']} images, wall {dt:.1f} s -> "
                  f"{s['persons'] / dt:.1f} annotations/s; CPU {cpu:.1f} s -> {s['persons'] / (cpu / w):.1f} "
                  f"annotations/s on {w} idle core(s) ({1000 * cpu / s['persons']:.1f} ms CPU per annotation)")
        print("outputs identical across worker counts:", len(set(digests.values())) == 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
