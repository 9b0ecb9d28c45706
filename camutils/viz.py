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

__all__ = [
    "cam_architecture",
    "cam_grid",
    "diverging_limits",
    "draw_boxes",
    "overlay",
    "show_cam",
    "to_numpy_image",
]


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
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Blend a CAM (any resolution, upsampled bilinearly to the photo) over a photo.

    Returns an ``(H, W, 3)`` float array in ``[0, 1]``: ``(1 - alpha) * photo + alpha * colour``.
    The map is min-max normalised (``normalize``) unless ``limits = (vmin, vmax)`` are given:
    then ``vmin`` and ``vmax`` are the two ends of the colour map, for example symmetric limits
    from :func:`diverging_limits` with ``cmap="RdBu_r"``, so that 0 is the neutral middle.

    Example:
        >>> overlay(np.zeros((8, 8, 3), np.uint8), torch.rand(2, 2)).shape
        (8, 8, 3)
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; found {alpha}")
    img = to_numpy_image(image).astype(np.float32) / 255.0
    heat = _cam_on_image(cam, img.shape[0], img.shape[1], normalize and limits is None)
    if limits is not None:
        lo, hi = limits
        if not hi > lo:
            raise ValueError(f"limits must be (vmin, vmax) with vmin < vmax; found {limits}")
        heat = (heat - lo) / (hi - lo)
    colour = plt.get_cmap(cmap)(np.clip(heat, 0, 1))[..., :3]
    return np.clip((1 - alpha) * img + alpha * colour, 0.0, 1.0)  # no float overshoot past 1


def show_cam(
    image: Image.Image | Tensor | np.ndarray,
    cam: Tensor | np.ndarray,
    title: str | None = None,
    ax: Axes | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    limits: tuple[float, float] | None = None,
) -> Axes:
    """Draw one CAM over its photo on ``ax`` (a new figure if none); ``limits`` as in
    :func:`overlay`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(overlay(image, cam, alpha=alpha, cmap=cmap, limits=limits))
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
    cmap: str = "jet",
    limits: tuple[float, float] | None = None,
) -> Figure:
    """The photo followed by one overlay per map, titled with class name and score.

    ``cams``: ``(n, h, w)`` maps of one image (for example ``TopCAMs.cams[0]``). Each map is
    min-max normalised, or, with ``limits``, drawn on that one shared scale with a colour bar
    (``cmap="RdBu_r"`` and :func:`diverging_limits` for maps of differences).
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
        show_cam(image, cams[i], title, ax=flat[i + int(show_image)], alpha=alpha, cmap=cmap,
                 limits=limits)  # fmt: skip
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    if limits is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig.colorbar(ScalarMappable(Normalize(*limits), cmap), ax=axes, shrink=0.6)
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


def diverging_limits(values: Tensor | np.ndarray) -> tuple[float, float]:
    """Symmetric colour limits ``(-a, a)`` with ``a = max |values|`` for a diverging colour map.

    A map of differences (``M_c - M_c'``) has a meaningful zero: centred limits keep 0 at the
    colour map's neutral middle (white in ``RdBu_r``), so red means "more" and blue "less"
    whatever the range. A map of zeros gets ``(-1, 1)``.

    Example:
        >>> diverging_limits(torch.tensor([-1.0, 3.0]))
        (-3.0, 3.0)
    """
    a = float(torch.as_tensor(np.asarray(values) if not isinstance(values, Tensor) else values)
              .detach().abs().max().cpu())  # fmt: skip
    a = a if a > 0 else 1.0
    return -a, a


def cam_architecture(
    features: Tensor | np.ndarray,
    weight: Tensor | np.ndarray,
    class_names: Sequence[str] | None = None,
    bias: Tensor | np.ndarray | None = None,
    figsize: tuple[float, float] = (12.0, 6.6),
) -> Figure:
    """Draw the CAM architecture with real numbers: ``f_k -> GAP -> F_k -> w_k^c -> S_c -> P_c``,
    and the same weights applied before pooling, ``M_c = sum_k w_k^c f_k``.

    ``F_k = mean_{x,y} f_k(x, y)``, ``S_c = sum_k w_k^c F_k + b_c``, ``P_c = softmax(S)_c``;
    under each map ``M_c`` its mean, which equals ``S_c - b_c``. Meant for small examples
    (``K <= 8`` units of one image, ``C <= 5`` classes), such as the study notes' toy.

    Args:
        features: ``f``, shape ``(K, h, w)`` (one image).
        weight: ``w``, shape ``(C, K)``; ``weight[c, k] = w_k^c``.
        class_names: ``C`` names (default ``"1"``, ``"2"``, ...).
        bias: ``b``, shape ``(C,)`` (default none).

    Example:
        >>> fig = cam_architecture(np.ones((3, 4, 4)), np.full((2, 3), 0.5))
        >>> len(fig.axes)
        1
        >>> plt.close(fig)
    """
    from matplotlib.patches import Circle, FancyBboxPatch

    f = np.asarray(torch.as_tensor(np.asarray(features)).detach().cpu(), dtype=float)
    w = np.asarray(torch.as_tensor(np.asarray(weight)).detach().cpu(), dtype=float)
    if f.ndim != 3 or w.ndim != 2 or w.shape[1] != f.shape[0]:
        raise ValueError(
            f"features must be (K, h, w) and weight (C, K); found {f.shape} and {w.shape}"
        )
    K, C = f.shape[0], w.shape[0]
    if K > 8 or C > 5:
        raise ValueError(f"the drawing is for small examples (K <= 8, C <= 5); found K={K}, C={C}")
    names = list(class_names) if class_names is not None else [str(c + 1) for c in range(C)]
    if len(names) != C:
        raise ValueError(f"{len(names)} class names for {C} classes")
    b = np.zeros(C) if bias is None else np.asarray(torch.as_tensor(np.asarray(bias)), float)
    F_ = f.mean(axis=(1, 2))
    S = w @ F_ + b
    P = np.exp(S - S.max()) / np.exp(S - S.max()).sum()
    M = np.einsum("ck,kxy->cxy", w, f)

    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(-0.8, 11.6)
    ax.set_ylim(-0.5, 7.2)
    ax.set_aspect("equal")
    ax.axis("off")
    arrow = {"arrowstyle": "->", "color": "0.3", "lw": 1.2}
    top, bottom = 6.7, 3.0
    step = (top - bottom) / K
    s = min(1.0, 0.8 * step)  # side of a feature-map square
    ys = [top - step * (k + 0.5) for k in range(K)]
    fmax = max(float(np.abs(f).max()), 1e-12)
    x_f, x_F, x_S, x_P = 0.3, 3.1, 6.3, 9.0
    for k, y in enumerate(ys):
        ax.imshow(f[k], cmap="viridis", vmin=0, vmax=fmax,
                  extent=(x_f, x_f + s, y - s / 2, y + s / 2))  # fmt: skip
        ax.text(x_f - 0.1, y, f"$f_{{{k + 1}}}$", ha="right", va="center", fontsize=11)
        ax.add_patch(Circle((x_F, y), 0.3, facecolor="#e8f0fe", edgecolor="0.3"))
        ax.text(x_F, y, f"{F_[k]:.2f}", ha="center", va="center", fontsize=8)
        ax.annotate("", xy=(x_F - 0.32, y), xytext=(x_f + s + 0.08, y), arrowprops=arrow)
    ax.text((x_f + s + x_F) / 2, top + 0.1, "GAP: mean over $(x, y)$", ha="center", fontsize=9)
    ax.text(x_F, top + 0.1 + 0.3, "$F_k$", ha="center", fontsize=11)
    yc = [top - (top - bottom) / C * (c + 0.5) for c in range(C)]
    for c, y in enumerate(yc):
        for k, yk in enumerate(ys):
            ax.plot([x_F + 0.3, x_S - 0.55], [yk, y], color="0.6", lw=0.8, zorder=0)
            t = 0.6
            ax.text(x_F + 0.3 + t * (x_S - 0.85 - x_F), yk + t * (y - yk), f"{w[c, k]:g}",
                    fontsize=7, ha="center", va="center", color="0.2",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip
        ax.add_patch(FancyBboxPatch((x_S - 0.55, y - 0.25), 1.1, 0.5,
                                    boxstyle="round,pad=0.02", facecolor="#fde8e8",
                                    edgecolor="0.3"))  # fmt: skip
        ax.text(x_S, y, f"{S[c]:.3f}", ha="center", va="center", fontsize=8)
        ax.annotate("", xy=(x_P - 0.55, y), xytext=(x_S + 0.58, y), arrowprops=arrow)
        ax.add_patch(FancyBboxPatch((x_P - 0.55, y - 0.25), 1.1, 0.5,
                                    boxstyle="round,pad=0.02", facecolor="#e8f8e8",
                                    edgecolor="0.3"))  # fmt: skip
        ax.text(x_P, y, f"{P[c]:.3f}", ha="center", va="center", fontsize=8)
        ax.text(x_P + 0.65, y, names[c], ha="left", va="center", fontsize=9)
    ax.text((x_F + x_S) / 2, top + 0.1, "weights $w_k^c$", ha="center", fontsize=9)
    bias_txt = " + b_c" if bias is not None else ""
    ax.text(x_S, top + 0.4, f"$S_c = \\sum_k w_k^c F_k{bias_txt}$", ha="center", fontsize=10)
    ax.text((x_S + x_P) / 2, yc[0] + 0.35, "softmax", ha="center", fontsize=9)
    ax.text(x_P, top + 0.4, "$P_c$", ha="center", fontsize=11)
    # the CAM path: the same weights, before pooling
    m_side, x_m = 1.7, 4.6
    mmax = max(float(np.abs(M).max()), 1e-12)
    for c in range(C):
        x0 = x_m + c * (m_side + 0.7)
        ax.imshow(M[c], cmap="jet", vmin=min(0.0, float(M.min())), vmax=mmax,
                  extent=(x0, x0 + m_side, 0.2, 0.2 + m_side))  # fmt: skip
        ax.text(x0 + m_side / 2, 0.2 + m_side + 0.12, f"$M_{{{c + 1}}}$ ({names[c]})",
                ha="center", fontsize=9)  # fmt: skip
        ax.text(x0 + m_side / 2, -0.15, f"mean {M[c].mean():.3f} $= S_{{{c + 1}}}$"
                + (f" $- b_{{{c + 1}}}$" if bias is not None else ""),
                ha="center", va="top", fontsize=8)  # fmt: skip
    ax.annotate(
        "",
        xy=(x_m - 0.1, 0.2 + m_side / 2),
        xytext=(x_f + s / 2, ys[-1] - s / 2 - 0.1),
        arrowprops={**arrow, "connectionstyle": "angle,angleA=-90,angleB=180,rad=0"},
    )
    ax.text(x_f + s / 2 + 0.15, 1.5, "the same $w_k^c$ before pooling:\n"
            "$M_c(x, y) = \\sum_k w_k^c f_k(x, y)$", ha="left", va="center", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig
