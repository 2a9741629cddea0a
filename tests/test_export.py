"""``portraitkit export`` on a tiny model trained on the session pipeline (32 px, a few steps).

The conversions are slow (about a minute for all six files), so one export is shared by the module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

from portraitkit.cli import app
from portraitkit.contracts import check_output
from portraitkit.io import read_json, sha256_file, sha256_tree
from portraitkit.params import load_params
from portraitkit.params.export import TARGET_NAMES
from portraitkit.train.export import contract as C
from portraitkit.train.export.checks import NOT_HERE, PASS, Check, check_ops, parity, tflite_runner, torch_runner
from portraitkit.train.export.convert import dir_size
from portraitkit.train.export.opsets import ops_of
from portraitkit.train.export.targets import load_targets, target_files
from portraitkit.train.fingerprint import curated_fingerprint
from tests.conftest import run_portraitkit


@pytest.fixture(scope="module")
def tiny(stage_outputs, tmp_path_factory):
    """(params file, trained model.pt, export folder) of one real train -> export run."""
    root = tmp_path_factory.mktemp("export")
    params = yaml.safe_load(stage_outputs.params.read_text())
    params["train"].update(input_size=32, batch_size=4, steps=3, warmup_steps=1)
    params["export"].update(calibration_images=8, parity_images=20, latency_runs=5, latency_warmup=1)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    run_portraitkit("train", "--curated", stage_outputs.curated, "--images", stage_outputs.images, "--out", root / "train",
                    "--device", "cpu", "--threads", 1, "--params", path)
    model = root / "train" / "model.pt"
    run_portraitkit("export", "--model", model, "--curated", stage_outputs.curated, "--images", stage_outputs.images,
                    "--out", root / "out", "--params", path)
    return path, model, root / "out"


def test_exported_files_carry_no_checkout_path_date_or_random_id(tiny):
    # the same checkpoint must give the same bytes from any folder, on any day (export.json's sha256)
    import json
    import uuid

    import onnx
    from coremltools.proto import Model_pb2

    from portraitkit.train.export.convert import CONVERSION_DATE_KEY, STACK_TRACE_KEY

    _, _, out = tiny
    proto = onnx.load(str(out / C.ONNX))
    keys = {m.key for n in proto.graph.node for m in n.metadata_props}
    assert STACK_TRACE_KEY not in keys and "pkg.torch.onnx.name_scopes" in keys  # only the traces went
    assert str(Path(__file__).resolve().parents[1]).encode() not in (out / C.ONNX).read_bytes()
    for package in C.PACKAGES:
        manifest = json.loads((out / package / "Manifest.json").read_text())
        for item_id, entry in manifest["itemInfoEntries"].items():
            assert item_id == str(uuid.uuid5(uuid.NAMESPACE_URL, f"portraitkit-mlpackage:{entry['path']}"))
        root = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]
        spec = Model_pb2.Model()
        spec.ParseFromString((out / package / "Data" / root["path"]).read_bytes())
        assert CONVERSION_DATE_KEY not in spec.description.metadata.userDefined
        assert "com.github.apple.coremltools.version" in spec.description.metadata.userDefined


def test_export_writes_every_file_and_sane_device_rows(stage_outputs, tiny):
    _, model, out = tiny
    check_output(out, C.CONTRACT)
    for name in C.MODEL_FILES:
        assert (out / name).exists(), name
    assert all((out / p).is_dir() for p in C.PACKAGES)

    exp = read_json(out / "export.json")
    assert [f["file"] for f in exp["files"]] == list(C.MODEL_FILES) and exp["errors"] == {}
    for entry in exp["files"]:
        path = out / entry["file"]
        assert entry["sha256"] == (sha256_tree(path) if path.is_dir() else sha256_file(path))
        assert entry["size_bytes"] == dir_size(path) > 0
    assert exp["input_spec"]["layout"] == "nchw"
    assert {f["file"]: f["input_spec"]["layout"] for f in exp["files"]}[C.TFLITE_FP32] == "nhwc"
    assert exp["source"]["sha256"] == sha256_file(model)
    assert exp["dataset_fingerprint"] == exp["curated_fingerprint"] == curated_fingerprint(stage_outputs.curated)
    assert exp["dataset_match"] is True and exp["int8_guard"]["fired"] is False  # our heads are bounded to +-8

    device = read_json(out / "device.json")
    rows = device["targets"]
    assert list(rows) == list(TARGET_NAMES)
    assert sum(device["summary"].values()) == len(rows)
    for name, row in rows.items():
        assert set(C.TARGET_ROW_KEYS) <= set(row) and row["verdict"] in C.VERDICTS, name
        assert (row["verdict"] == PASS) == (row["reasons"] == []), name
        # the op set is read from the exported file itself
        assert row["checks"]["ops"]["value"] == sorted(ops_of(out / row["file"])), name
        assert row["size_bytes"] == dir_size(out / row["file"])
    assert "CONV_2D" in rows["android-cpu"]["checks"]["ops"]["value"]
    assert "conv" in rows["ios-ane"]["checks"]["ops"]["value"] and "Conv" in rows["onnx-cpu"]["checks"]["ops"]["value"]
    # fp32 files agree with PyTorch on at least 20 images (val topped up from test and train)
    for name in ("onnx-cpu", "android-cpu-fp32"):
        par = rows[name]["checks"]["parity"]
        assert par["status"] == PASS and par["value"]["images"] >= 20 and rows[name]["iou"] >= 0.99, par
        assert sum(par["value"]["splits"].values()) == par["value"]["images"]
        assert rows[name]["latency_median_ms"] > 0 and rows[name]["checks"]["latency"]["value"]["runs"] == 5
    assert rows["android-cpu"]["iou"] is not None and 0 <= rows["android-cpu"]["max_dp"] <= 1
    # no mobile GPU and (off macOS) no Core ML runtime: never a pass
    assert rows["android-gpu"]["checks"]["latency"]["status"] == NOT_HERE
    for name in ("ios-ane", "ios-ane-w8"):
        row = rows[name]
        assert row["checks"]["io"]["status"] == PASS  # ML program, iOS 16, fp16 io: read from the package
        if name == "ios-ane-w8":  # every conv weight stored in 8 bits, read from the MIL program
            assert row["checks"]["weights"]["status"] == PASS, row["checks"]["weights"]
        # the stored weights, loaded back into the PyTorch model, scored on the parity images (any system)
        stored = row["checks"]["stored_weights"]
        assert stored["status"] in (PASS, "fail") and stored["value"]["images"] >= 20, stored
        assert (stored["status"] == PASS) == (stored["value"]["iou"] >= load_targets([name])[0].min_iou)
        if sys.platform != "darwin":
            assert row["verdict"] != PASS
            for check in ("parity", "latency"):
                assert row["checks"][check]["status"] == NOT_HERE
                assert "macOS only" in row["checks"][check]["reason"]


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML predict() runs only on macOS")
def test_coreml_parity_runs_on_macos(tiny):  # pragma: no cover - Linux CI
    row = read_json(tiny[2] / "device.json")["targets"]["ios-ane"]
    assert row["checks"]["parity"]["status"] != NOT_HERE and row["iou"] is not None


def test_stored_coreml_weights_load_back_into_the_model(tiny):
    """fp16 weights read from the package equal the exported (BN-folded) model's to fp16 precision, 8-bit
    ones to 8-bit precision; a package of another model is refused, not silently mis-loaded."""
    from portraitkit.train.checkpoint import load_checkpoint
    from portraitkit.train.export.convert import prepare
    from portraitkit.train.export.coreml_weights import WeightMappingError, convs_in_call_order, with_stored_weights

    _, model_path, out = tiny
    model, meta = load_checkpoint(model_path)
    prepared = prepare(model)
    sample = (torch.zeros(1, int(meta["in_channels"]), int(meta["input_size"]), int(meta["input_size"])),)
    before = [m.weight.detach().clone() for m in convs_in_call_order(prepared, sample)]
    errors = {}
    for name, bound in ((C.COREML_FP16, 2e-3), (C.COREML_W8, 2e-2)):
        loaded = with_stored_weights(prepared, out / name, sample)
        after = [m.weight.detach() for m in convs_in_call_order(loaded, sample)]
        rel = max(float((a - b).norm() / b.norm().clamp_min(1e-12)) for a, b in zip(after, before))
        errors[name] = rel
        assert rel <= bound, (name, rel)
    assert 0 < errors[C.COREML_FP16] < errors[C.COREML_W8]  # 8 bits lose more than fp16, and neither is a no-op
    assert all(torch.equal(m.weight, b) for m, b in zip(convs_in_call_order(prepared, sample), before))  # a copy
    other = prepare(nn.Sequential(nn.Conv2d(int(meta["in_channels"]), 4, 3, padding=1), nn.Conv2d(4, 1, 1)))
    with pytest.raises(WeightMappingError, match="convs in the package"):
        with_stored_weights(other, out / C.COREML_FP16, sample)


def test_ops_check_fails_an_op_outside_the_target(tiny):
    target = load_targets(["android-cpu"])[0].model_copy(update={"allowed_ops": ["CONV_2D"]})
    check = check_ops(target, tiny[2] / C.TFLITE_INT8)
    assert check.status == "fail" and "does not run" in check.reason
    assert isinstance(check, Check)


def test_exported_tflite_evaluates_like_the_checkpoint(stage_outputs, tiny):
    params, model, out = tiny
    split = next(s for s in ("val", "test", "train") if read_json(stage_outputs.curated / f"{s}.json")["images"])
    ious = {}
    for name, path in (("pt", model), ("fp32", out / C.TFLITE_FP32), ("int8", out / C.TFLITE_INT8), ("onnx", out / C.ONNX)):
        dest = out.parent / f"eval_{name}"
        run_portraitkit("evaluate", "--model", path, "--curated", stage_outputs.curated, "--images", stage_outputs.images,
                        "--split", split, "--out", dest, "--device", "cpu", "--params", params)
        metrics = read_json(dest / "metrics.json")
        ious[name] = metrics["iou"]
        if name != "pt":  # the spec came from export.json (NHWC for TFLite), not from guessing
            assert metrics["input_spec"]["layout"] == ("nchw" if name == "onnx" else "nhwc")
    assert abs(ious["fp32"] - ious["pt"]) <= 0.01 and abs(ious["onnx"] - ious["pt"]) <= 0.01, ious
    assert 0.0 <= ious["int8"] <= 1.0


class HugeLogits(nn.Module):
    """Logits of -+3 over most pixels and down to -800 where green > 0.9: the range that breaks int8."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 3.0
            self.conv.bias.fill_(-2.4)

    def forward(self, x):
        return self.conv(x) - 8000.0 * torch.relu(x[:, 1:2] - 0.9)


def test_int8_logit_guard(tmp_path):
    from portraitkit.train.export import convert
    from portraitkit.train.export.stage import attempter, export_int8

    model = HugeLogits().eval()
    x = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
    convert.export_tflite_fp32(model, (torch.from_numpy(x[:1]),), tmp_path / C.TFLITE_FP32)
    ref = [torch_runner(model)((s[None],)) for s in x]
    p = load_params(None).export
    results = {}
    for name, limit in (("guarded", p.int8_logit_limit), ("unguarded", 1e9)):
        errors: dict[str, str] = {}
        guard = export_int8(model, x, tmp_path, p.model_copy(update={"int8_logit_limit": limit}),
                            attempter(tmp_path, errors, log=lambda s: None))
        assert errors == {}
        run = tflite_runner(tmp_path / C.TFLITE_INT8)
        results[name] = (guard, parity(ref, [run((s[None],)) for s in x], 0.5)["iou"])
    guard, iou = results["guarded"]
    assert guard["fired"] is True and guard["calibration_logit_min"] < -500 and guard["clamp"] == p.int8_logit_clamp
    assert results["unguarded"][0]["fired"] is False
    # without the guard the int8 file's masks are mostly wrong; with it they agree
    assert results["unguarded"][1] < 0.5 < 0.95 <= iou, results


def test_targets_are_one_yaml_each_and_match_the_params_choice():
    assert sorted(target_files()) == sorted(TARGET_NAMES)
    targets = {t.name: t for t in load_targets()}
    assert targets["android-cpu"].precision == "int8" and targets["android-cpu"].max_size_mb == 1.0
    assert targets["ios-ane"].min_specification_version == 7 and targets["ios-ane"].max_size_mb == 2.0
    assert targets["android-gpu"].runtime == "litert-gpu" and targets["onnx-cpu"].runtime == "onnxruntime"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "portraitkit", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_bad_model_and_out_are_one_line_errors(stage_outputs, tiny, tmp_path):
    params, model, out = tiny
    common = ["--curated", stage_outputs.curated, "--images", stage_outputs.images, "--params", params]
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for bad, message in ((corrupt, "not a readable portraitkit checkpoint"), (foreign, "not a portraitkit checkpoint")):
        proc = _cli("export", "--model", bad, "--out", tmp_path / "o", *common)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(bad) in errors[0] and message in errors[0], proc.stderr[-800:]
        assert not (tmp_path / "o").exists()
    # --out: a user's folder, an input, or another stage's output are refused before any work
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    runner = CliRunner()
    for dest, messages in ((mine, ["portraitkit did not write"]), (stage_outputs.curated, ["the input"]),
                           (model.parent, ["contains the input"]),
                           (stage_outputs.augmented, ["`portraitkit augment`", "portraitkit did not write"])):
        result = runner.invoke(app, ["export", "--model", str(model), "--out", str(dest), *map(str, common)])
        assert result.exit_code != 0 and any(m in str(result.exception) for m in messages), (dest, result.exception)
    assert (mine / "notes.txt").read_text() == "keep me"
    # a wrong --targets value is a usage error naming the choices
    result = runner.invoke(app, ["export", "--model", str(model), "--out", str(tmp_path / "o"), "--targets", "android-cpu,nope",
                                 *map(str, common)])
    assert result.exit_code == 2 and "nope" in result.output and "onnx-cpu" in result.output


def test_report_device_section(stage_outputs, tiny, tmp_path):
    import shutil

    params, _, out = tiny
    root = tmp_path / "export"
    shutil.copytree(out, root / "tiny_unet")
    run_portraitkit("report", "--out", tmp_path / "site", "--curated", stage_outputs.curated, "--flags", stage_outputs.flags,
                    "--clicks", stage_outputs.clicks, "--augmented", stage_outputs.augmented, "--images", stage_outputs.images,
                    "--export", root, "--params", params)
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="device"'):]
    device = read_json(out / "device.json")
    for name, row in device["targets"].items():
        assert f"<td>{name}</td>" in section or name in section
        for reason in row["reasons"]:  # every fail / not-checkable reason is shown
            assert reason.split(": ", 1)[1][:40].replace("<", "&lt;").replace(">", "&gt;") in section, reason
    assert "not checkable here" in section and "macOS only" in section
    # a folder that is no export is a one-line error naming the file
    (root / "broken").mkdir()
    (root / "broken" / "device.json").write_text("{}")
    (root / "broken" / "export.json").write_text("{}")
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "site2"), "--curated", str(stage_outputs.curated),
                                      "--export", str(root), "--params", str(params)])
    assert result.exit_code != 0 and "missing key(s)" in str(result.exception)
