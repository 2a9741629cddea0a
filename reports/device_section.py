"""The report's device section: every exported model checked against every device target.

Input: ``--export ROOT``, one folder per model as the DVC pipeline lays them out
(``data/export/<name>/``, each a ``portraitkit export --out``); a root that is itself one export
(it holds device.json) counts as the model named after it. Files are read through the export
contract (``train.export.contract``): a folder that does not fit is a one-line ``UserError``.

Shown: one row per model x target with the verdict, file size, parity with the PyTorch model
(mask IoU, max |dp|) and latency (median / p90, one thread) where it could be measured here, and
the reason of every failed or not-checkable-here check beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portraitkit.contracts import check_output, read_json_file
from portraitkit.reports.blocks import Note, SectionView, Stats, Table
from portraitkit.train.export.contract import CONTRACT as EXPORT

if TYPE_CHECKING:
    from portraitkit.reports.sections import BuildContext

COLUMNS = ["model", "target", "file", "verdict", "size (MB)", "mask IoU", "max |Δp|", "median ms", "p90 ms", "why not a pass"]
VERDICT_LABEL = {"pass": "pass", "fail": "FAIL", "not-checkable-here": "not checkable here"}


@dataclass
class ExportRun:
    name: str
    folder: Path
    export: dict[str, Any]
    device: dict[str, Any]


def export_folders(root: Path) -> dict[str, Path]:
    """name -> folder of each export under ``root`` (``root`` itself when it is one export)."""
    if not root.is_dir():
        return {}
    if EXPORT.path(root, "device").is_file():
        return {root.name: root}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def collect_exports(root: Path | None) -> list[ExportRun]:
    if root is None:
        return []
    runs = []
    for name, folder in export_folders(Path(root)).items():
        check_output(folder, EXPORT)
        runs.append(ExportRun(name, folder, read_json_file(folder, EXPORT, "export"), read_json_file(folder, EXPORT, "device")))
    return runs


def _num(v: Any, spec: str) -> str:
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def target_rows(run: ExportRun) -> list[list[Any]]:
    rows = []
    for name, row in run.device["targets"].items():
        size = row.get("size_bytes")
        notes = list(row.get("reasons") or [])
        stored = (row.get("checks") or {}).get("stored_weights")
        if stored and stored.get("status") == "pass":  # the one Core ML number measurable off macOS
            notes.append(f"stored_weights: {stored.get('reason', '')}")
        rows.append([
            run.name, name, row.get("file", ""), VERDICT_LABEL.get(row.get("verdict"), str(row.get("verdict"))),
            _num(size / 1e6 if isinstance(size, (int, float)) else None, ".3f"), _num(row.get("iou"), ".4f"),
            _num(row.get("max_dp"), ".4f"), _num(row.get("latency_median_ms"), ".2f"), _num(row.get("latency_p90_ms"), ".2f"),
            "; ".join(notes) or "–",
        ])
    return rows


class DeviceSection:
    id = "device"
    title = "Export and device targets"
    nav = "Devices"

    def build(self, ctx: BuildContext) -> SectionView:
        root = getattr(ctx.data.inputs, "export", None)
        runs = collect_exports(root)
        if not runs:
            where = f"{root} holds no export" if root is not None else "no --export folder given"
            return SectionView(self.id, self.title, blocks=[Note(
                f"Stage not run: {where}. Run the export stage (dvc repro) and rebuild the report.", "missing")],
                available=False, nav=self.nav)
        rows = [r for run in runs for r in target_rows(run)]
        verdicts = [row["verdict"] for run in runs for row in run.device["targets"].values()]
        platforms = sorted({str(run.device.get("platform")) for run in runs})
        blocks: list[Any] = [Stats([
            ("models", str(len(runs))), ("checks", str(len(verdicts))), ("pass", str(verdicts.count("pass"))),
            ("fail", str(verdicts.count("fail"))), ("not checkable here", str(verdicts.count("not-checkable-here"))),
            ("checked on", ", ".join(platforms)),
        ])]
        guarded = [run.name for run in runs if (run.export.get("int8_guard") or {}).get("fired")]
        if guarded:
            blocks.append(Note(f"int8 logit guard fired for {', '.join(guarded)}: their calibration logits spanned beyond "
                               "the limit, so the int8 file's logits are clamped (export.json int8_guard).", "warn"))
        errors = [f"{run.name}: {f}: {why}" for run in runs for f, why in (run.export.get("errors") or {}).items()]
        if errors:
            blocks.append(Note("Conversions that failed: " + "; ".join(errors), "warn"))
        mismatch = [run.name for run in runs if run.export.get("dataset_match") is False]
        if mismatch:
            blocks.append(Note(f"Checked on another dataset version than the model was trained on: {', '.join(mismatch)}.", "warn"))
        blocks.append(Table(
            COLUMNS, rows, numeric=[False, False, False, False, True, True, True, True, True, False],
            muted_rows=[r[3] == VERDICT_LABEL["not-checkable-here"] for r in rows],
            caption="Parity: the exported file against the PyTorch model on the same letterboxed images (val, topped up "
            "when val is small; the reason lists them), masks at the export threshold. Latency: one thread on the "
            "machine that ran the export, after warm-up. Core ML runs only on macOS; the TFLite GPU delegate needs a "
            "phone GPU: those checks say 'not checkable here', never pass.",
        ))
        return SectionView(self.id, self.title, "Whether each exported file will run on its device, how big it is, how "
                           "closely it agrees with the trained model and how fast it is where that can be measured.",
                           blocks, nav=self.nav)
