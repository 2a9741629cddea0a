"""``portraitkit train`` end to end on the session pipeline's curated output (32 px, 2 steps)."""

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.conftest import run_portraitkit
from portraitkit.cli import app
from portraitkit.train.checkpoint import load_checkpoint
from portraitkit.train.fingerprint import curated_fingerprint
from portraitkit.io import read_json
from portraitkit.contracts import check_output
from portraitkit.train.contract import CONTRACT as TRAIN_CONTRACT


@pytest.fixture(scope="module")
def tiny_params(stage_outputs, tmp_path_factory):
    params = yaml.safe_load(stage_outputs.params.read_text())
    params["train"].update(input_size=32, batch_size=4, steps=2, warmup_steps=1)
    path = tmp_path_factory.mktemp("train_params") / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _train(stage_outputs, params, out, *extra):
    return run_portraitkit("train", "--curated", stage_outputs.curated, "--images", stage_outputs.images,
                           "--out", out, "--device", "cpu", "--threads", 1, "--params", params, *extra)


def test_train_writes_loadable_deterministic_checkpoint(stage_outputs, tiny_params, tmp_path):
    _train(stage_outputs, tiny_params, tmp_path / "a")
    _train(stage_outputs, tiny_params, tmp_path / "b")
    check_output(tmp_path / "a", TRAIN_CONTRACT)  # what the report and the evaluate stage rely on
    model, meta = load_checkpoint(tmp_path / "a" / "model.pt")
    assert meta["arch"] == "portrait_unet" and meta["input_size"] == 32 and meta["step"] == 2
    assert meta["dataset_fingerprint"] == curated_fingerprint(stage_outputs.curated)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 1, 32, 32)
    metrics = read_json(tmp_path / "a" / "metrics.json")
    assert metrics["stage"] == "train" and metrics["n_train"] > 0 and np.isfinite(metrics["final_loss"])
    assert metrics["val_iou"] is None or 0.0 <= metrics["val_iou"] <= 1.0
    # same seed, same inputs: the same bytes on disk (not only equal tensors)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    sa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    fresh = __import__("portraitkit.train.models", fromlist=["build_model"]).build_model("portrait_unet")
    assert any(not torch.equal(sa[k], v) for k, v in fresh.state_dict().items() if v.is_floating_point())


def test_train_refuses_foreign_out_folder(stage_outputs, tiny_params, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["train", "--curated", str(stage_outputs.curated), "--images",
                                      str(stage_outputs.images), "--out", str(tmp_path), "--params", str(tiny_params)])
    assert result.exit_code != 0
    assert "did not write" in result.output + str(result.exception)  # the stage_output guard (portraitkit.outputs)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_train_interactive_five_channels(stage_outputs, tiny_params, tmp_path):
    _train(stage_outputs, tiny_params, tmp_path / "i", "--interactive", "--clicks", stage_outputs.clicks)
    check_output(tmp_path / "i", TRAIN_CONTRACT)
    model, meta = load_checkpoint(tmp_path / "i" / "model.pt")
    assert meta["interactive"] is True and meta["in_channels"] == 5
    assert meta["click_encoding"]["kind"] == "distance"
    with torch.no_grad():
        assert model(torch.rand(1, 5, 32, 32)).shape == (1, 1, 32, 32)
