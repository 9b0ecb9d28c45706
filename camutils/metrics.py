"""ILSVRC localization metrics, batched and on the device: IoU, top-1 / top-5 localization error,
GT-known localization accuracy, classification error, MaxBoxAcc.

Definitions (ILSVRC devkit; Choe et al., "Evaluating Weakly Supervised Object Localization
Methods Right", CVPR 2020):

- Boxes are inclusive pixel boxes ``(xmin, ymin, xmax, ymax)``: width ``xmax - xmin + 1``.
- A guess ``(c, box)`` is correct when ``c`` is the image's class and ``IoU(box, g) >= 0.5`` for
  ANY ground-truth box ``g`` of the image (images carry one or several boxes).
- Top-k localization error: the share of images none of whose first ``k`` guesses is correct.
  Classification top-k error: the share whose class is not among the first ``k`` guessed
  classes.
- GT-known localization accuracy: the box drawn from the map of the TRUE class has
  ``IoU >= 0.5`` with some ground-truth box; no classification involved. Top-1 localization is
  GT-known AND top-1 class correct.
- MaxBoxAcc: GT-known accuracy at the best map threshold of a sweep; MaxBoxAccV2 averages it over
  IoU thresholds 0.3 / 0.5 / 0.7 and lets every contour propose a box. Both follow the reference
  code (wsolevaluation) exactly, its box rule included (:func:`camutils.boxes.contour_boxes`).

Errors and accuracies are returned in percent.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from camutils.boxes import (
    all_component_boxes,
    contour_boxes,
    largest_component_boxes_from_masks,
    threshold_masks,
    wsol_thresholds,
)

__all__ = [
    "LocalizationMeter",
    "MaxBoxAccMeter",
    "best_iou",
    "box_iou",
    "localization_errors",
    "max_box_acc",
]


def _check_boxes(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; found {type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != 4:
        raise ValueError(
            f"{name} must be (..., 4) boxes (xmin, ymin, xmax, ymax); found {tuple(x.shape)}"
        )


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union of inclusive boxes, the devkit's ``+1`` convention, broadcasting.

    ``area = (xmax - xmin + 1) * (ymax - ymin + 1)``; the intersection's width is
    ``min(xmax) - max(xmin) + 1`` clipped at 0, and ``IoU = inter / (area_a + area_b - inter)``.
    Degenerate boxes (``xmax < xmin``) have area 0; an IoU whose union is 0 is 0, never NaN.

    Args:
        a, b: ``(..., 4)`` boxes whose leading dimensions broadcast.

    Returns:
        ``(...)`` IoU in ``[0, 1]``: float32 (float64 when an input is float64).

    Example:
        >>> box_iou(torch.tensor([0, 0, 9, 9]), torch.tensor([5, 0, 14, 9]))   # 50 / 150
        tensor(0.3333)
        >>> box_iou(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 0]))    # one pixel
        tensor(1.)
    """
    _check_boxes(a, "a")
    _check_boxes(b, "b")
    dtype = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    a = a.to(dtype)
    b = b.to(device=a.device, dtype=dtype)
    wa = (a[..., 2] - a[..., 0] + 1).clamp_min(0)
    ha = (a[..., 3] - a[..., 1] + 1).clamp_min(0)
    wb = (b[..., 2] - b[..., 0] + 1).clamp_min(0)
    hb = (b[..., 3] - b[..., 1] + 1).clamp_min(0)
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0]) + 1).clamp_min(
        0
    )
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1]) + 1).clamp_min(
        0
    )
    inter = iw * ih
    union = wa * ha + wb * hb - inter
    safe = torch.where(union > 0, union, torch.ones_like(union))
    return torch.where(union > 0, inter / safe, torch.zeros_like(inter))


def best_iou(pred: Tensor, gt: Tensor, gt_valid: Tensor) -> Tensor:
    """For each guessed box, its best IoU over the image's valid ground-truth boxes.

    Args:
        pred: ``(B, k, 4)`` guessed boxes.
        gt: ``(B, G, 4)`` ground-truth boxes, padded to the largest count ``G`` of the batch.
        gt_valid: ``(B, G)`` bool, ``False`` on padding rows.

    Returns:
        ``(B, k)`` IoU; 0 for an image without any valid ground-truth box.

    Example:
        >>> pred = torch.tensor([[[0, 0, 9, 9]]])
        >>> gt = torch.tensor([[[50, 50, 60, 60], [0, 0, 9, 4], [0, 0, 9, 9]]])
        >>> best_iou(pred, gt, torch.tensor([[True, True, False]]))   # the exact match is padding
        tensor([[0.5000]])
    """
    _check_boxes(pred, "pred")
    _check_boxes(gt, "gt")
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[0] != gt.shape[0]:
        raise ValueError(
            f"pred must be (B, k, 4) and gt (B, G, 4) with the same B; found {tuple(pred.shape)} "
            f"and {tuple(gt.shape)}"
        )
    if gt_valid.shape != gt.shape[:2] or gt_valid.dtype != torch.bool:
        raise ValueError(
            f"gt_valid must be a bool (B, G) = {tuple(gt.shape[:2])} tensor; found "
            f"{tuple(gt_valid.shape)} {gt_valid.dtype}"
        )
    iou = box_iou(pred[:, :, None, :], gt[:, None, :, :].to(pred.device))
    iou = torch.where(gt_valid.to(iou.device)[:, None, :], iou, torch.zeros_like(iou))
    if iou.shape[-1] == 0:
        return iou.new_zeros(iou.shape[:2])
    return iou.amax(dim=-1)


class LocalizationMeter:
    """Running ILSVRC localization and classification errors over batches, on the device.

    Each :meth:`update` adds one batch's counts to device tensors (no Python loop over images,
    no host sync); :meth:`compute` reads them once.

    Guesses: ``pred_classes[:, j]`` with ``pred_boxes[:, j]`` is the ``j``-th guess, best first
    (for example the top-5 classes, each with the box of its own map; or
    :func:`camutils.boxes.table3_guesses`). A class of ``-1`` marks a missing guess, never
    correct. With fewer than ``k`` guesses a top-``k`` figure is computed from the guesses
    there are, the devkit's rule (an image simply has fewer chances), so "top-5" from 1 guess
    equals top-1: :meth:`update` warns when that happens and :meth:`compute` reports
    ``guesses``.

    Blacklist: images flagged in ``blacklisted`` count for classification errors but not for
    localization (numerator and denominator), as in the devkit's evaluation.

    Args:
        topk: the ``k`` of the top-k figures.
        iou_threshold: a box is correct at ``IoU >= iou_threshold`` (0.5).

    Example:
        >>> meter = LocalizationMeter()
        >>> classes = torch.tensor([[3, 1, 2, 4, 5], [0, 1, 2, 3, 4]])
        >>> boxes = torch.tensor([0, 0, 9, 9]).expand(2, 5, 4)
        >>> gt = torch.tensor([[[0, 0, 9, 9]], [[100, 100, 109, 109]]])
        >>> _ = meter.update(classes, boxes, torch.tensor([1, 0]), gt, torch.ones(2, 1, dtype=torch.bool))
        >>> {k: v for k, v in meter.compute().items() if "error" in k}
        {'top1_loc_error': 100.0, 'top5_loc_error': 50.0, 'top1_cls_error': 50.0, 'top5_cls_error': 0.0}
    """

    def __init__(self, topk: Sequence[int] = (1, 5), iou_threshold: float = 0.5) -> None:
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f"topk must be positive integers; found {topk!r}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must lie in (0, 1]; found {iou_threshold}")
        self.iou_threshold = float(iou_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self._counts: dict[str, Tensor] | None = None
        self._guesses: int | None = None
        self._warned = False

    def _add(self, name: str, value: Tensor) -> None:
        assert self._counts is not None
        self._counts[name] = self._counts[name] + value.sum()

    def _names(self) -> list[str]:
        names = ["images", "loc_images", "gt_known_images", "gt_known"]
        return names + [f"top{t}_{w}" for t in self.topk for w in ("loc", "cls")]

    def all_reduce(self, device: torch.device | str = "cpu") -> None:
        """Sum the counts of every process of the default ``torch.distributed`` group, so that
        each process's :meth:`compute` gives the figures of all their images together (exactly
        those of one process that saw them all: the counts are integers). ``device`` holds the
        reduced tensors: the CPU for gloo, the process's GPU for NCCL. A process that saw no
        image takes part with zeros. ``tests/test_distributed.py`` checks it with 2 processes.
        """
        import torch.distributed as dist

        names = self._names()
        dev = torch.device(device)
        if self._counts is None:
            local = torch.zeros(len(names), dtype=torch.long, device=dev)
        else:
            local = torch.stack([self._counts[n] for n in names]).to(dev)
        dist.all_reduce(local)
        guesses = torch.tensor(2**62 if self._guesses is None else self._guesses, device=dev)
        dist.all_reduce(guesses, op=dist.ReduceOp.MIN)
        if int(local[0]) == 0:
            self.reset()
            return
        self._counts = dict(zip(names, local.unbind(), strict=True))
        self._guesses = int(guesses)

    @torch.no_grad()
    def update(
        self,
        pred_classes: Tensor,
        pred_boxes: Tensor,
        gt_class: Tensor,
        gt_boxes: Tensor,
        gt_valid: Tensor,
        gt_known_boxes: Tensor | None = None,
        blacklisted: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Add one batch.

        Args:
            pred_classes: ``(B, k)`` guessed class indices, best first (``-1``: no guess).
            pred_boxes: ``(B, k, 4)`` the guesses' boxes, original-image coordinates.
            gt_class: ``(B,)`` the image's class.
            gt_boxes: ``(B, G, 4)`` its ground-truth boxes, padded; ``gt_valid`` ``(B, G)`` bool.
            gt_known_boxes: ``(B, 4)`` the box from the map of the true class, or ``None``.
            blacklisted: ``(B,)`` bool, images left out of the localization figures.

        Returns:
            Per-image results of this batch (for galleries): ``iou`` ``(B, k)`` best IoU of each
            guess, ``correct`` ``(B, k)`` guess correct, ``top{k}_loc`` / ``top{k}_cls``
            ``(B,)`` bool, and ``gt_known_iou`` / ``gt_known`` ``(B,)`` when given.
        """
        if pred_classes.ndim != 2:
            raise ValueError(f"pred_classes must be (B, k); found {tuple(pred_classes.shape)}")
        b, k = pred_classes.shape
        if pred_boxes.shape != (b, k, 4):
            raise ValueError(
                f"pred_boxes must be (B, k, 4) = {(b, k, 4)}; found {tuple(pred_boxes.shape)}"
            )
        if gt_class.shape != (b,):
            raise ValueError(f"gt_class must be (B,) = ({b},); found {tuple(gt_class.shape)}")
        if gt_boxes.ndim != 3 or gt_boxes.shape[0] != b:
            raise ValueError(
                f"gt_boxes must be (B, G, 4) with B = {b}; found {tuple(gt_boxes.shape)}"
            )
        device = pred_boxes.device
        if k < max(self.topk) and not self._warned:
            warnings.warn(
                f"{k} guesses per image: top-{max(self.topk)} figures count only these "
                "(the devkit's rule), so they are not comparable with published top-5 numbers",
                stacklevel=2,
            )
            self._warned = True
        self._guesses = k if self._guesses is None else min(self._guesses, k)
        if self._counts is None:
            zero = torch.zeros((), dtype=torch.long, device=device)
            self._counts = dict.fromkeys(self._names(), zero)

        gt_class = gt_class.to(device)
        pred_classes = pred_classes.to(device)
        if blacklisted is None:
            use_loc = torch.ones(b, dtype=torch.bool, device=device)
        else:
            if blacklisted.shape != (b,):
                raise ValueError(f"blacklisted must be (B,) bool; found {tuple(blacklisted.shape)}")
            use_loc = ~blacklisted.to(device=device, dtype=torch.bool)

        iou = best_iou(pred_boxes, gt_boxes.to(device), gt_valid.to(device))
        class_ok = pred_classes == gt_class[:, None]
        correct = class_ok & (iou >= self.iou_threshold)
        out: dict[str, Tensor] = {"iou": iou, "correct": correct}
        self._add("images", torch.tensor(b, device=device))
        self._add("loc_images", use_loc)
        for t in self.topk:
            loc = correct[:, :t].any(dim=1)
            cls = class_ok[:, :t].any(dim=1)
            out[f"top{t}_loc"], out[f"top{t}_cls"] = loc, cls
            self._add(f"top{t}_loc", loc & use_loc)
            self._add(f"top{t}_cls", cls)
        if gt_known_boxes is not None:
            if gt_known_boxes.shape != (b, 4):
                raise ValueError(
                    f"gt_known_boxes must be (B, 4) = ({b}, 4); found {tuple(gt_known_boxes.shape)}"
                )
            gk_iou = best_iou(
                gt_known_boxes.to(device)[:, None], gt_boxes.to(device), gt_valid.to(device)
            )[:, 0]
            gk = gk_iou >= self.iou_threshold
            out["gt_known_iou"], out["gt_known"] = gk_iou, gk
            self._add("gt_known_images", use_loc)
            self._add("gt_known", gk & use_loc)
        return out

    def compute(self) -> dict[str, float | int]:
        """The figures so far, in percent.

        Keys: ``images``, ``guesses`` (the fewest guesses any image had), ``top{k}_loc_error``,
        ``top{k}_cls_error`` for each ``k`` of ``topk``, and ``gt_known_loc_acc`` when GT-known
        boxes were given. Localization figures leave blacklisted images out; their count is
        ``loc_images``.
        """
        if self._counts is None:
            raise RuntimeError("compute() before any update(): no images seen")
        c = {name: int(v.item()) for name, v in self._counts.items()}
        n, n_loc = c["images"], c["loc_images"]

        def pct(num: int, den: int) -> float:
            return 100.0 * num / den if den else float("nan")

        out: dict[str, float | int] = {"images": n, "loc_images": n_loc, "guesses": self._guesses}
        for t in self.topk:
            out[f"top{t}_loc_error"] = 100.0 - pct(c[f"top{t}_loc"], n_loc)
        for t in self.topk:
            out[f"top{t}_cls_error"] = 100.0 - pct(c[f"top{t}_cls"], n)
        if c["gt_known_images"]:
            out["gt_known_loc_acc"] = pct(c["gt_known"], c["gt_known_images"])
        return out


def localization_errors(
    pred_classes: Tensor,
    pred_boxes: Tensor,
    gt_class: Tensor,
    gt_boxes: Tensor,
    gt_valid: Tensor,
    gt_known_boxes: Tensor | None = None,
    topk: Sequence[int] = (1, 5),
) -> dict[str, float | int]:
    """One-batch shortcut: :class:`LocalizationMeter` with a single update, then compute."""
    meter = LocalizationMeter(topk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meter.update(pred_classes, pred_boxes, gt_class, gt_boxes, gt_valid, gt_known_boxes)
    return meter.compute()


# --------------------------------------------------------------------------- MaxBoxAcc
def _as_maps(cams: Tensor) -> Tensor:
    if cams.ndim == 4 and cams.shape[1] == 1:
        cams = cams[:, 0]
    if cams.ndim != 3:
        raise ValueError(
            f"cams must be (B, H, W) or (B, 1, H, W): one map (the true class's) per image; "
            f"found {tuple(cams.shape)}"
        )
    return cams


class MaxBoxAccMeter:
    """GT-known box accuracy over a sweep of map thresholds (Choe et al.'s MaxBoxAcc), batched.

    For each threshold ``t`` and each image, the map of the true class gives a box (or several);
    ``BoxAcc(t, delta)`` is the share of images whose box has ``IoU >= delta`` with a
    ground-truth box (any of its boxes, with ``multi_contour``), ``MaxBoxAcc(delta)`` its
    maximum over ``t``, and MaxBoxAccV2 the mean of ``MaxBoxAcc`` over ``delta`` = 0.3, 0.5,
    0.7 with every contour proposing a box.

    Two box rules:

    - ``box_rule="wsol"`` (default): wsolevaluation's, exactly
      (:func:`~camutils.boxes.contour_boxes`): maps in ``[0, 1]`` quantised to 8 bits,
      ``g > int(t * max g)``, OpenCV contours (the largest by contour area, or all of them), the
      box reaching ``x + w``, and a mask without contours giving their ``(0, 0, 0, 0)`` box, a
      miss. The thresholds default to ``np.arange(0, 1, 0.01)``, the interval of their README's
      example (their ``config.py`` defaults to 0.001: ``wsol_thresholds(0.001)``). For their
      protocol pass min-max normalised maps (:func:`~camutils.cam.normalize_cams`) upsampled to
      the 224 x 224 input; maps outside ``[0, 1]`` are refused. The contours run per map on the
      CPU.
    - ``box_rule="paper"``: the paper's rule at each threshold, exactly
      :func:`~camutils.boxes.largest_component_boxes` (``M >= t max M``, the largest
      8-connected component by pixels, the whole map for an empty mask; every component with
      ``multi_contour``), batched on the maps' device. Its maximum is the best threshold of the
      paper's rule, not MaxBoxAcc as its authors define it.

    Args:
        thresholds: the sweep, fractions in ``[0, 1]`` (default
            :func:`~camutils.boxes.wsol_thresholds`: ``0, 0.01, ..., 0.99``).
        iou_thresholds: the ``delta`` values.
        multi_contour: every contour (component) proposes a box (V2) instead of the largest.
        box_rule: ``"wsol"`` or ``"paper"``.
        connectivity: 8 or 4 (the paper's rule only; OpenCV's contours are 8-connected).
        chunk_pixels: memory bound of one batched component search (``None``: by device).
        mask_pixels: maps x thresholds x pixels of the boolean masks built at once.
    """

    def __init__(
        self,
        thresholds: Sequence[float] | Tensor | None = None,
        iou_thresholds: Sequence[float] = (0.5,),
        multi_contour: bool = False,
        box_rule: str = "wsol",
        connectivity: int = 8,
        chunk_pixels: int | None = None,
        mask_pixels: int = 2**26,
    ) -> None:
        if box_rule not in ("wsol", "paper"):
            raise ValueError(f"box_rule must be 'wsol' or 'paper'; found {box_rule!r}")
        if box_rule == "wsol" and connectivity != 8:
            raise ValueError("box_rule='wsol' uses OpenCV's 8-connected contours: connectivity=8")
        if thresholds is None:
            thresholds = wsol_thresholds(0.01)
        self.thresholds = torch.as_tensor(thresholds, dtype=torch.float64).flatten()
        if self.thresholds.numel() == 0 or bool(
            ((self.thresholds < 0) | (self.thresholds > 1)).any()
        ):
            raise ValueError("thresholds must be a non-empty set of fractions in [0, 1]")
        self.iou_thresholds = tuple(float(d) for d in iou_thresholds)
        if not self.iou_thresholds or not all(0 < d <= 1 for d in self.iou_thresholds):
            raise ValueError(f"iou_thresholds must lie in (0, 1]; found {iou_thresholds!r}")
        self.multi_contour = bool(multi_contour)
        self.box_rule = box_rule
        self.connectivity = connectivity
        self.chunk_pixels = chunk_pixels
        self.mask_pixels = int(mask_pixels)
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self._correct: Tensor | None = None
        self._images: Tensor | None = None

    @torch.no_grad()
    def _ious(self, cams: Tensor, t: Tensor, gt_boxes: Tensor, gt_valid: Tensor) -> Tensor:
        """``(B, T)`` IoU of each threshold's box (best component's with ``multi_contour``),
        by the paper's rule."""
        b, h, w = cams.shape
        masks = threshold_masks(cams[:, None], t[None, :])  # (B, T, H, W)
        boxes = largest_component_boxes_from_masks(masks, self.connectivity, self.chunk_pixels)
        iou = best_iou(boxes, gt_boxes, gt_valid)  # (B, T): largest component (or whole map)
        if not self.multi_contour:
            return iou
        comp, map_index, _ = all_component_boxes(masks, self.connectivity, self.chunk_pixels)
        image = torch.div(map_index, t.numel(), rounding_mode="floor")
        comp_iou = best_iou(comp[:, None], gt_boxes[image], gt_valid[image])[:, 0]
        best = torch.zeros(b * t.numel(), dtype=comp_iou.dtype, device=cams.device)
        best = best.scatter_reduce(0, map_index, comp_iou, reduce="amax")
        has = torch.zeros(b * t.numel(), dtype=torch.bool, device=cams.device)
        has[map_index] = True
        # maps without components keep the whole-map box of the largest-component rule
        return torch.where(has.view(b, -1), best.view(b, -1), iou)

    @torch.no_grad()
    def _wsol_ious(self, cams: Tensor, gt_boxes: Tensor, gt_valid: Tensor) -> Tensor:
        """``(B, T)`` float64 IoU on the CPU of wsolevaluation's boxes: the best of each map and
        threshold's boxes, as their ``BoxEvaluator.accumulate``."""
        b, n_t = cams.shape[0], self.thresholds.numel()
        boxes, map_index = contour_boxes(cams, self.thresholds, self.multi_contour)
        image = torch.div(map_index, n_t, rounding_mode="floor")
        gt_boxes, gt_valid = gt_boxes.cpu(), gt_valid.cpu()
        iou = best_iou(boxes[:, None].double(), gt_boxes[image], gt_valid[image])[:, 0]
        best = torch.zeros(b * n_t, dtype=torch.float64)
        return best.scatter_reduce(0, map_index, iou, reduce="amax").view(b, n_t)

    @torch.no_grad()
    def update(self, cams: Tensor, gt_boxes: Tensor, gt_valid: Tensor) -> Tensor:
        """Add one batch: ``cams`` ``(B, H, W)`` or ``(B, 1, H, W)``, the true class's maps in
        the boxes' coordinates; ``gt_boxes`` ``(B, G, 4)``, ``gt_valid`` ``(B, G)``.

        Returns the ``(B, T)`` IoU of each image's box at each threshold (on the CPU, float64,
        for the ``"wsol"`` rule).
        """
        cams = _as_maps(cams)
        b, h, w = cams.shape
        device = cams.device
        gt_boxes, gt_valid = gt_boxes.to(device), gt_valid.to(device)
        if gt_boxes.ndim != 3 or gt_boxes.shape[0] != b or gt_valid.shape != gt_boxes.shape[:2]:
            raise ValueError(
                f"gt_boxes must be (B, G, 4) and gt_valid (B, G) with B = {b}; found "
                f"{tuple(gt_boxes.shape)} and {tuple(gt_valid.shape)}"
            )
        if self.box_rule == "wsol":
            ious = self._wsol_ious(cams, gt_boxes, gt_valid)
            device = ious.device
        else:
            dtype = cams.dtype if cams.dtype.is_floating_point else torch.float32
            t_all = self.thresholds.to(device=device, dtype=dtype)
            per = max(1, self.mask_pixels // max(1, b * h * w))
            ious = torch.cat(
                [
                    self._ious(cams, t_all[i : i + per], gt_boxes, gt_valid)
                    for i in range(0, t_all.numel(), per)
                ],
                dim=1,
            )
        deltas = torch.tensor(self.iou_thresholds, device=device, dtype=ious.dtype)
        correct = (ious[None] >= deltas[:, None, None]).sum(dim=1)  # (I, T)
        if self._correct is None:
            self._correct = torch.zeros_like(correct)
            self._images = torch.zeros((), dtype=torch.long, device=device)
        self._correct = self._correct + correct
        self._images = self._images + b
        return ious

    def all_reduce(self, device: torch.device | str = "cpu") -> None:
        """Sum the per-threshold counts (the BoxAcc curve's numerators) and the image counts of
        every process of the default ``torch.distributed`` group: the curve is summed first and
        its maximum taken after, in :meth:`compute`, so the result is exactly that of one
        process that saw every image (the maximum of a sum is not the sum of maxima).
        ``device``: the CPU for gloo, the process's GPU for NCCL."""
        import torch.distributed as dist

        dev = torch.device(device)
        shape = (len(self.iou_thresholds), self.thresholds.numel())
        correct = (
            torch.zeros(shape, dtype=torch.long, device=dev)
            if self._correct is None
            else self._correct.to(dev, torch.long)
        )
        images = torch.zeros((), dtype=torch.long, device=dev)
        if self._images is not None:
            images = self._images.to(dev, torch.long)
        both = torch.cat([correct.flatten(), images[None]])
        dist.all_reduce(both)
        if int(both[-1]) == 0:
            self.reset()
            return
        self._correct = both[:-1].view(shape)
        self._images = both[-1]

    def compute(self) -> dict[str, object]:
        """``thresholds`` (T,), ``accuracy`` ``(I, T)`` percent per IoU threshold and map
        threshold, ``best`` / ``best_threshold`` per IoU threshold (lists), ``max_box_acc`` at
        IoU 0.5 when it is among ``iou_thresholds``, ``max_box_acc_v2`` (the mean of ``best``),
        and ``images``."""
        if self._correct is None or self._images is None:
            raise RuntimeError("compute() before any update(): no images seen")
        n = int(self._images.item())
        acc = 100.0 * self._correct.double().cpu() / n
        best, arg = acc.amax(dim=1), acc.argmax(dim=1)  # argmax: the first best threshold
        out: dict[str, object] = {
            "images": n,
            "thresholds": self.thresholds.tolist(),
            "iou_thresholds": list(self.iou_thresholds),
            "accuracy": acc,
            "best": best.tolist(),
            "best_threshold": self.thresholds[arg].tolist(),
            "max_box_acc_v2": float(best.mean()),
        }
        if 0.5 in self.iou_thresholds:
            out["max_box_acc"] = float(best[self.iou_thresholds.index(0.5)])
        return out


def max_box_acc(
    cams: Tensor,
    gt_boxes: Tensor,
    gt_valid: Tensor,
    thresholds: Sequence[float] | Tensor | None = None,
    v2: bool = False,
    box_rule: str = "wsol",
    connectivity: int = 8,
) -> dict[str, object]:
    """MaxBoxAcc of one batch of true-class maps (see :class:`MaxBoxAccMeter`).

    ``v2=False``: IoU 0.5, the largest contour (MaxBoxAcc). ``v2=True``: IoU 0.3 / 0.5 / 0.7 and
    every contour's box (MaxBoxAccV2, read ``max_box_acc_v2``). ``box_rule="wsol"`` (default)
    is wsolevaluation's box rule, ``"paper"`` the paper's rule swept over the thresholds.

    Example:
        >>> cam = torch.zeros(1, 20, 20)
        >>> cam[0, 5:15, 5:15] = 1.0
        >>> cam[0, :, 0:5] = 0.5               # a weaker stripe joins at low thresholds
        >>> r = max_box_acc(cam, torch.tensor([[[5, 5, 14, 14]]]), torch.ones(1, 1, dtype=torch.bool),
        ...                 thresholds=[0.3, 0.6])
        >>> r["accuracy"].tolist(), r["max_box_acc"], r["best_threshold"]
        ([[0.0, 100.0]], 100.0, [0.6])
    """
    meter = MaxBoxAccMeter(
        thresholds,
        iou_thresholds=(0.3, 0.5, 0.7) if v2 else (0.5,),
        multi_contour=v2,
        box_rule=box_rule,
        connectivity=connectivity,
    )
    meter.update(cams, gt_boxes, gt_valid)
    return meter.compute()
