"""The one photo reader (portraitkit.images): every odd mode written with Pillow, pixels checked."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from portraitkit.errors import UserError
from portraitkit.images import BACKGROUND, MAX_PIXELS, MAX_SIDE, load_image, read_image

H, W = 20, 30


@pytest.fixture
def rgb() -> np.ndarray:
    """Blocky colours (JPEG keeps them within a few levels)."""
    rng = np.random.default_rng(0)
    return np.kron(rng.integers(0, 256, (H // 5, W // 5, 3), np.uint8), np.ones((5, 5, 1), np.uint8))


def _exif(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def test_plain_rgb_both_orders(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    r = read_image(tmp_path / "a.png", W, H)
    assert r.problem is None and r.notes == [] and r.rgb.dtype == np.uint8 and (r.rgb == rgb).all()
    b = read_image(tmp_path / "a.png", W, H, order="BGR")
    assert (b.pixels == rgb[:, :, ::-1]).all() and (b.rgb == rgb).all() and b.pixels.flags.c_contiguous


def test_exif_rotated_jpeg_follows_the_annotation_frame(tmp_path, rgb):
    path = tmp_path / "exif.jpg"
    Image.fromarray(rgb).save(path, exif=_exif(6), quality=100, subsampling=0)  # display: rotate 90 degrees clockwise
    decoded = np.asarray(Image.open(path).convert("RGB"))  # the stored pixels, as Pillow decodes them
    shown = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert shown.shape == (W, H, 3) and np.abs(decoded.astype(int) - rgb).mean() < 3

    free = read_image(path)  # no record: the photo as a person sees it
    assert free.rgb.shape == (W, H, 3) and (free.rgb == shown).all()
    assert free.notes == ["exif_orientation_applied:6"] and free.orientation == 6
    stored = read_image(path, W, H)  # the record's frame is the stored one (COCO): tag ignored
    assert (stored.rgb == decoded).all() and stored.notes == ["exif_orientation_ignored:6"]
    rotated = read_image(path, H, W)  # the record's frame is the rotated one: applied
    assert (rotated.rgb == shown).all() and rotated.notes == ["exif_orientation_applied:6"]
    assert (rotated.rgb == np.rot90(decoded, -1)).all()
    assert read_image(path, W + 1, H).problem == f"image_size_mismatch:{W}x{H}!={W + 1}x{H}"


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_orientation_matches_pillow(tmp_path, rgb, orientation):
    path = tmp_path / "o.png"
    Image.fromarray(rgb).save(path, exif=_exif(orientation))
    want = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert (read_image(path).rgb == want).all()


def test_rgba_png_is_composited_over_the_background(tmp_path, rgb):
    alpha = np.full((H, W), 255, np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 128
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    r = read_image(tmp_path / "a.png", W, H)
    assert r.notes == ["image_alpha_composited"]
    assert tuple(r.rgb[0, 0]) == BACKGROUND
    half = np.clip(rgb[0, 1].astype(np.float32) * 128 / 255 + 255 * (1 - 128 / 255) + 0.5, 0, 255).astype(np.uint8)
    assert (r.rgb[0, 1] == half).all()
    assert (r.rgb[1:] == rgb[1:]).all()
    # fully opaque alpha: the pixels as they are, no note
    Image.fromarray(np.dstack([rgb, np.full((H, W), 255, np.uint8)]), "RGBA").save(tmp_path / "o.png")
    o = read_image(tmp_path / "o.png")
    assert (o.rgb == rgb).all() and o.notes == []


def test_la_and_palette_with_transparency(tmp_path, rgb):
    gray = rgb[..., 0]
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, :3] = 0
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "la.png")
    r = read_image(tmp_path / "la.png")
    assert (r.rgb[:, :3] == 255).all() and (r.rgb[:, 3:] == gray[:, 3:, None]).all()
    assert r.notes == ["image_converted:LA", "image_alpha_composited"]

    pal = Image.fromarray(rgb).quantize(8)
    pal.save(tmp_path / "p.png")
    p = read_image(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert (p.rgb == np.asarray(pal.convert("RGB"))).all() and p.notes == ["image_converted:P"]
    pal.save(tmp_path / "pt.png", transparency=int(np.asarray(pal)[0, 0]))
    t = read_image(tmp_path / "pt.png")
    clear = np.asarray(pal) == np.asarray(pal)[0, 0]
    assert (t.rgb[clear] == 255).all() and (t.rgb[~clear] == np.asarray(pal.convert("RGB"))[~clear]).all()
    assert "image_alpha_composited" in t.notes


def test_16_bit_png_gray_and_colour(tmp_path, rgb):
    g16 = rgb[..., 0].astype(np.uint16) * 257
    g16[0, 0] = 1000  # round(1000 / 257) = 4, not 1000 >> 8 = 3
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    g = read_image(tmp_path / "g16.png")
    want = rgb[..., 0].copy()
    want[0, 0] = 4
    assert (g.rgb == want[..., None]).all() and g.notes[0].startswith("image_converted:I")

    c16 = rgb[..., ::-1].astype(np.uint16) * 257
    c16[0, 0] = (1000, 1000, 1000)
    cv2.imwrite(str(tmp_path / "c16.png"), c16)  # Pillow alone would truncate to the high byte
    c = read_image(tmp_path / "c16.png", W, H)
    want = rgb.copy()
    want[0, 0] = 4
    assert (c.rgb == want).all() and c.notes == ["image_converted:RGB;16"]

    a16 = np.dstack([c16, np.full((H, W), 65535, np.uint16)])
    a16[1, 1, 3] = 0
    cv2.imwrite(str(tmp_path / "a16.png"), a16)
    a = read_image(tmp_path / "a16.png")
    assert tuple(a.rgb[1, 1]) == BACKGROUND and (a.rgb[2:] == want[2:]).all()
    assert a.notes == ["image_converted:RGB;16", "image_alpha_composited"]


def test_cmyk_jpeg_and_grayscale(tmp_path, rgb):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100, subsampling=0)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    r = read_image(tmp_path / "cmyk.jpg", W, H)
    assert r.rgb.shape == (H, W, 3) and r.notes == ["image_converted:CMYK"]
    assert np.abs(r.rgb.astype(int) - rgb).mean() < 4

    Image.fromarray(rgb[..., 1]).save(tmp_path / "l.png")
    g = read_image(tmp_path / "l.png", W, H)
    assert (g.rgb == rgb[..., 1:2]).all() and g.notes == ["image_converted:L"]


def _png_claiming(path, width: int, height: int) -> None:
    """A tiny valid PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "size,problem",
    [
        ((12_000, 12_000), "image_too_large:12000x12000"),  # over our limit, under Pillow's own error
        ((MAX_SIDE + 1, 2), f"image_too_large:{MAX_SIDE + 1}x2"),
        ((100_000, 100_000), "image_too_large:"),  # Pillow refuses it at open
    ],
)
def test_bomb_sized_header_is_refused_before_decoding(tmp_path, size, problem):
    assert size[0] * size[1] > MAX_PIXELS or max(size) > MAX_SIDE
    path = tmp_path / "bomb.png"
    _png_claiming(path, *size)
    r = read_image(path)
    assert r.pixels is None and r.problem.startswith(problem), r.problem
    with pytest.raises(UserError) as err:
        load_image(path, context="image 7")
    assert str(err.value).startswith(f"{path}: image 7: image_too_large") and "\n" not in str(err.value)


def test_broken_missing_and_unnameable_files(tmp_path, rgb):
    assert read_image(tmp_path / "missing.jpg").problem == "image_missing"
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8not a jpeg")
    assert read_image(tmp_path / "junk.jpg").problem.startswith("image_unreadable:")
    ok, buf = cv2.imencode(".jpg", rgb)
    (tmp_path / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    assert read_image(tmp_path / "cut.jpg").problem.startswith("image_unreadable:")
    assert read_image(tmp_path / ("x" * 5000 + ".jpg")).problem.startswith("image_unreadable:bad file name")


def test_limits_equal_curates():
    from portraitkit.curate import validate

    assert (MAX_PIXELS, MAX_SIDE) == (validate.MAX_PIXELS, validate.MAX_SIDE)
