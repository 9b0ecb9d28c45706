"""Can a map be trusted? Faithfulness metrics and the randomization sanity check, batched.

A map localizes well when its peak lands on the object (:mod:`camutils.metrics`); it is
*faithful* when the pixels it ranks first are the ones the network's score ``P_c`` depends on.
The two are different questions:

- :func:`deletion_insertion` (Petsiuk et al., BMVC 2018, RISE): remove the pixels from the most
  salient down (deletion: ``P_c`` should fall fast, a low area) or add them to a blurred image
  (insertion: ``P_c`` should rise fast, a high area); :func:`curve_area` is the area under
  either curve;
- :func:`confidence_change` (Chattopadhay et al., WACV 2018): ``P_c`` of the image multiplied by
  its normalised map, from which :func:`average_drop` and :func:`increase_in_confidence`;
- :func:`cascading_randomization` (Adebayo et al., NeurIPS 2018): re-initialise the network's
  layers from the top down and measure, with :func:`spearman`, how much each map still looks
  like the trained network's. A map that does not change does not explain the network.

Maps are ``(B, n, h, w)`` for ``n`` classes per image (``classes`` as in
:func:`camutils.explain.explain`) at any resolution; they are upsampled bilinearly to the input.
Every perturbed image of a curve is scored in chunks of ``batch_size``, on the input's device.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from camutils.cam import class_index
from camutils.models import logits_of
from camutils.saliency import check_inputs

__all__ = [
    "average_drop",
    "cascading_randomization",
    "confidence_change",
    "curve_area",
    "deletion_insertion",
    "increase_in_confidence",
    "pixel_order",
    "rank",
    "spearman",
]

Score = Literal["prob", "logit"]


def _check_maps(maps: Tensor, images: Tensor, what: str) -> None:
    if not isinstance(maps, Tensor) or maps.ndim != 4 or maps.shape[0] != images.shape[0]:
        found = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(
            f"{what}: maps must be (B, n, h, w) with B = {images.shape[0]} images; found {found}"
        )


def _scores(model: nn.Module, x: Tensor, idx: Tensor, score: Score, what: str) -> Tensor:
    logits = logits_of(model(x), what)
    if score == "prob":
        return logits.float().softmax(dim=-1).gather(1, idx)
    if score == "logit":
        return logits.float().gather(1, idx)
    raise ValueError(f"{what}: score must be 'prob' (P_c) or 'logit' (S_c); found {score!r}")


def pixel_order(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """The rank of every input pixel in each map, most salient first: ``(B, n, H W)`` long.

    The map is upsampled bilinearly to ``size``; ties keep the pixels' raster order (a stable
    sort), so a constant map removes pixels row by row.

    Example:
        >>> pixel_order(torch.tensor([[[[0.0, 2.0], [1.0, 2.0]]]]), (2, 2))
        tensor([[[3, 0, 2, 1]]])
    """
    up = F.interpolate(maps.float(), size=size, mode="bilinear", align_corners=False)
    order = torch.argsort(-up.flatten(2), dim=-1, stable=True)  # pixel ids, best first
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order))
    return ranks


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    images: Tensor,
    maps: Tensor,
    classes: Tensor | Sequence[int] | int,
    mode: Literal["deletion", "insertion"] = "deletion",
    steps: int = 16,
    baseline: float | Tensor | None = None,
    score: Score = "prob",
    batch_size: int = 64,
) -> Tensor:
    """Deletion or insertion curve (Petsiuk et al. 2018) of every map: ``(B, n, steps + 1)``.

    Pixels are taken in the map's order, most salient first; at step ``t = 0..steps`` the first
    ``round(t H W / steps)`` of them are

    - deletion: replaced by ``baseline`` (default 0, the network input's mean colour after the
      usual normalisation), from the image (``t = 0``) to the baseline (``t = steps``);
    - insertion: copied into ``baseline`` (default: the image blurred by a Gaussian of
      ``sigma = 5``, kernel 11, as RISE), from the blurred image to the image,

    and the curve is ``P_c`` (``score="prob"``, as RISE) or ``S_c`` of the perturbed image.
    A faithful map gives a low deletion area and a high insertion area (:func:`curve_area`).

    Cost: ``B n (steps + 1)`` forward passes, ``batch_size`` at a time.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2)).eval()
        >>> curves = deletion_insertion(net, torch.rand(3, 3, 2, 2), torch.rand(3, 1, 2, 2), 0, steps=4)
        >>> curves.shape
        torch.Size([3, 1, 5])
    """
    what = "deletion_insertion"
    check_inputs(model, images, what)
    _check_maps(maps, images, what)
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"{what}: mode must be 'deletion' or 'insertion'; found {mode!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{what}: steps must be a positive int; found {steps!r}")
    bsz, n = maps.shape[:2]
    h, w = images.shape[-2:]
    if baseline is None:
        if mode == "deletion":
            base = torch.zeros_like(images)
        else:
            from torchvision.transforms.v2.functional import gaussian_blur

            base = gaussian_blur(images, kernel_size=[11, 11], sigma=[5.0, 5.0])
    else:
        base = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
        base = base.expand_as(images) if base.ndim in (0, 3) else base
        if base.shape != images.shape:
            raise ValueError(
                f"{what}: baseline must be a number, a (3, H, W) image or a batch shaped like the "
                f"images {tuple(images.shape)}; found {tuple(base.shape)}"
            )
    with torch.no_grad():
        num_classes = logits_of(model(images[:1]), what).shape[1]
    idx = class_index(classes, bsz, num_classes, images.device)
    if idx.shape[1] != n:
        raise ValueError(f"{what}: {n} maps per image but {idx.shape[1]} classes per image")
    ranks = pixel_order(maps, (h, w)).view(bsz * n, 1, h, w)
    counts = torch.round(torch.arange(steps + 1, device=images.device) * (h * w / steps)).long()
    # rows: (item, step) with item = b * n + j
    rows = torch.cartesian_prod(
        torch.arange(bsz * n, device=images.device), torch.arange(steps + 1, device=images.device)
    )
    out = []
    for start in range(0, rows.shape[0], batch_size):
        item, t = rows[start : start + batch_size].unbind(1)
        b = item // n
        chosen = ranks[item] < counts[t].view(-1, 1, 1, 1)  # (R, 1, H, W): the first pixels
        if mode == "deletion":
            x = torch.where(chosen, base[b], images[b])
        else:
            x = torch.where(chosen, images[b], base[b])
        cls = idx.reshape(-1)[item].view(-1, 1)
        out.append(_scores(model, x, cls, score, what)[:, 0])
    return torch.cat(out).view(bsz, n, steps + 1)


def curve_area(curves: Tensor) -> Tensor:
    """The area under curves sampled at ``steps + 1`` evenly spaced fractions of ``[0, 1]``.

    The trapezoid rule, ``(sum_t p_t - (p_0 + p_T) / 2) / T``, as RISE's ``auc``.

    Example:
        >>> curve_area(torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]]))
        tensor([0.5000, 1.0000])
    """
    if curves.ndim < 1 or curves.shape[-1] < 2:
        raise ValueError(f"curves must be (..., T + 1) with T >= 1; found {tuple(curves.shape)}")
    steps = curves.shape[-1] - 1
    return (curves.sum(-1) - (curves[..., 0] + curves[..., -1]) / 2) / steps


@torch.no_grad()
def confidence_change(
    model: nn.Module,
    images: Tensor,
    maps: Tensor,
    classes: Tensor | Sequence[int] | int,
    score: Score = "prob",
    batch_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """``Y_c`` of the images and ``O_c`` of the images multiplied by their maps: two ``(B, n)``.

    As Chattopadhay et al. (2018): the map is ReLU'd, upsampled to the input and min-max
    normalised to ``E`` in ``[0, 1]``; ``O_c = P_c(X o E)`` (each colour channel of the
    network's input times ``E``) and ``Y_c = P_c(X)``. :func:`average_drop` and
    :func:`increase_in_confidence` summarise them.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2)).eval()
        >>> maps = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]).expand(2, 1, 2, 2)
        >>> y, o = confidence_change(net, torch.rand(2, 3, 2, 2), maps, 1)
        >>> y.shape, o.shape
        (torch.Size([2, 1]), torch.Size([2, 1]))
    """
    what = "confidence_change"
    check_inputs(model, images, what)
    _check_maps(maps, images, what)
    bsz, n = maps.shape[:2]
    up = F.interpolate(
        maps.float().clamp_min(0), size=images.shape[-2:], mode="bilinear", align_corners=False
    )
    lo = up.amin(dim=(-2, -1), keepdim=True)
    hi = up.amax(dim=(-2, -1), keepdim=True)
    e = ((up - lo) / (hi - lo).clamp_min(1e-12)).to(images.dtype)  # (B, n, H, W)
    logits = logits_of(model(images), what).float()
    idx = class_index(classes, bsz, logits.shape[1], images.device)
    if idx.shape[1] != n:
        raise ValueError(f"{what}: {n} maps per image but {idx.shape[1]} classes per image")
    if score not in ("prob", "logit"):
        raise ValueError(f"{what}: score must be 'prob' (P_c) or 'logit' (S_c); found {score!r}")
    y = (logits.softmax(dim=-1) if score == "prob" else logits).gather(1, idx)
    masked = []
    items = torch.arange(bsz * n, device=images.device)
    for start in range(0, bsz * n, batch_size):
        item = items[start : start + batch_size]
        b = item // n
        x = images[b] * e.view(bsz * n, 1, *e.shape[-2:])[item]
        masked.append(_scores(model, x, idx.reshape(-1)[item].view(-1, 1), score, what)[:, 0])
    return y, torch.cat(masked).view(bsz, n)


def average_drop(y: Tensor, o: Tensor) -> Tensor:
    """Average Drop in percent: ``100 mean_i max(0, Y_i - O_i) / Y_i`` (lower is better).

    Example:
        >>> average_drop(torch.tensor([0.8, 0.5]), torch.tensor([0.4, 0.6]))
        tensor(25.)
    """
    return 100 * ((y - o).clamp_min(0) / y).mean()


def increase_in_confidence(y: Tensor, o: Tensor) -> Tensor:
    """Increase in Confidence in percent: ``100 mean_i [O_i > Y_i]`` (higher is better).

    Example:
        >>> increase_in_confidence(torch.tensor([0.8, 0.5]), torch.tensor([0.4, 0.6]))
        tensor(50.)
    """
    return 100 * (o > y).float().mean()


# --------------------------------------------------------------------------- sanity check
def rank(x: Tensor) -> Tensor:
    """Ranks ``1..N`` along the last dimension, ties given their average rank (as SciPy), float64.

    Example:
        >>> rank(torch.tensor([[3.0, 1.0, 3.0, 2.0]])).tolist()
        [[3.5, 1.0, 3.5, 2.0]]
    """
    values, order = torch.sort(x, dim=-1, stable=True)
    n = x.shape[-1]
    pos = torch.arange(n, device=x.device).expand_as(values)
    new = torch.ones_like(values, dtype=torch.bool)
    new[..., 1:] = values[..., 1:] != values[..., :-1]
    first = torch.where(new, pos, torch.zeros_like(pos)).cummax(dim=-1).values
    last_flag = torch.ones_like(new)
    last_flag[..., :-1] = new[..., 1:]
    big = torch.full_like(pos, n)
    last = torch.where(last_flag, pos, big).flip(-1).cummin(dim=-1).values.flip(-1)
    avg = (first + last).to(torch.float64) / 2 + 1
    out = torch.empty_like(avg)
    out.scatter_(-1, order, avg)
    return out


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's rank correlation of ``a`` and ``b`` over their last two dims (per map).

    The Pearson correlation of the tie-averaged ranks; a constant map (no ranking) gives 0.

    Example:
        >>> m = torch.rand(2, 3, 4, 4)
        >>> torch.allclose(spearman(m, m ** 3), torch.ones(2, 3, dtype=torch.float64))
        True
    """
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"maps must have one shape (..., h, w); found {a.shape} and {b.shape}")
    ra = rank(a.flatten(-2))
    rb = rank(b.flatten(-2))
    ra = ra - ra.mean(-1, keepdim=True)
    rb = rb - rb.mean(-1, keepdim=True)
    den = (ra.square().sum(-1) * rb.square().sum(-1)).sqrt()
    num = (ra * rb).sum(-1)
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), 0.0)


def cascading_randomization(
    model: nn.Module,
    images: Tensor,
    classes: Tensor | Sequence[int] | int,
    explainers: dict[str, Callable[[nn.Module, Tensor, Tensor], Tensor]],
    layers: Sequence[nn.Module],
    seed: int = 0,
    absolute: bool = False,
) -> dict[str, Tensor]:
    """The model-parameter randomization test (Adebayo et al. 2018), cascading from the top.

    ``layers`` are submodules of ``model`` listed from the output down (the head first). Stage
    ``s = 1..L`` re-initialises the first ``s`` of them (``reset_parameters()`` of every
    submodule that has it, under ``torch.manual_seed(seed + s)``, the caller's random state restored afterwards) in a copy of the model, and
    each explainer's maps are compared with the trained model's by :func:`spearman` (of their
    absolute values when ``absolute``, as the paper also reports). The model is not modified.

    Returns, per explainer, a ``(L, B, n)`` tensor of rank correlations; ``1`` everywhere
    means the map ignores the parameters it should explain.

    Example:
        >>> from camutils.models import CAMModel
        >>> from camutils.explain import cam
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> r = cascading_randomization(m, torch.randn(2, 3, 8, 8), [0], {"cam": cam}, [m.head])
        >>> r["cam"].shape
        torch.Size([1, 2, 1])
    """
    what = "cascading_randomization"
    check_inputs(model, images, what)
    names = {id(m): name for name, m in model.named_modules()}
    missing = [i for i, m in enumerate(layers) if id(m) not in names]
    if missing:
        raise ValueError(f"{what}: layers {missing} are not submodules of the model")
    if not layers:
        raise ValueError(f"{what}: give at least one layer to re-initialise")
    reference = {key: fn(model, images, classes).detach() for key, fn in explainers.items()}
    out: dict[str, list[Tensor]] = {key: [] for key in explainers}
    for stage in range(1, len(layers) + 1):
        randomized = copy.deepcopy(model).eval()
        with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
            torch.manual_seed(seed + stage)
            for layer in layers[:stage]:
                target = randomized.get_submodule(names[id(layer)])
                for sub in target.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        for key, fn in explainers.items():
            maps = fn(randomized, images, classes).detach()
            ref = reference[key]
            if absolute:
                maps, ref = maps.abs(), ref.abs()
            out[key].append(spearman(ref, maps))
    return {key: torch.stack(v) for key, v in out.items()}
