"""Decoding one PNG of the data set into an image or a mask, with a reason when it is bad.

Images are 101x101 grayscale, often stored as 8-bit RGB with three equal channels. Masks are
`png > 0`: the real files are 16-bit {0, 65535} or 8-bit 0. Anything else raises BadFile
with a sentence a user can act on.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from saltlab.core.definitions import IMAGE_SIZE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MASK_ON_VALUES = (1, 255, 65535)

cv2.utils.logging.setLogLevel(
    cv2.utils.logging.LOG_LEVEL_ERROR
)  # a truncated PNG is reported by us; OpenCV's own warnings are noise


class BadFile(ValueError):
    """A file of the data set that cannot be used, with the reason as its message."""


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the PNG header (its IHDR chunk), without decoding; None when there is none."""
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> its 101x101 array as stored (uint8 or uint16, one or three channels); BadFile otherwise."""
    if not data.startswith(PNG_SIGNATURE):
        raise BadFile("not a PNG file (wrong signature)")
    size = png_size(data)
    if size is not None and size != (IMAGE_SIZE, IMAGE_SIZE):
        # Refused from the header: a small file can declare a huge image (20000x20000 is 1.2 MB of
        # PNG and 2.4 GB once decoded).
        raise BadFile(f"wrong size {size[0]}x{size[1]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise BadFile("unreadable PNG (truncated or corrupt)")
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
        h, w = array.shape[:2]
        raise BadFile(f"wrong size {w}x{h}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    return array


def decode_image(data: bytes) -> np.ndarray:
    """PNG bytes -> (101, 101) uint8 grayscale image."""
    array = decode_png(data)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise BadFile(f"unsupported pixel type {array.dtype}")
    if array.ndim == 3:
        first = array[:, :, 0]
        if (array == first[:, :, None]).all():
            return np.ascontiguousarray(first)
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return array


def decode_mask(data: bytes) -> np.ndarray:
    """PNG bytes -> (101, 101) bool mask, `png > 0`.

    Raises BadFile when the mask holds values other than 0 and one 'on' value (1, 255 or 65535).
    """
    array = decode_png(data)
    if array.ndim == 3:
        array = array.max(axis=2)
    top = int(array.max())
    on = array > 0
    if top and (top not in MASK_ON_VALUES or (array[on] != top).any()):
        values = np.unique(array)
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise BadFile(f"mask has values {{{shown}}}; expected 0 and one 'on' value (1, 255 or 65535)")
    return on
