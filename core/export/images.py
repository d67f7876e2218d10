"""Run thumbnails as PNG bytes and `data:` URIs, the way the exports hand images to other tools.

PNG is lossless, so a decoded export is the stored thumbnail pixel for pixel (grayscale
stays one channel). A data URI embeds the image in the task itself; it is meant for small
images, so anything larger than `DATA_URI_MAX_SIDE` is shrunk to fit first (exports of
larger images should point at the files instead: Label Studio's `--image-root`).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

DATA_URI_MAX_SIDE = 64
"""Longest side, in pixels, of an image embedded as a data URI; larger thumbnails are downscaled to it."""


def to_pil(image: np.ndarray) -> Image.Image:
    """A (H, W, C) uint8 thumbnail (C = 1, 3 or 4) as a Pillow image (mode L, RGB or RGBA)."""
    array = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    if array.ndim == 3 and array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(array, mode="RGB" if array.shape[2] == 3 else "RGBA")
    if array.ndim == 2:
        return Image.fromarray(array, mode="L")
    raise ValueError(f"expected an (H, W, C) image with 1, 3 or 4 channels, got shape {array.shape}")


def png_bytes(image: np.ndarray, max_side: int | None = None) -> bytes:
    """The thumbnail as PNG, shrunk (keeping its aspect, Lanczos) when a side exceeds `max_side`."""
    picture = to_pil(image)
    if max_side is not None and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def data_uri(image: np.ndarray, max_side: int = DATA_URI_MAX_SIDE) -> str:
    """`data:image/png;base64,...` of the thumbnail (at most `max_side` pixels a side)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, max_side)).decode("ascii")
