"""Drawing images for the app, as RGB uint8 arrays: mask overlays, outcome colours, mosaics.

Pure numpy + OpenCV, so that a page draws a whole gallery as one picture (one encode, one
transfer) instead of one figure per image.
"""

from __future__ import annotations

import cv2
import numpy as np

SALT_COLOUR = (255, 200, 0)  # the mask overlay on the data set pages
# Prediction vs truth, pixel by pixel (DESIGN.md, the case study's figures).
OUTCOME_COLOURS = {
    "true positive": (255, 140, 0),  # orange
    "false negative": (150, 150, 150),  # gray
    "false positive": (220, 30, 30),  # red
    "true negative": (40, 90, 200),  # blue
}


def gray_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(image, dtype=np.uint8)[..., None], 3, axis=-1)


def mask_overlay(
    image: np.ndarray,
    mask: np.ndarray,
    mode: str = "fill",
    alpha: float = 0.35,
    colour: tuple[int, int, int] = SALT_COLOUR,
) -> np.ndarray:
    """The image in gray with the mask drawn over it: a translucent fill, a contour, or nothing."""
    rgb = gray_to_rgb(image)
    mask = np.asarray(mask, dtype=bool)
    if mode == "none" or not mask.any():
        return rgb
    colour_arr = np.array(colour, dtype=np.float32)
    if mode == "fill":
        out = rgb.astype(np.float32)
        out[mask] = (1 - alpha) * out[mask] + alpha * colour_arr
        return np.rint(out).astype(np.uint8)
    if mode == "contour":
        edge = mask & ~cv2.erode(
            mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE
        ).astype(bool)
        rgb[edge] = colour
        return rgb
    raise ValueError(f"overlay mode must be fill, contour or none, got {mode!r}")


def outcome_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB picture of prediction vs truth: TP orange, FN gray, FP red, TN blue."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    out = np.empty(pred.shape + (3,), dtype=np.uint8)
    out[pred & truth] = OUTCOME_COLOURS["true positive"]
    out[~pred & truth] = OUTCOME_COLOURS["false negative"]
    out[pred & ~truth] = OUTCOME_COLOURS["false positive"]
    out[~pred & ~truth] = OUTCOME_COLOURS["true negative"]
    return out


def outcome_overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The outcome colours blended over the gray image."""
    blended = (1 - alpha) * gray_to_rgb(image).astype(np.float32) + alpha * outcome_map(pred, truth).astype(np.float32)
    return np.rint(blended).astype(np.uint8)


def mosaic(
    tiles: list[np.ndarray],
    columns: int,
    labels: list[str] | None = None,
    scale: int = 1,
    gap: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Lay RGB tiles of equal size in a grid, optionally enlarged and labelled in their corner."""
    if not tiles:
        return np.full((10, 10, 3), background, np.uint8)
    tiles = [np.asarray(t) if t.ndim == 3 else gray_to_rgb(t) for t in tiles]
    if scale != 1:
        tiles = [cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for t in tiles]
    h, w = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), background, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = r * (h + gap), c * (w + gap)
        canvas[y : y + h, x : x + w] = tile
        if labels:
            _label(canvas, labels[i], x, y)
    return canvas


def orange_heat(prob: np.ndarray) -> np.ndarray:
    """A probability map in RGB: 0 black, 1 orange."""
    return (np.stack([prob] * 3, -1) * np.array([255, 120, 0])).astype(np.uint8)


PANELS_PER_ROW = {2: 5, 3: 5, 4: 3, 6: 2, 8: 1}  # larger panels, fewer per row: the page width stays the limit
PANEL_CAPTION = "image · truth · prediction · probability · outcome"


def image_panels(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, prob: np.ndarray, zoom: int) -> np.ndarray:
    """One image taken apart, enlarged `zoom` times (a key of PANELS_PER_ROW): the image, the true mask, the
    predicted mask, the probability (black 0 to orange 1) and the outcome colours (PANEL_CAPTION)."""
    panels = [
        gray_to_rgb(image),
        gray_to_rgb(np.where(truth, 255, 40).astype(np.uint8)),
        gray_to_rgb(np.where(pred, 255, 40).astype(np.uint8)),
        orange_heat(prob),
        outcome_overlay(image, pred, truth),
    ]
    return mosaic(panels, PANELS_PER_ROW[zoom], scale=zoom)


def probability_heat(image: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The probability in orange (0 black, 1 orange) over a dimmed image: where the model is sure of salt."""
    return np.maximum(orange_heat(prob), (gray_to_rgb(image) * 0.35).astype(np.uint8))


def prediction_pairs(ids: list[str], images: np.ndarray, masks: np.ndarray, limit: int) -> np.ndarray:
    """The first `limit` images, each followed by its predicted salt over it, labelled id and coverage %."""
    tiles, labels = [], []
    for k in range(min(len(ids), limit)):
        tiles += [images[k], mask_overlay(images[k], masks[k], "fill")]
        labels += [ids[k][:10], f"{100 * masks[k].mean():.0f}%"]
    return mosaic(tiles, 8, labels, scale=2)


LAYERS = ("image", "truth", "prediction", "outcome")
PREDICTION_COLOUR = (0, 200, 255)


def layer_tile(
    image: np.ndarray,
    layer: str,
    mask: np.ndarray | None = None,
    pred: np.ndarray | None = None,
    truth: np.ndarray | None = None,
) -> np.ndarray:
    """A tile of a section drawn in one of LAYERS: the image; the true mask in yellow (a test tile, which has
    none: the image); a run's prediction in cyan or its outcome colours (`pred` and, for outcomes, `truth`),
    dimmed where the run has no prediction (not one of its validation images)."""
    if layer == "truth":
        return mask_overlay(image, mask, "fill") if mask is not None else gray_to_rgb(image)
    if layer in ("prediction", "outcome"):
        if pred is None:
            return (gray_to_rgb(image) * 0.45).astype(np.uint8)
        if layer == "prediction":
            return mask_overlay(image, pred, "fill", colour=PREDICTION_COLOUR)
        return outcome_overlay(image, pred, truth)
    return gray_to_rgb(image)


def layer_legend(layer: str) -> str:
    """The colour key of a layer, as HTML spans ("" for the plain image)."""
    swatch = "<span style='color:rgb{}'>■</span> {}"
    legend = {
        "outcome": " · ".join(swatch.format(c, k) for k, c in OUTCOME_COLOURS.items()),
        "prediction": swatch.format(PREDICTION_COLOUR, "predicted salt"),
        "truth": swatch.format(SALT_COLOUR, "true salt (train tiles)"),
    }.get(layer, "")
    return legend + (" · dimmed: not a validation image of the run" if layer in ("prediction", "outcome") else "")


def _label(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1
    (tw, th), base = cv2.getTextSize(text, font, size, thick)
    cv2.rectangle(canvas, (x, y), (x + tw + 4, y + th + base + 3), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x + 2, y + th + 2), font, size, (255, 255, 255), thick, cv2.LINE_AA)


def section_picture(
    tiles: np.ndarray,
    grid: np.ndarray,
    labels: list[str] | None = None,
    borders: bool = True,
    highlight: int | None = None,
    background: int = 24,
) -> np.ndarray:
    """A seismic section as one RGB picture: tiles (N, 101, 101, 3) placed by grid (rows, cols) of
    tile positions (-1: no tile), with 1-pixel tile borders, a label in each tile's corner and a
    yellow frame around the `highlight` position."""
    size = tiles.shape[1]
    rows, cols = grid.shape
    canvas = np.full((rows * size, cols * size, 3), background, np.uint8)
    for (r, c), t in np.ndenumerate(grid):
        if t < 0:
            continue
        y, x = r * size, c * size
        canvas[y : y + size, x : x + size] = tiles[t]
        if borders:
            canvas[y, x : x + size] = canvas[y + size - 1, x : x + size] = (90, 90, 90)
            canvas[y : y + size, x] = canvas[y : y + size, x + size - 1] = (90, 90, 90)
        if labels:
            _label(canvas, labels[t], x + 1, y + 1)
        if t == highlight:
            cv2.rectangle(canvas, (x + 1, y + 1), (x + size - 2, y + size - 2), (255, 230, 0), 2)
    return canvas
