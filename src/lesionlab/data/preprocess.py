"""Decode images and masks to fixed-size arrays, with the colour preprocessing of the methods we follow.

Preprocessing runs after the resize: the statistics it uses (channel means, min and max) barely change
with resolution, and working on the small image is what keeps decoding cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from lesionlab.errors import DataError

PREPROCESSING = ("none", "gray_world", "grayscale_minmax")

# ITU-R 601-2 luma, the weights PIL's "L" conversion uses, kept in float to avoid quantising twice.
_LUMA = np.array([0.299, 0.587, 0.114])


def gray_world(img: np.ndarray) -> np.ndarray:
    """Gray-world colour constancy (Shi et al. 2019): evens out illumination colour across devices.

    Each channel is scaled so its mean equals the mean of the three channel means. A channel that is
    entirely zero cannot be scaled and stays zero.
    """
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"gray_world expects an HxWx3 uint8 array, got shape {img.shape} {img.dtype}")
    x = img.astype(np.float64)
    means = x.reshape(-1, 3).mean(axis=0)
    scale = np.divide(means.mean(), means, out=np.ones(3), where=means > 0)
    return np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)


def grayscale_minmax(img: np.ndarray) -> np.ndarray:
    """Grayscale stretched to the full [0, 255] range (Zhao et al. 2022): removes colour and exposure cues.

    Takes HxWx3 RGB, HxWx1 or HxW; returns HxW uint8. A constant image has no range and becomes zeros.
    """
    if img.ndim == 3 and img.shape[2] == 3:
        gray = img.astype(np.float64) @ _LUMA
    elif img.ndim == 3 and img.shape[2] == 1:
        gray = img[..., 0].astype(np.float64)
    elif img.ndim == 2:
        gray = img.astype(np.float64)
    else:
        raise ValueError(f"grayscale_minmax expects HxW, HxWx1 or HxWx3, got shape {img.shape}")
    lo, hi = gray.min(initial=np.inf), gray.max(initial=-np.inf)
    if not hi > lo:
        return np.zeros(gray.shape, dtype=np.uint8)
    return np.rint((gray - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def check_preprocessing(preprocessing: str) -> None:
    """Fail early, before any file is opened, on a preprocessing name that does not exist."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {preprocessing!r}; choose one of {', '.join(PREPROCESSING)}")


def check_size(size: int | None) -> None:
    """Refuse a size that is not a positive integer before any file is read, so the mistake is named."""
    if size is not None and (not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0):
        raise ValueError(f"size must be a positive integer or None, got {size!r}")


def unreadable_error(path: Path, reason: object, what: str = "an image") -> DataError:
    """The one message for a file that cannot be decoded, so users see the same advice everywhere."""
    return DataError(f"{path} cannot be read as {what}: {reason}; replace or remove it")


RESIZE_MODES = ("squash", "center_crop", "pad")

# Alpha is composited on white, what image viewers and browsers show, so the colours match what the user
# saw; the RGB values hidden under transparent pixels are often garbage (or black) and never used.
ALPHA_BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
# Modes Pillow turns into correct 8-bit RGB by itself (colour spaces, palettes, 1-bit, padding byte).
_DIRECT = ("1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)  # the EXIF orientations that turn the image by 90 degrees


def check_resize(resize: str) -> None:
    """Fail early, before any file is opened, on a resize mode that does not exist."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize {resize!r}; choose one of {', '.join(RESIZE_MODES)}")


def to_rgb8(im: Image.Image, path: Path) -> Image.Image:
    """Any mode Pillow opens as 8-bit RGB with its real range kept, or a DataError naming the mode.

    - 16-bit grayscale (`I;16*`) is scaled by 65535 (its full range), so a gradient stays a gradient.
    - 32-bit integer (`I`) is stretched min-max per image (its true range is unknown), except `I` from
      a PNG, which can only be 16-bit (older Pillow versions open 16-bit PNGs as `I`).
    - float (`F`) in [0, 1] is scaled by 255 (the usual convention); other ranges are stretched min-max;
      NaN or infinite values are refused.
    - alpha (`RGBA`, `LA`, `PA`, `P` with transparency, premultiplied `RGBa`/`La`) is composited on white.
    - everything else Pillow converts itself (`1`, `L`, `P`, `CMYK`, `YCbCr`, `LAB`, `HSV`, `RGBX`).
    """
    mode = im.mode
    if mode in ("RGBa", "La"):  # premultiplied alpha: undo it first
        im = im.convert(mode[:-1] + "A")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    if im.mode in _DIRECT:
        return im.convert("RGB")
    if im.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", im.size, (*ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(background, im.convert("RGBA")).convert("RGB")
    if im.mode in _SIXTEEN_BIT or (im.mode == "I" and im.format == "PNG"):
        gray = np.asarray(im).astype(np.float64) * (255.0 / 65535.0)
    elif im.mode in ("I", "F"):
        gray = np.asarray(im).astype(np.float64)
        if not np.isfinite(gray).all():
            raise DataError(
                f"{path} is a floating-point image with NaN or infinite values, which have no colour; "
                "replace them, or save the image as 8-bit RGB"
            )
        lo, hi = (float(gray.min()), float(gray.max())) if gray.size else (0.0, 0.0)
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            gray = gray * 255.0
        else:
            gray = (gray - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(gray)
    else:
        raise DataError(
            f"{path} has image mode {mode!r}, which lesionlab cannot convert to 8-bit RGB; "
            "save it as an 8-bit RGB PNG or JPEG"
        )
    return Image.fromarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8)).convert("RGB")


def mask_foreground(im: Image.Image) -> np.ndarray:
    """The one mask rule: a boolean (H, W) foreground, whatever the encoding (no EXIF rotation here).

    1. Each pixel's value is its brightest colour channel (so red strokes on black count as bright, where
       a grey conversion would make them 76), and the raw number for 16-bit, 32-bit and float masks (no
       rescaling). A mask with transparent pixels is a drawn layer: a fully transparent pixel is 0, and if
       every visible pixel has one colour (strokes in any pen colour, black included) the value is the
       alpha, so anti-aliased and black strokes count as drawn; otherwise (several colours) a pixel is
       its brightest channel as shown over black (times its opacity), so a faint anti-aliased edge
       counts as faint. A wholly transparent mask whose colours differ is refused (ValueError): shown,
       it is empty, and its hidden colours may be the drawing. An opaque colour mask with no black pixel
       measures each pixel by its difference from its darkest colour (a colour label map, lesion red on
       navy, was all "bright"); colours tied for darkest are told apart by a palette's index, else the
       mask is refused (`_colour_values`).
    2. The foreground level L starts as the median of the non-zero values and is then the median of the
       values above L / 2, repeated until it stops changing; a pixel is foreground when its value is above
       L / 2. A mask with no pixel 0 has its lowest value as background (a label map's 1 under lesion 2,
       which decoded as a full mask): L starts from the values above it; one value alone is a full mask.
       0/1 and 0/255 masks (in any bit depth, palette or colour; 0/255 also as JPEG, while `open_mask`
       refuses a JPEG 0/1 mask) decode as drawn: a stray bright row in a 0/1 mask does not move the
       median, and the faint ringing around a small JPEG lesion is dropped once the level has climbed
       to the lesion's.
    A mask with no non-zero pixel is empty. Inverted masks (dark lesion on white) decode as nearly full,
    which `describe` reports as degenerate.
    """
    values = _mask_values(im)
    level = _foreground_level(values)
    if level is None:
        return np.zeros(values.shape[:2], dtype=bool)
    return values > level / 2.0


def _mask_values(im: Image.Image) -> np.ndarray:
    """Step 1 of `mask_foreground`: one float value per pixel."""
    if im.mode in ("RGBa", "La"):
        im = im.convert(im.mode[:-1] + "A")
    if im.mode == "P" and "transparency" not in im.info:
        return _colour_values(np.asarray(im.convert("RGB")), np.asarray(im))
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    if im.mode in ("I", "F") or im.mode in _SIXTEEN_BIT:
        return np.nan_to_num(np.asarray(im).astype(np.float64))
    if im.mode in ("RGBA", "LA"):
        arr = np.asarray(im)
        alpha, colour = arr[..., -1], arr[..., :-1]
        visible = alpha > 0
        if not visible.any() and (colour != colour[:1, :1]).any():  # read as drawn, it is nothing at all
            raise ValueError(
                "every pixel is fully transparent (alpha 0), yet its colours hold a drawing; save the mask "
                "without an alpha channel, or with the drawing opaque"
            )
        if not visible.all() and visible.any():
            shown = colour[visible]
            if (shown == shown[0]).all():  # one pen colour on a transparent layer: the alpha is the drawing
                return alpha.astype(np.float64)
        if (alpha == 255).all() and colour.shape[-1] == 3:  # opaque: the colours alone, as RGB
            return _colour_values(colour, None)
        # as shown over black: a faint (anti-aliased) edge of a stroke counts as little as it shows
        return colour.max(axis=-1) * (alpha.astype(np.float64) / 255.0)
    if im.mode in ("L", "1"):
        return np.asarray(im.convert("L")).astype(np.float64)
    # RGB, RGBX, CMYK, YCbCr, LAB, HSV
    return _colour_values(np.asarray(im.convert("RGB")), None)


def _colour_values(rgb: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """Step 1 for an opaque colour mask: each pixel's brightest channel, unless no pixel is black and the
    colours say more than their brightness. A colour label map with no black (lesion red on a blue or
    navy background) was all one bright value, a full mask: there the background is the colour of the
    lowest brightness and a pixel's value its largest channel difference from it. When several colours
    share that lowest brightness (blue and red, red on white), a palette's index decides (its lowest
    index is background, as a grey label map's lowest value); in RGB nothing can, and it is refused."""
    values = rgb.max(axis=-1).astype(np.float64)
    if values.size == 0 or values.min() == 0 or ((rgb == rgb[..., :1]).all()):  # black, or greys only
        return values
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    darkest = np.unique(packed[values == values.min()])
    if len(darkest) > 1:
        if index is not None:
            return index.astype(np.float64)
        a, b = ((int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255) for c in darkest[:2])
        raise ValueError(
            f"no pixel is black, and colours {a} and {b} are equally bright: which one is the background "
            "cannot be told; save the mask with a black (0) background"
        )
    background = np.array([int(darkest[0]) >> 16, (int(darkest[0]) >> 8) & 255, int(darkest[0]) & 255])
    distance = np.abs(rgb.astype(np.int16) - background).max(axis=-1).astype(np.float64)
    # near-uniform (a full mask's lossy noise): the brightness rule, which reads it as full
    return distance if distance.max() >= FAINT_LOSSY else values


def _foreground_level(values: np.ndarray) -> float | None:
    """Step 2 of `mask_foreground`: the foreground level, None when no value is above 0.

    The candidate sets shrink from below, so the level only rises and stops within as many steps as
    there are distinct values (a few in practice)."""
    above = values[values > 0]
    if above.size == 0:
        return None
    if above.size == values.size:  # no pixel 0: the lowest value is the background (a label map's 1)
        lowest = above.min()
        above = above[above > lowest] if (above > lowest).any() else above
    level = float(np.median(above))
    while True:
        above = above[above > level / 2.0]
        new = float(np.median(above))
        if new == level:
            return level
        level = new


# A JPEG mask whose brightest value is below this (a 0/1 mask, a label map) is refused: compression
# rounds so faint a signal away block by block, so a small lesion decodes partly or not at all.
FAINT_LOSSY = 16
_LOSSY = ("JPEG", "MPO")


def refuse_faint_lossy(im: Image.Image) -> None:
    """ValueError (the fix named) for a lossy-compressed mask too faint to survive it: read as it is, it
    would train on whatever part of the lesion the compression left, without a word. Before orientation
    (`im.format` is the file's)."""
    if im.format not in _LOSSY:
        return
    top = int(np.asarray(im).max(initial=0))
    if 0 < top < FAINT_LOSSY:
        raise ValueError(
            f"a {im.format} mask whose brightest value is {top} (a 0/1 or label-map mask?): lossy "
            "compression erases so faint a lesion; save the masks as PNG (0/255 or 0/1)"
        )


def orient(im: Image.Image) -> Image.Image:
    """The image as viewers and browsers show it: its EXIF orientation applied (once, here)."""
    if im.getexif().get(EXIF_ORIENTATION, 1) in (1, None):
        return im
    return ImageOps.exif_transpose(im)


def oriented_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, without decoding the pixels."""
    w, h = im.size
    return (h, w) if im.getexif().get(EXIF_ORIENTATION, 1) in _SWAPS_AXES else (w, h)


def image_size(path: Path) -> tuple[int, int]:
    """The oriented (width, height) of an image file: the geometry masks, pages and models share."""
    with Image.open(path) as im:
        return oriented_size(im)


def _open_converted(
    path: Path,
    convert: Callable[[Image.Image], Image.Image | np.ndarray],
    what: str,
    draft: tuple[int, int] | None = None,
    check: Callable[[Image.Image], None] | None = None,
):
    """Decode fully inside the try, so truncated files fail here rather than later in numpy; EXIF
    orientation is applied before `convert` (the one place it is), after `check` (which sees the file's
    format). `draft` lets a JPEG decode at a reduced size (thumbnails)."""
    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", draft)
            im.load()
            if check is not None:
                check(im)
            return convert(orient(im))
    except FileNotFoundError:
        raise unreadable_error(path, "file not found", what) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise unreadable_error(path, e, what) from e


def open_rgb(path: Path, draft: tuple[int, int] | None = None) -> Image.Image:
    """The one image decoder: EXIF orientation applied, every mode converted by `to_rgb8` (alpha on
    white). Training, scoring, evaluation, reports, audit thumbnails and the annotation page all see
    these pixels; `draft` asks a JPEG for a reduced size (at least that size) for thumbnails."""
    path = Path(path)
    return _open_converted(path, lambda i: to_rgb8(i, path), "an image", draft)


def open_mask(path: Path) -> np.ndarray:
    """The one mask decoder: a faint lossy mask refused (`refuse_faint_lossy`), EXIF orientation applied,
    then `mask_foreground`'s rule; bool (H, W)."""
    return _open_converted(Path(path), mask_foreground, "a mask", check=refuse_faint_lossy)


def _to_square(im: Image.Image, size: int, resize: str, resample: Image.Resampling) -> Image.Image:
    """size x size: stretched (`squash`), the central square (`center_crop`) or letterboxed in black (`pad`).

    Black padding keeps the ratios of the channel means, so gray-world colour constancy is unchanged.
    """
    if im.size == (size, size):
        return im
    if resize == "center_crop":
        return ImageOps.fit(im, (size, size), method=resample)
    if resize == "pad":
        return ImageOps.pad(im, (size, size), method=resample, color=0)
    return im.resize((size, size), resample)


def load_image(
    path: Path, size: int | None, preprocessing: str = "none", resize: str = "squash"
) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB, optionally brought to size x size and preprocessed.

    Every mode is converted by `to_rgb8` (16-bit and float images keep their range). `resize` says how a
    non-square image becomes square (see `_to_square`); with `size=None` the image keeps its shape.
    Grayscale preprocessing still returns three identical channels so ImageNet backbones accept it.
    EXIF orientation is applied (`open_rgb`), as it is to masks, so both share the displayed geometry.
    """
    check_preprocessing(preprocessing)
    check_resize(resize)
    check_size(size)
    im = open_rgb(Path(path))
    if size is not None:
        # PIL widens the bilinear kernel when shrinking, so this is antialiased.
        im = _to_square(im, int(size), resize, Image.Resampling.BILINEAR)
    arr = np.array(im, dtype=np.uint8)
    if preprocessing == "gray_world":
        return gray_world(arr)
    if preprocessing == "grayscale_minmax":
        return np.repeat(grayscale_minmax(arr)[..., None], 3, axis=2)
    return arr


def load_mask(path: Path, size: int | None, resize: str = "squash") -> np.ndarray:
    """Read a segmentation mask as bool HxW (`open_mask`: EXIF orientation, then the one mask rule of
    `mask_foreground`), brought to size x size like its image (same `resize`) with nearest neighbour.

    Nearest neighbour reads one pixel per output cell, so a lesion smaller or thinner than a cell could
    fall between them and the image train as lesion-free: when that empties a mask whose kept part has a
    lesion, the cells it covers most (by area average) are its lesion."""
    check_resize(resize)
    check_size(size)
    mask = open_mask(Path(path))
    if size is None:
        return mask
    im = Image.fromarray(mask.astype(np.uint8) * 255)
    out = np.array(_to_square(im, int(size), resize, Image.Resampling.NEAREST)) >= 128
    if not out.any() and mask.any():
        share = Image.fromarray(mask.astype(np.float32))  # float: one pixel in thousands is not 0
        cover = np.array(_to_square(share, int(size), resize, Image.Resampling.BOX))
        if cover.max() > 0:  # else the lesion lies outside what `center_crop` keeps
            out = cover == cover.max()
    return out
