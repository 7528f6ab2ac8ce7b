"""Every image mode Pillow opens decodes to the right 8-bit RGB (or is refused by name), and the file
checker agrees with the decoder: what `check_files` passes, `load_image` reads correctly."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from lesionlab.data.preprocess import load_image, load_mask, to_rgb8
from lesionlab.data.records import LabeledDataset, Record
from lesionlab.data.validate import check_files
from lesionlab.errors import DataError

H, W = 6, 64
RAMP8 = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (H, 1))  # 0..252, one step per column


def _gray(out: np.ndarray) -> np.ndarray:
    """The single channel of a decoded grayscale image, after checking the three channels agree."""
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    return out[..., 0]


def _checked(path: Path) -> list[str]:
    ds = LabeledDataset("t", "t", ["a", "b"], [Record("x", path, 0)])
    return [p.problem for p in check_files(ds, workers=1)]


def test_16bit_png_keeps_its_gradient(tmp_path: Path) -> None:
    ramp16 = (RAMP8.astype(np.uint16) * 257).astype(np.uint16)  # 8-bit value v as 16-bit v * 257
    path = tmp_path / "g16.png"
    Image.fromarray(ramp16).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    assert np.array_equal(_gray(load_image(path, None)), RAMP8)  # was all white (clipped at 255)
    assert _checked(path) == []


@pytest.mark.parametrize("mode", ["I;16B", "I;16L"])
def test_16bit_byte_orders(mode: str) -> None:
    ramp16 = RAMP8.astype(np.uint16) * 257
    im = Image.frombytes(mode, (W, H), ramp16.astype(">u2" if mode.endswith("B") else "<u2").tobytes())
    assert np.array_equal(_gray(np.array(to_rgb8(im, Path("x")))), RAMP8)


def test_float_tiff_in_unit_range_is_scaled_by_255(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    Image.fromarray((RAMP8 / 255.0).astype(np.float32)).save(path)
    with Image.open(path) as im:
        assert im.mode == "F"
    assert np.array_equal(_gray(load_image(path, None)), RAMP8)  # was all black (values 0..1 as 8-bit)
    assert _checked(path) == []


def test_float_tiff_outside_unit_range_is_stretched(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    Image.fromarray(RAMP8.astype(np.float32) * 10.0 - 500.0).save(path)
    out = _gray(load_image(path, None))
    assert out[0, 0] == 0 and out[0, -1] == 255
    assert np.all(np.diff(out[0].astype(int)) > 0)  # still a strictly increasing ramp


def test_float_with_nan_is_refused_by_checker_and_decoder(tmp_path: Path) -> None:
    arr = (RAMP8 / 255.0).astype(np.float32)
    arr[0, 0] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(arr).save(path)
    with pytest.raises(DataError, match=r"nan\.tif.*NaN or infinite"):
        load_image(path, 8)
    (problem,) = _checked(path)
    assert "NaN" in problem


def test_32bit_integer_tiff_is_stretched_min_max(tmp_path: Path) -> None:
    path = tmp_path / "i32.tif"
    Image.fromarray(RAMP8.astype(np.int32) * 1000 + 70000).save(path)
    with Image.open(path) as im:
        assert im.mode == "I"
    out = _gray(load_image(path, None))
    assert out[0, 0] == 0 and out[0, -1] == 255 and np.all(np.diff(out[0].astype(int)) > 0)


def test_constant_32bit_image_is_black_not_an_error() -> None:
    im = Image.fromarray(np.full((H, W), 5, np.int32))
    assert not np.array(to_rgb8(im, Path("x"))).any()


def _rgb_noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgb = _rgb_noise()
    alpha = np.zeros((H, W), np.uint8)
    alpha[:, : W // 2] = 255  # left half opaque, right half fully transparent
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    out = load_image(path, None)
    assert np.array_equal(out[:, : W // 2], rgb[:, : W // 2])
    assert (out[:, W // 2 :] == 255).all()
    half = Image.fromarray(np.dstack([np.zeros((H, W, 3), np.uint8), np.full((H, W), 128, np.uint8)]))
    assert np.abs(np.array(to_rgb8(half, path)).astype(int) - 127).max() <= 1  # black at 50 % on white


def _with_alpha(mode: str, alpha: int) -> Image.Image:
    """RAMP8 as gray in `mode` with a constant alpha; premultiplied modes are built from their bytes
    (Pillow's own RGBA -> La conversion drops the alpha)."""
    if mode in ("La", "RGBa"):
        gray = np.rint(RAMP8 * (alpha / 255)).astype(np.uint8)  # premultiplied
        bands = [gray] * (1 if mode == "La" else 3) + [np.full_like(RAMP8, alpha)]
        return Image.frombytes(mode, (W, H), np.dstack(bands).tobytes())
    if mode == "PA":
        return Image.merge("PA", [Image.fromarray(RAMP8).convert("P"), Image.new("L", (W, H), alpha)])
    return Image.merge("LA", [Image.fromarray(RAMP8), Image.new("L", (W, H), alpha)])


@pytest.mark.parametrize("mode", ["LA", "La", "PA", "RGBa"])
def test_other_alpha_modes_composite_on_white(mode: str) -> None:
    assert (np.array(to_rgb8(_with_alpha(mode, 0), Path("x"))) == 255).all()
    assert np.array_equal(_gray(np.array(to_rgb8(_with_alpha(mode, 255), Path("x")))), RAMP8)


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.fromarray(RAMP8).convert("P")
    path = tmp_path / "p.png"
    im.save(path, transparency=0)  # palette entry 0 (black, the first column) is transparent
    out = _gray(load_image(path, None))
    assert (out[:, 0] == 255).all() and np.array_equal(out[:, 1:], RAMP8[:, 1:])
    plain = tmp_path / "p2.png"
    Image.fromarray(RAMP8).convert("P").save(plain)
    assert np.array_equal(_gray(load_image(plain, None)), RAMP8)


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"])
def test_modes_pillow_converts_itself(mode: str) -> None:
    rgb = Image.fromarray(_rgb_noise())
    im = rgb.convert("L").convert("1") if mode == "1" else rgb.convert(mode)
    out = np.array(to_rgb8(im, Path("x")))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    if mode in ("RGB", "RGBX"):
        assert np.array_equal(out, np.array(rgb))
    elif mode in ("YCbCr", "HSV", "CMYK"):  # round trips through the colour space lose at most rounding
        assert np.abs(out.astype(int) - np.array(rgb).astype(int)).mean() < 3


def test_cmyk_jpeg_and_grayscale_jpeg(tmp_path: Path) -> None:
    rgb = Image.fromarray(np.full((H, W, 3), (200, 120, 60), np.uint8))
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = load_image(tmp_path / "cmyk.jpg", None)
    assert np.abs(out.reshape(-1, 3).mean(0) - (200, 120, 60)).max() < 6
    assert _checked(tmp_path / "cmyk.jpg") == []


def test_unknown_mode_is_refused_by_name() -> None:
    class Odd:
        mode = "I;32BS"
        info: ClassVar[dict] = {}

    with pytest.raises(DataError, match=r"odd\.tif has image mode 'I;32BS'.*8-bit RGB"):
        to_rgb8(Odd(), Path("odd.tif"))  # type: ignore[arg-type]


def test_16bit_mask_with_0_1_or_0_65535_stays_binary(tmp_path: Path) -> None:
    truth = np.zeros((8, 8), bool)
    truth[2:6, 3:7] = True
    for scale in (1, 65535):
        path = tmp_path / f"m{scale}.png"
        Image.fromarray(truth.astype(np.uint16) * scale).save(path)
        assert np.array_equal(load_mask(path, None), truth)
    la = tmp_path / "la.png"
    Image.fromarray(np.dstack([truth.astype(np.uint8) * 255, np.full((8, 8), 255, np.uint8)])).save(la)
    assert np.array_equal(load_mask(la, None), truth)


def test_16bit_png_opened_as_32bit_by_older_pillow_is_scaled_by_65535() -> None:
    im = Image.fromarray(RAMP8.astype(np.int32) * 257)  # Pillow < 11 opens 16-bit PNGs in mode I
    im.format = "PNG"
    assert np.array_equal(_gray(np.array(to_rgb8(im, Path("x.png")))), RAMP8)
    dark = Image.fromarray(np.full((H, W), 257 * 10, np.int32))
    dark.format = "PNG"
    assert (np.array(to_rgb8(dark, Path("x.png"))) == 10).all()  # not stretched to white
