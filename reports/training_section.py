"""The report's training and evaluation section: every trained / evaluated model of this dataset version.

Inputs are two roots that hold one folder per run, as the DVC pipeline lays them out:
``data/train/<name>/`` (``portraitkit train --out``) and ``data/evaluate/<name>/``
(``portraitkit evaluate --out``); a train run and an evaluate run of the same name are one model.
A root that is itself one run (it holds the stage's metrics.json) counts as the run named after it.
Every file is read through the stages' contracts (``train.contract``, ``train.evaluation.contract``):
a folder that does not fit is a one-line ``UserError`` naming the file.

Shown: loss and val-IoU curves (dvclive's TSVs, when the runs logged them), a table with one row per
model (arch, task, parameters, MACs, IoU, mIoU, Boundary IoU, NoC@85/90 beside GrabCut, file size),
the IoU-vs-clicks curve of interactive models against GrabCut, and each model's best and worst test
predictions drawn over the photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portraitkit.contracts import Contract, check_output, read_json_file, read_table
from portraitkit.errors import UserError
from portraitkit.reports import charts, gallery
from portraitkit.reports.blocks import Figure, FigureGrid, Gallery, Legend, Note, SectionView, Stats, Table
from portraitkit.reports.gallery import GalleryItem
from portraitkit.train.contract import CONTRACT as TRAIN, CURVES
from portraitkit.train.evaluation.contract import CONTRACT as EVALUATE, INTERACTIVE_KEYS, NOC_CURVE, PREDICTIONS

if TYPE_CHECKING:  # sections imports this module; only the type comes back
    from portraitkit.reports.sections import BuildContext

#: best and worst predictions shown per evaluated model
PREDICTION_EXAMPLES = 3
#: line colours of the runs, in name order
RUN_COLOURS = ("#4f46e5", "#f59e0b", "#0ea5e9", "#16a34a", "#db2777", "#64748b", "#7c3aed", "#ea580c")
PREDICTION = (11, 158, 245)  # BGR amber #f59e0b: the model's mask; the ground truth is outlined in yellow
MIOU_IS = "mIoU is the mean of the person IoU and the background IoU (per image, then over images)"


@dataclass
class Run:
    """One model: its train folder, its evaluate folder, or both (same run name)."""

    name: str
    train_dir: Path | None = None
    evaluate_dir: Path | None = None
    train: dict[str, Any] | None = None  # train metrics.json
    timing: dict[str, Any] | None = None  # train timing.json
    evaluate: dict[str, Any] | None = None  # evaluate metrics.json
    per_image: pd.DataFrame | None = None
    noc_curve: pd.DataFrame | None = None  # clicks, model, grabcut
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # CURVES name -> step, value

    @property
    def arch(self) -> str | None:
        return (self.train or {}).get("arch") or ((self.evaluate or {}).get("model") or {}).get("arch")

    @property
    def interactive(self) -> bool | None:
        if self.train is not None:
            return bool(self.train["interactive"])
        if self.evaluate is not None:
            model = self.evaluate.get("model") or {}
            if "interactive" in model:
                return bool(model["interactive"])
            return all(k in self.evaluate for k in INTERACTIVE_KEYS) or None
        return None

    def model_info(self, key: str) -> Any:
        """n_params / macs: the train metrics', else what evaluate read from the checkpoint."""
        if self.train is not None and key in self.train:
            return self.train[key]
        return ((self.evaluate or {}).get("model") or {}).get(key)


@dataclass
class TrainingData:
    train_root: Path
    evaluate_root: Path
    runs: list[Run]


def run_folders(root: Path, contract: Contract) -> dict[str, Path]:
    """name -> folder of each run under ``root`` (``root`` itself when it is one run)."""
    if not root.is_dir():
        return {}
    if contract.path(root, "metrics").is_file():
        return {root.name: root}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def read_curve(folder: Path, name: str) -> pd.DataFrame | None:
    """A dvclive TSV of ``CURVES[name]`` as (step, value), or None when the run did not log it."""
    path = folder / CURVES[name]
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, sep="\t")
    except Exception as exc:  # noqa: BLE001 - a broken file is the user's, name it
        raise UserError(f"{path}: not a readable TSV ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
    values = [c for c in df.columns if c not in ("step", "timestamp")]
    if "step" not in df.columns or not values:
        raise UserError(f"{path}: expected a step column and a value column (a dvclive metric TSV)")
    out = pd.DataFrame({"step": pd.to_numeric(df["step"], errors="coerce"), "value": pd.to_numeric(df[values[-1]], errors="coerce")})
    return out.dropna().sort_values("step", kind="stable").reset_index(drop=True)


def _read_noc_curve(folder: Path) -> pd.DataFrame | None:
    path = folder / NOC_CURVE
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    missing = [c for c in ("clicks", "model", "grabcut") if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def collect_training(train_root: Path | None, evaluate_root: Path | None) -> TrainingData | None:
    """Every run under the two roots, read through the contracts; None when there is none."""
    train_root = Path(train_root) if train_root is not None else None
    evaluate_root = Path(evaluate_root) if evaluate_root is not None else None
    trains = run_folders(train_root, TRAIN) if train_root is not None else {}
    evals = run_folders(evaluate_root, EVALUATE) if evaluate_root is not None else {}
    runs = []
    for name in sorted(set(trains) | set(evals)):
        run = Run(name, trains.get(name), evals.get(name))
        if run.train_dir is not None:
            check_output(run.train_dir, TRAIN)
            run.train = read_json_file(run.train_dir, TRAIN, "metrics")
            run.timing = read_json_file(run.train_dir, TRAIN, "timing")
            run.curves = {c: df for c in CURVES if (df := read_curve(run.train_dir, c)) is not None and len(df)}
        if run.evaluate_dir is not None:
            check_output(run.evaluate_dir, EVALUATE)
            run.evaluate = read_json_file(run.evaluate_dir, EVALUATE, "metrics")
            run.per_image = read_table(run.evaluate_dir, EVALUATE, "per_image")
            run.noc_curve = _read_noc_curve(run.evaluate_dir)
        runs.append(run)
    if not runs:
        return None
    return TrainingData(train_root or Path("-"), evaluate_root or Path("-"), runs)


# --- formatting ------------------------------------------------------------------------------


def fmt_score(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{float(v):.3f}"


def fmt_noc(v: Any) -> str:
    return "—" if v is None else f"{float(v):.2f}"


def fmt_count(v: Any) -> str:
    """Parameters / MACs: 1.23 M, 456.7 k."""
    if v is None:
        return "—"
    v = float(v)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f} {unit}"
    return f"{v:.0f}"


def fmt_bytes(v: Any) -> str:
    if v is None:
        return "—"
    v = float(v)
    return f"{v / 1e6:.2f} MB" if v >= 1e5 else f"{v / 1e3:.1f} kB"


def model_row(run: Run) -> list[str]:
    """One row of the models table (columns: ``MODEL_COLUMNS``)."""
    ev = run.evaluate or {}
    gc = ev.get("grabcut") or {}
    inter = run.interactive
    size = (ev.get("model") or {}).get("size_bytes")
    if size is None and run.train_dir is not None:
        size = (run.train_dir / "model.pt").stat().st_size
    return [
        run.name,
        run.arch or "—",
        "—" if inter is None else ("interactive" if inter else "automatic"),
        fmt_count(run.model_info("n_params")),
        fmt_count(run.model_info("macs")),
        fmt_score((run.train or {}).get("val_iou")),
        fmt_score(ev.get("iou")),
        fmt_score(ev.get("miou")),
        fmt_score(ev.get("boundary_iou")),
        fmt_noc(ev.get("noc85")) if inter else "—",
        fmt_noc(ev.get("noc90")) if inter else "—",
        fmt_noc(gc.get("noc85")) if inter else "—",
        fmt_noc(gc.get("noc90")) if inter else "—",
        fmt_bytes(size),
    ]


MODEL_COLUMNS = ["run", "arch", "task", "parameters", "MACs", "val IoU", "IoU", "mIoU", "Boundary IoU",
                 "NoC@85", "NoC@90", "GrabCut NoC@85", "GrabCut NoC@90", "file size"]


def click_row(run: Run) -> list[str]:
    ev = run.evaluate or {}
    gc = ev.get("grabcut") or {}
    cells = [run.name]
    for key in ("iou_at_1", "iou_at_3", "iou_at_5"):
        cells += [fmt_score(ev.get(key)), fmt_score(gc.get(key))]
    for key in ("noc85_failed", "noc90_failed"):
        cells += [str(ev.get(key, "—")), str(gc.get(key, "—"))]
    cells.append(str(ev.get("noc_instances", "—")))
    return cells


CLICK_COLUMNS = ["run", "IoU@1", "GrabCut", "IoU@3", "GrabCut", "IoU@5", "GrabCut",
                 "failed @85", "GrabCut", "failed @90", "GrabCut", "persons"]


# --- charts ----------------------------------------------------------------------------------


def curve_chart(runs: list[Run], curve: str, ylabel: str, title: str) -> str:
    with charts._rc():
        fig = charts._figure(6.0, 3.2)
        ax = fig.add_subplot()
        for i, run in enumerate(runs):
            df = run.curves.get(curve)
            if df is None:
                continue
            colour = RUN_COLOURS[i % len(RUN_COLOURS)]
            if len(df) <= 30:
                ax.plot(df["step"], df["value"], color=colour, lw=1.4, marker="o", markersize=3, label=run.name)
            else:  # per-step values are noisy: faint, with their running mean on top
                ax.plot(df["step"], df["value"], color=colour, lw=0.6, alpha=0.25)
                mean = df["value"].rolling(max(5, len(df) // 40), min_periods=1).mean()
                ax.plot(df["step"], mean, color=colour, lw=1.6, label=f"{run.name} (running mean)")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8.5)
        return charts.to_svg_uri(fig)


def noc_chart(runs: list[Run]) -> str:
    with charts._rc():
        fig = charts._figure(6.0, 3.4)
        ax = fig.add_subplot()
        for t in (0.85, 0.90):
            ax.axhline(t, color=charts.MUTED, lw=0.8, ls=":")
        for i, run in enumerate(runs):
            df = run.noc_curve
            colour = RUN_COLOURS[i % len(RUN_COLOURS)]
            ax.plot(df["clicks"], pd.to_numeric(df["model"], errors="coerce"), color=colour, lw=1.6, marker="o",
                    markersize=3, label=run.name)
            g = pd.to_numeric(df["grabcut"], errors="coerce")
            if g.notna().any():
                ax.plot(df["clicks"], g, color=colour if len(runs) > 1 else charts.INK, lw=1.1, ls="--",
                        label=f"GrabCut ({run.name})" if len(runs) > 1 else "GrabCut")
        ax.set_ylim(0, 1)
        ax.set_xlabel("clicks")
        ax.set_ylabel("mean IoU")
        ax.set_title("IoU after each click (dotted: 0.85 and 0.90)")
        ax.legend(loc="lower right", fontsize=8.5)
        return charts.to_svg_uri(fig)


# --- predictions -----------------------------------------------------------------------------


def _gt_anns(ctx: BuildContext, image_id: int) -> list[dict[str, Any]]:
    person = ctx.params.curate.person_category_id
    return [a for a in ctx.data.coco.anns_by_image.get(int(image_id), []) if a.get("category_id") == person]


def prediction_item(ctx: BuildContext, run: Run, row: pd.Series, tone: str) -> GalleryItem:
    import cv2

    image_id = int(row["image_id"])
    h, w = int(row["height"]), int(row["width"])
    full = gallery.load_photo(Path(ctx.data.inputs.images), row["file_name"], w, h)
    thumb, xform = gallery.framed(full, (h, w), ctx.report.thumb_px)
    pred_path = run.evaluate_dir / PREDICTIONS / f"{image_id}.png"
    pred = cv2.imread(str(pred_path), cv2.IMREAD_GRAYSCALE)
    if pred is None:
        raise UserError(f"{pred_path}: missing or unreadable (per_image.parquet lists image {image_id})")
    gallery.draw_mask(thumb, pred > 127, colour=PREDICTION, alpha=0.45, outline=None, xform=xform)
    anns = _gt_anns(ctx, image_id)
    if anns:
        for a in anns:
            gallery.draw_annotation(thumb, a, xform, (h, w), alpha=0.0)
    else:
        mp = ctx.data.curated.mask_path(image_id) if ctx.data.curated is not None else None
        m = cv2.imread(str(mp), cv2.IMREAD_GRAYSCALE) if mp is not None else None
        if m is not None:
            gallery.draw_mask(thumb, m > 0, alpha=0.0, xform=xform)
    return GalleryItem(
        src=gallery.jpeg_uri(thumb, ctx.report.jpeg_quality),
        alt=f"{run.name} prediction over image {image_id}",
        title=f"image {image_id}",
        caption=f"{int(row['n_persons'])} person(s)",
        chips=[("IoU", fmt_score(row["iou"])), ("mIoU", fmt_score(row["miou"])), ("Boundary IoU", fmt_score(row["boundary_iou"]))],
        tone=tone,
    )


def best_and_worst(per_image: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` lowest-IoU images (worst first) and the ``n`` highest of the rest (best first)."""
    df = per_image.sort_values(["iou", "image_id"], ascending=[True, True], kind="stable")
    worst = df.head(n)
    rest = df[~df["image_id"].isin(worst["image_id"])]
    best = rest.sort_values(["iou", "image_id"], ascending=[False, True], kind="stable").head(n)
    return best, worst


# --- the section -----------------------------------------------------------------------------


class TrainingSection:
    id = "training"
    title = "Training and evaluation"
    nav = "Models"

    def build(self, ctx: BuildContext) -> SectionView:
        inputs = ctx.data.inputs
        data = collect_training(inputs.train, inputs.evaluate)
        if data is None:
            where = " and ".join(str(p) for p in (inputs.train, inputs.evaluate) if p)
            return SectionView(self.id, self.title, blocks=[Note(
                f"Stage not run: {where + ' holds no run' if where else 'no --train / --evaluate folder given'}. Run the train and evaluate "
                "stages (dvc repro) and rebuild the report.", "missing")], available=False, nav=self.nav)
        runs = data.runs
        blocks: list[Any] = []
        split = sorted({str(r.evaluate["split"]) for r in runs if r.evaluate is not None})
        stats = [("models", str(len(runs))), ("trained", str(sum(r.train is not None for r in runs))),
                 ("evaluated", str(sum(r.evaluate is not None for r in runs)))]
        if split:
            stats.append(("scored split", ", ".join(split)))
        mismatch = [r.name for r in runs if r.evaluate is not None and r.evaluate.get("dataset_match") is False]
        blocks.append(Stats(stats))
        if mismatch:
            blocks.append(Note(f"Trained on another dataset version than the one scored: {', '.join(mismatch)} "
                               "(the checkpoint's dataset fingerprint differs from the curated folder's).", "warn"))

        figs = []
        if any("loss" in r.curves for r in runs):
            figs.append(Figure(curve_chart(runs, "loss", "loss (BCE + soft Dice)", "Training loss"),
                               "Training loss per step", "Loss of each optimisation step (dvclive train/loss)."))
        if any("val_iou" in r.curves for r in runs):
            figs.append(Figure(curve_chart(runs, "val_iou", "val person IoU", "Validation IoU"),
                               "Validation IoU during training", "Person IoU on the val split (dvclive val/iou)."))
        if figs:
            blocks.append(FigureGrid(figs))
        elif any(r.train is not None for r in runs):
            blocks.append(Note("The train runs logged no per-step curves (dvclive/ absent).", "info"))

        rows = [model_row(r) for r in runs]
        max_clicks = sorted({int(r.evaluate["max_clicks"]) for r in runs if r.evaluate and "max_clicks" in r.evaluate})
        blocks.append(Table(MODEL_COLUMNS, rows, numeric=[False, False, False] + [True] * (len(MODEL_COLUMNS) - 3),
                            caption=f"One row per model. IoU, mIoU and Boundary IoU on the {', '.join(split) or 'scored'} "
                                    f"split at each photo's own resolution; {MIOU_IS}. Boundary IoU: Cheng et al. 2021. "
                                    f"NoC@85/90: mean clicks to reach that IoU (at most {'/'.join(map(str, max_clicks)) or 'max_clicks'}; "
                                    "a person that never does counts that many). MACs at the training input size. File size: the evaluated model file."))
        inter = [r for r in runs if r.interactive and r.evaluate is not None]
        if inter:
            blocks.append(Table(CLICK_COLUMNS, [click_row(r) for r in inter], numeric=[False] + [True] * (len(CLICK_COLUMNS) - 1),
                                caption="Interactive models beside GrabCut on the same persons with the same click rule: "
                                        "mean IoU after 1 / 3 / 5 clicks and the persons that never reach 0.85 / 0.90."))
            curves = [r for r in inter if r.noc_curve is not None and len(r.noc_curve)]
            if curves:
                blocks.append(Figure(noc_chart(curves), "IoU against clicks, models and GrabCut",
                                     "Mean IoU after each click (the clicks package's error-driven next click)."))

        shown = [r for r in runs if r.per_image is not None and len(r.per_image)]
        if shown:
            blocks.append(Legend([("#f59e0b", "box", "model's mask"), ("#fde047", "line", "ground-truth outline")]))
        for run in shown:
            best, worst = best_and_worst(run.per_image, PREDICTION_EXAMPLES)
            blocks.append(Gallery([prediction_item(ctx, run, r, "bad") for _, r in worst.iterrows()],
                                  f"{run.name}: worst predictions", "Lowest person IoU first."))
            blocks.append(Gallery([prediction_item(ctx, run, r, "good") for _, r in best.iterrows()],
                                  f"{run.name}: best predictions", "Highest person IoU first.", empty="no other scored image"))
        return SectionView(self.id, self.title,
                           "What this dataset version is worth as training data: each model's curves, scores and "
                           "predictions.", blocks, nav=self.nav)
