"""``portraitkit export``: one trained model -> ONNX, TFLite, Core ML files, each checked against its device targets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, comma_choices, from_params, info
from portraitkit.params.export import TARGET_NAMES

app = typer.Typer()


@app.command("export")
def export(
    model: Path = typer.Option(..., "--model", help="A portraitkit checkpoint (the train stage's model.pt)."),
    curated: Path = typer.Option(..., "--curated", help="The curate stage's --out folder: train images calibrate int8, val images check parity."),
    images: Path = typer.Option(..., "--images", help="Folder of the photos, by COCO file_name."),
    out: Path = typer.Option(
        ..., "--out", help="Output folder (replaced as a whole): model.onnx, model_{fp32,int8,w8}.tflite, "
        "model_{fp16,w8}.mlpackage, export.json, device.json."
    ),
    clicks: Optional[Path] = typer.Option(
        None, "--clicks", help="Interactive models: the clicks stage's --out folder (click maps of the samples)."
    ),
    targets: Optional[str] = typer.Option(
        None, "--targets", metavar="T1,T2,...", callback=comma_choices(TARGET_NAMES),
        help=f"Comma-separated device targets (train/targets/<name>.yaml), each one of: {', '.join(TARGET_NAMES)}. "
        + from_params("export.targets"),
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="Runtime threads of the latency checks. " + from_params("export.threads")
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Export a trained model for phones and check each file against its device targets.

    Per target: the op set read from the exported file, its size, parity with the PyTorch model on
    val images (max |dp|, mask IoU) and latency (LiteRT / onnxruntime, one thread). Core ML parity and
    latency run on macOS only; elsewhere they are not-checkable-here, never a pass.
    """
    from portraitkit.cli_common import load_command_params
    from portraitkit.params import override
    from portraitkit.train.export.stage import export as run_export

    params = load_command_params(params_file)
    params.export = override(params.export, "export", targets=targets, threads=threads)
    device = run_export(model, curated, images, out, params, clicks=clicks)
    s = device["summary"]
    rows = device["targets"].values()
    worst = [f"{r['target']} {r['verdict']}" for r in rows if r["verdict"] != "pass"]
    info(
        f"export {device['model']} ({device['input_size']}px): {s['pass']} pass, {s['fail']} fail, "
        f"{s['not-checkable-here']} not checkable here" + (f" ({', '.join(worst)})" if worst else "") + f" -> {out}"
    )
