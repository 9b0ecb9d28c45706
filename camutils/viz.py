"""Plotting: a CAM over its photo, grids of CAMs with class names and scores, boxes.

Only this module leaves the device: tensors are moved to the CPU here, at the last moment.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image
from torch import Tensor

from camutils.cam import normalize_cams, upsample_cams

__all__ = ["cam_grid", "draw_boxes", "overlay", "show_cam", "to_numpy_image"]


def to_numpy_image(image: Image.Image | Tensor | np.ndarray) -> np.ndarray:
    """A PIL image, a ``(3, H, W)`` uint8 tensor or an ``(H, W, 3)`` array -> ``(H, W, 3)`` uint8."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, Tensor):
        t = image.detach().cpu()
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"image tensors must be (1 or 3, H, W); found {tuple(t.shape)}")
        if t.dtype != torch.uint8:
            t = (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return t.expand(3, -1, -1).permute(1, 2, 0).numpy()
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr


def _cam_on_image(cam: Tensor | np.ndarray, height: int, width: int, normalize: bool) -> np.ndarray:
    c = torch.as_tensor(np.asarray(cam) if not isinstance(cam, Tensor) else cam).detach().float()
    if c.ndim != 2:
        raise ValueError(f"a single CAM must be (h, w); found {tuple(c.shape)}")
    c = c.cpu()[None, None]
    if c.shape[-2:] != (height, width):
        c = upsample_cams(c, (height, width))
    if normalize:
        c = normalize_cams(c)
    return c[0, 0].numpy()


def overlay(
    image: Image.Image | Tensor | np.ndarray,
    cam: Tensor | np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
    normalize: bool = True,
) -> np.ndarray:
    """Blend a CAM (any resolution, upsampled bilinearly to the photo) over a photo.

    Returns an ``(H, W, 3)`` float array in ``[0, 1]``: ``(1 - alpha) * photo + alpha * colour``.

    Example:
        >>> overlay(np.zeros((8, 8, 3), np.uint8), torch.rand(2, 2)).shape
        (8, 8, 3)
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; found {alpha}")
    img = to_numpy_image(image).astype(np.float32) / 255.0
    heat = _cam_on_image(cam, img.shape[0], img.shape[1], normalize)
    colour = plt.get_cmap(cmap)(np.clip(heat, 0, 1))[..., :3]
    return np.clip((1 - alpha) * img + alpha * colour, 0.0, 1.0)  # no float overshoot past 1


def show_cam(
    image: Image.Image | Tensor | np.ndarray,
    cam: Tensor | np.ndarray,
    title: str | None = None,
    ax: Axes | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> Axes:
    """Draw one CAM over its photo on ``ax`` (a new figure if none)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(overlay(image, cam, alpha=alpha, cmap=cmap))
    if title:
        ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def cam_grid(
    image: Image.Image | Tensor | np.ndarray,
    cams: Tensor,
    labels: Sequence[str],
    scores: Sequence[float] | Tensor | None = None,
    ncols: int = 5,
    alpha: float = 0.5,
    size: float = 3.0,
    show_image: bool = True,
) -> Figure:
    """The photo followed by one overlay per map, titled with class name and score.

    ``cams``: ``(n, h, w)`` maps of one image (for example ``TopCAMs.cams[0]``).
    """
    if cams.ndim != 3 or len(labels) != cams.shape[0]:
        raise ValueError(
            f"cams must be (n, h, w) with one label each; found {tuple(cams.shape)} and "
            f"{len(labels)} labels"
        )
    n = cams.shape[0] + int(show_image)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    flat = list(axes.flat)
    if show_image:
        flat[0].imshow(to_numpy_image(image))
        flat[0].set_title("input", fontsize=10)
        flat[0].axis("off")
    score_list = [float(s) for s in scores] if scores is not None else None
    for i in range(cams.shape[0]):
        title = labels[i] if score_list is None else f"{labels[i]} {score_list[i]:.2f}"
        show_cam(image, cams[i], title, ax=flat[i + int(show_image)], alpha=alpha)
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def draw_boxes(
    ax: Axes,
    boxes: Tensor | np.ndarray | Sequence[Sequence[float]],
    color: str = "lime",
    labels: Sequence[str] | None = None,
    linewidth: float = 2.0,
) -> None:
    """Draw inclusive pixel boxes ``(xmin, ymin, xmax, ymax)`` (ILSVRC convention) on ``ax``."""
    arr = np.asarray(torch.as_tensor(boxes).detach().cpu(), dtype=float).reshape(-1, 4)
    for i, (x0, y0, x1, y1) in enumerate(arr):
        ax.add_patch(
            Rectangle(
                (x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1,
                fill=False, edgecolor=color, linewidth=linewidth,
            )
        )  # fmt: skip
        if labels is not None:
            ax.text(x0, y0, labels[i], color="black", fontsize=8,
                    bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "edgecolor": "none"})  # fmt: skip
