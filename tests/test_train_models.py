"""Model registry, checkpoint and letterbox contract of the train stage (tiny inputs, CPU)."""

import numpy as np
import pytest
import torch

from portraitkit.errors import UserError
from portraitkit.train.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from portraitkit.train.letterbox import letterbox_image, letterbox_mask, unletterbox
from portraitkit.train.models import ARCHITECTURES, LOGIT_BOUND, SIZE_MULTIPLE, build_model, count_params_macs


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("channels", [3, 5])
def test_forward_shape_and_bounded_logits(arch, channels):
    torch.manual_seed(0)
    size = 2 * SIZE_MULTIPLE[arch]
    model = build_model(arch, in_channels=channels).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size) * 50)  # out-of-range input must still give bounded logits
    assert out.shape == (2, 1, size, size)
    assert out.dtype == torch.float32
    assert float(out.abs().max()) <= LOGIT_BOUND + 1e-4


def test_portrait_unet_is_small_and_counted():
    model = build_model("portrait_unet")
    n_params, macs = count_params_macs(model, 3, 64)
    assert n_params == sum(p.numel() for p in model.parameters())
    assert n_params <= 500_000
    assert macs > 0
    _, macs_big = count_params_macs(model, 3, 128)
    assert 3.5 * macs < macs_big < 4.5 * macs  # convolutions scale with the pixel count


def test_unknown_arch_is_user_error():
    with pytest.raises(UserError, match="unknown architecture"):
        build_model("resnet9000")


def _meta(model, arch):
    n_params, macs = count_params_macs(model, 3, 32)
    return {
        "format": FORMAT, "arch": arch, "model_config": {"in_channels": 3, "width": 1.0}, "in_channels": 3,
        "input_size": 32, "interactive": False, "click_encoding": None, "normalize": "0-1", "params_digest": "x",
        "dataset_fingerprint": "y", "step": 1, "best_val_iou": 0.0, "params": {}, "macs": macs, "n_params": n_params,
    }


def test_checkpoint_round_trip_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = build_model("portrait_unet").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, _meta(model, "portrait_unet"))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left behind
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    assert meta["arch"] == "portrait_unet" and meta["input_size"] == 32
    with torch.no_grad():
        assert torch.equal(loaded(x), before)


def test_bad_checkpoint_is_one_line_user_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError) as err:
        load_checkpoint(junk)
    assert "junk.pt" in str(err.value) and "\n" not in str(err.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(UserError, match="foreign.pt"):
        load_checkpoint(foreign)
    with pytest.raises(UserError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_letterbox_round_trip():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 60, 3), dtype=np.uint8)
    chw, lb = letterbox_image(img, 64)
    assert chw.shape == (3, 64, 64) and chw.dtype == np.float32 and 0 <= chw.min() and chw.max() <= 1
    assert lb.pad_x == 0 and lb.pad_y == 16 and lb.scale == pytest.approx(64 / 60)
    mask = np.zeros((30, 60), np.uint8)
    mask[5:25, 10:40] = 1
    boxed = letterbox_mask(mask, lb)
    assert boxed.shape == (64, 64) and boxed.dtype == np.uint8
    assert (boxed[:16] == 255).all() and (boxed[-16:] == 255).all()
    assert set(np.unique(boxed[16:48])) == {0, 1}
    back = unletterbox(boxed.astype(np.float32) * (boxed != 255), lb)
    assert back.shape == (30, 60)
    assert ((back > 0.5) == (mask == 1)).mean() > 0.97


def test_no_ops_outside_the_mobile_delegates():
    """Nearest resize (not in XNNPACK) and padded max-pools (a -inf PADV2 in TFLite) are kept out of every model."""
    for arch in ARCHITECTURES:
        for m in build_model(arch).modules():
            assert not (isinstance(m, torch.nn.Upsample) and m.mode == "nearest"), arch
            assert not (isinstance(m, torch.nn.MaxPool2d) and m.padding not in (0, (0, 0))), arch


def test_squeezenet_zero_padded_pool_equals_padded_max_pool():
    torch.manual_seed(0)
    model = build_model("squeezenet_sharpmask").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ours = model(x)
        model.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)  # the -inf padded pool it replaces
        assert torch.equal(ours, model(x))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_tflite_ops_are_xnnpack_builtins(arch, tmp_path):
    """The fp32 TFLite file (the project's own conversion) holds only ops of the android-cpu target, no layout transposes."""
    from portraitkit.train.export import convert
    from portraitkit.train.export.opsets import tflite_ops
    from portraitkit.train.export.targets import load_targets

    torch.manual_seed(0)
    size = 2 * SIZE_MULTIPLE[arch]
    model = convert.prepare(build_model(arch).eval())
    path = tmp_path / "model.tflite"
    convert.export_tflite_fp32(model, [torch.rand(1, 3, size, size)], path)
    allowed = set(load_targets(["android-cpu"])[0].allowed_ops)
    ops = set(tflite_ops(path))
    assert ops and ops <= allowed, sorted(ops - allowed)
    assert "TRANSPOSE" not in ops  # NHWC throughout (a constant pad litert-torch cannot rewrite adds two)
