"""Label Studio's brush RLE: the run-length code its BrushLabels results carry in `value.rle`.

The code is thi.ng's rle-pack (Karsten Schmidt, `@thi.ng/rle-pack`), which Label Studio's front end decodes
into the RGBA pixels of a brush layer: a 32-bit count of values, a 5-bit word size less one, four 4-bit
run-length field sizes less one, then per run a flag bit (1: a repeated value, 0: literal values), a 2-bit
index into the field sizes, the run length less one, and the value(s). `encode` writes exactly the bytes
`label_studio_sdk.converter.brush.encode_rle` (the SDK's converter, formerly label-studio-converter) writes
for the same array, word size 8 and field sizes 3, 4, 8, 16 (tests/test_label_studio_rle.py checks it
byte for byte against the converter); `decode` reads any word size and field sizes, as the front end does.

A mask is four values per pixel (R, G, B, alpha), each 0 or 255, as the converter's `mask2rle` writes it.
A decoded layer's mask is its alpha, as the converter's own `decode_from_annotation` reads it, through
`mask_foreground`'s rule (anti-aliased edges count from half opacity). Its colour is the brush label's and
says nothing: read as the RGBA image it is, a layer painted black over the whole frame was an opaque
black image, and decoded as no lesion at all.
"""

from __future__ import annotations

import numpy as np

from lesionlab.errors import DataError

WORD_SIZE = 8
RLE_SIZES = (3, 4, 8, 16)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, values) of the runs of equal neighbours."""
    n = len(values)
    ends = np.append(np.flatnonzero(values[1:] != values[:-1]), n - 1)
    lengths = np.diff(np.append(-1, ends))
    return lengths, values[ends]


def encode(values: np.ndarray) -> list[int]:
    """The brush RLE bytes (as Label Studio's JSON holds them: a list of ints) of a 1-D array of 0..255."""
    values = np.asarray(values).ravel()
    if values.size and (values.min() < 0 or values.max() > 255):
        raise DataError("brush RLE values must lie in 0..255")
    parts = [f"{len(values):032b}", f"{WORD_SIZE - 1:05b}", *(f"{s - 1:04b}" for s in RLE_SIZES)]
    if values.size:
        for length, value in zip(*_runs(values.astype(np.int64)), strict=True):
            parts.append(_run_bits(int(length), int(value)))
    bits = "".join(parts)
    bits += "0" * (8 - len(bits) % 8)  # the converter pads a whole byte when already aligned: kept equal
    return list(int(bits, 2).to_bytes(len(bits) // 8, "big"))


def _run_bits(length: int, value: int) -> str:
    word = f"{value:08b}"
    if length == 1:
        return "0" + "00" + "000" + word
    if length <= 8:
        return "1" + "00" + f"{length - 1:03b}" + word
    if length <= 16:
        return "1" + "01" + f"{length - 1:04b}" + word
    if length <= 256:
        return "1" + "10" + f"{length - 1:08b}" + word
    out = []
    while length > 2**16:
        out.append("1" + "11" + f"{2**16 - 1:016b}" + word)
        length -= 2**16
    out.append("1" + "11" + f"{length - 1:016b}" + word)
    return "".join(out)


def decode(rle: list[int] | bytes) -> np.ndarray:
    """The uint8 values a brush RLE holds (DataError if it is cut short or malformed)."""
    try:
        data = bytes(rle)
    except (TypeError, ValueError) as exc:
        raise DataError(f"a brush RLE must be a list of bytes (0..255): {exc}") from exc
    bits = "".join(f"{b:08b}" for b in data)
    pos = 0

    def read(size: int) -> int:
        nonlocal pos
        if pos + size > len(bits):
            raise DataError("the brush RLE ends before its last value")
        pos += size
        return int(bits[pos - size : pos], 2)

    num = read(32)
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    if word > 8:
        raise DataError(f"a brush RLE of {word}-bit words is not a mask (Label Studio writes 8)")
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeated = read(1)
        j = min(num, i + 1 + read(sizes[read(2)]))
        if repeated:
            out[i:j] = read(word)
        else:
            for k in range(i, j):
                out[k] = read(word)
        i = j
    return out


def encode_mask(mask: np.ndarray) -> list[int]:
    """A boolean (H, W) mask as Label Studio's brush RLE (RGBA 0/255 per pixel, as `mask2rle` writes)."""
    return encode(np.repeat(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8).ravel(), 4))


def decode_mask(rle: list[int] | bytes, width: int, height: int) -> np.ndarray:
    """The boolean (H, W) mask of a brush RLE of a `width` x `height` image: its alpha (`mask_foreground`)."""
    from PIL import Image

    from lesionlab.data.preprocess import mask_foreground

    values = decode(rle)
    if values.size != width * height * 4:
        raise DataError(
            f"the brush RLE holds {values.size} values, but a {width}x{height} image needs "
            f"{width * height * 4} (4 per pixel); is original_width/original_height the image's?"
        )
    alpha = np.ascontiguousarray(values.reshape(height, width, 4)[..., 3])
    return mask_foreground(Image.fromarray(alpha))  # uint8 (H, W): mode L
