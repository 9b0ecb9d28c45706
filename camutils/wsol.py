"""Weakly-supervised localization from scratch: small CNNs that differ only in their head.

The paper's Table 1 compares networks whose last layers are fully connected (AlexNet, VGG) with
the same networks ending in conv -> GAP -> softmax; Table 2 asks which of them localize. Here
the same question is asked of three small networks that share one convolutional body
``f = body(x)`` (``(B, K, h, w)``, stride 4) and differ only in the head:

- ``"fc"``: ``S = FC(ReLU(FC(flatten(maxpool(f)))))``: every class score mixes all positions,
  so there is no ``M_c`` whose spatial sum is ``S_c`` (:class:`FCNet` refuses CAM);
- ``"gap"``: ``F_k = mean_{x,y} f_k(x, y)``, ``S_c = sum_k w_k^c F_k + b_c`` (a
  :class:`~camutils.models.CAMModel`, ``pool="avg"``);
- ``"gmp"``: ``F_k = max_{x,y} f_k(x, y)``, same Linear (``pool="max"``).

:func:`gap_surgery` does what the paper did to AlexNet and VGG: drop everything after the last
conv layer of a trained ``"fc"`` network, add a 3x3 conv + GAP + Linear, and fine-tune briefly
(:func:`train`), which turns it into a CAMModel.

:func:`run_seed` runs the whole experiment of notebook 05 for one seed (train the three heads,
the surgery, and score Table 1 and Table 2 in miniature); :func:`mean_sd` summarises the seeds.

Example:
    >>> net = make_net("gap", seed=0)
    >>> out = net(torch.zeros(2, 1, 56, 56))
    >>> out.logits.shape, out.features.shape
    (torch.Size([2, 10]), torch.Size([2, 32, 14, 14]))
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from camutils.cam import ClassSpec, upsample_cams
from camutils.models import CAMModel, logits_of  # logits_of: public here too

__all__ = [
    "METHODS",
    "NETWORKS",
    "FCNet",
    "EpochStats",
    "LocRow",
    "SeedRun",
    "Settings",
    "conv_body",
    "gap_surgery",
    "localization_maps",
    "localization_scores",
    "logits_of",
    "make_net",
    "mean_sd",
    "predict",
    "run_seed",
    "train",
]

DIGIT_CLASSES = [str(d) for d in range(10)]
HeadKind = Literal["fc", "gap", "gmp"]


def conv_body(channels: Sequence[int] = (8, 16, 32, 32), in_channels: int = 1) -> nn.Sequential:
    """The shared body: 3x3 conv + ReLU blocks, a 2x2 max-pool after the first two.

    ``(B, in_channels, H, W) -> (B, channels[-1], H / 4, W / 4)``; the receptive field of one
    output cell is 26 pixels (a whole digit of the canvas set).

    Example:
        >>> conv_body()(torch.zeros(1, 1, 48, 48)).shape
        torch.Size([1, 32, 12, 12])
    """
    if len(channels) < 3:
        raise ValueError(f"at least three conv layers are expected; found channels={channels}")
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c in enumerate(channels):
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        if i < 2:
            layers.append(nn.MaxPool2d(2))
        c_in = c
    return nn.Sequential(*layers)


class FCNet(nn.Module):
    """``body`` followed by a flatten + fully-connected head (the AlexNet/VGG pattern).

    ``head = maxpool 2x2 -> flatten -> Linear(K h w / 4, hidden) -> ReLU -> Linear(hidden, C)``.
    ``forward`` returns the logits ``S`` ``(B, C)``. The class score is not a sum over
    locations of per-location scores, so :meth:`cams` raises: use :func:`gap_surgery`.
    """

    def __init__(self, body: nn.Module, head: nn.Sequential, name: str = "FC") -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.name = name
        self.class_names = list(DIGIT_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    def cams(self, features: Tensor, classes: ClassSpec = None) -> Tensor:
        raise TypeError(
            f"{self.name}: a flatten + FC head has no class activation map. Its score S_c mixes "
            "every position through the hidden FC layer (and the flatten keeps a separate weight "
            "per position), so S_c is not sum_{x,y} M_c(x, y) for any map M_c. Convert it with "
            "camutils.wsol.gap_surgery(net) and fine-tune, as Zhou et al. did for AlexNet/VGG."
        )


def _fc_head(channels: int, cells: int, hidden: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels * cells, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def make_net(
    head: HeadKind,
    *,
    num_classes: int = 10,
    channels: Sequence[int] = (8, 16, 32, 32),
    image_size: int = 56,
    hidden: int = 256,
    seed: int = 0,
) -> FCNet | CAMModel:
    """A fresh network with the shared :func:`conv_body` and the chosen head.

    The body's initial weights depend only on ``seed`` (the same for the three heads), drawn
    without touching the global random state.

    Args:
        head: ``"fc"`` (:class:`FCNet`), ``"gap"`` or ``"gmp"`` (:class:`CAMModel`).
        num_classes: ``C``.
        channels: the body's conv widths; ``K = channels[-1]``.
        image_size: input side (the FC head's input size depends on it).
        hidden: width of the FC head's hidden layer.
        seed: initialisation seed.
    """
    if head not in ("fc", "gap", "gmp"):
        raise ValueError(f"head must be 'fc', 'gap' or 'gmp'; found {head!r}")
    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8; found {image_size}")
    names = DIGIT_CLASSES if num_classes == 10 else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        body = conv_body(channels)
        k = channels[-1]
        if head == "fc":
            cells = (image_size // 8) ** 2
            net = FCNet(body, _fc_head(k, cells, hidden, num_classes), name="flatten+FC")
            if names is None:
                net.class_names = [str(c) for c in range(num_classes)]
            return net
        return CAMModel(
            body,
            nn.Linear(k, num_classes),
            pool="avg" if head == "gap" else "max",
            class_names=names,
            name="GAP" if head == "gap" else "GMP",
        )


def gap_surgery(net: FCNet, width: int = 64, seed: int = 0) -> CAMModel:
    """Network surgery (Zhou et al., Sec. 3): ``FC`` network -> conv + GAP + Linear CAMModel.

    Keeps (a deep copy of) the trained body, drops the head (pool, flatten, both FC layers) and
    adds a new 3x3 conv (``width`` units, stride 1, pad 1) + ReLU, GAP and a new Linear, as the
    paper did for AlexNet (``pool5`` to ``prob`` removed, 3x3 conv of 1024 units added). The
    new layers are initialised from ``seed``; the result must be fine-tuned (:func:`train`).

    Example:
        >>> cam_net = gap_surgery(make_net("fc"))
        >>> cam_net(torch.zeros(1, 1, 56, 56)).features.shape
        torch.Size([1, 64, 14, 14])
    """
    if not isinstance(net, FCNet):
        raise TypeError(f"gap_surgery expects an FCNet (flatten + FC head); found {type(net)}")
    last = [m for m in net.body.modules() if isinstance(m, nn.Conv2d)]
    if not last:
        raise ValueError("the body has no Conv2d layer")
    k = last[-1].out_channels
    num_classes = net.head[-1].out_features
    device = last[-1].weight.device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        conv = nn.Conv2d(k, width, 3, padding=1)
        bn = nn.BatchNorm2d(width)
        linear = nn.Linear(width, num_classes)
    body = nn.Sequential(
        copy.deepcopy(net.body), conv.to(device), bn.to(device), nn.ReLU(inplace=True)
    )
    return CAMModel(
        body,
        linear.to(device),
        pool="avg",
        class_names=net.class_names,
        name=f"{net.name} -> GAP (surgery)",
    )


class EpochStats(NamedTuple):
    """One epoch of :func:`train`: mean training loss and accuracy over the epoch's batches."""

    epoch: int
    loss: float
    accuracy: float
    seconds: float


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def train(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    schedule: Literal["onecycle", "constant"] = "onecycle",
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> list[EpochStats]:
    """Train with cross-entropy on image labels only (Adam); returns the per-epoch history.

    The data go to the model's device once; each epoch visits them in an order drawn from a CPU
    ``torch.Generator`` seeded by ``seed``, so a run is reproducible (bit for bit on the same
    CPU and thread count; GPUs add their own non-determinism unless
    ``torch.use_deterministic_algorithms(True)``). No workers, no augmentation. A ``tqdm`` bar
    shows the running loss when ``progress``.

    Args:
        model: an :class:`FCNet` or a :class:`CAMModel` (or any module returning logits).
        images: ``(N, C, H, W)`` float; labels: ``(N,)`` long class indices.
        epochs, batch_size, lr, weight_decay: the optimisation (the last batch may be smaller).
        schedule: ``"onecycle"`` (default: the learning rate warms up to ``lr`` over the first
            30% of the steps, then anneals to almost 0; ``torch.optim.lr_scheduler.OneCycleLR``)
            or ``"constant"``.
        seed: the shuffling seed.
        progress: show a progress bar.
        desc: the bar's label (default: the model's ``name``).
    """
    from tqdm.auto import tqdm

    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, C, H, W) and labels (N,); found {tuple(images.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1; found {epochs}, {batch_size}")
    device = _device_of(model)
    x_all, y_all = images.to(device), labels.to(device=device, dtype=torch.long)
    n = len(x_all)
    steps = (n + batch_size - 1) // batch_size
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant'; found {schedule!r}")
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
        if schedule == "onecycle"
        else None
    )
    history: list[EpochStats] = []
    label = desc or getattr(model, "name", type(model).__name__)
    bar = tqdm(total=epochs * steps, desc=label, disable=not progress, leave=True)
    model.train()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=g).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x, y = x_all[idx], y_all[idx]
            logits = logits_of(model(x))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
            bar.update(1)
            if i % 20 == 0:
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        history.append(
            EpochStats(epoch + 1, loss_sum.item() / n, correct.item() / n, time.perf_counter() - t0)
        )
    bar.close()
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """Logits ``(N, C)`` of a network in eval mode, batch by batch, on the model's device."""
    model.eval()
    device = _device_of(model)
    out = [
        logits_of(model(images[i : i + batch_size].to(device)))
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


def localization_maps(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec | Literal["top1"],
    method: Literal["cam", "backprop"] = "cam",
    batch_size: int = 250,
) -> tuple[Tensor, Tensor]:
    """Logits and image-sized maps ``(B, n, H, W)`` to draw boxes from, batch by batch.

    - ``"cam"``: ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` from the same forward pass as the logits,
      upsampled bilinearly to the image (``align_corners=False``); raw values, no ReLU, no
      normalisation (the box rule thresholds at a fraction of each map's maximum).
    - ``"backprop"``: gradient saliency ``max_ch |dS_c / dx|``
      (:func:`camutils.saliency.gradient_saliency`), already at image size; works for any
      network, the flatten + FC one included.

    Args:
        model: a :class:`CAMModel` (``"cam"``), or any network returning logits
            (``"backprop"``); it is put in eval mode.
        images: ``(B, C, H, W)`` on any device (moved to the model's, batch by batch).
        classes: as in :func:`camutils.cam.class_activation_maps` (an int, a list, or a
            ``(B, n)`` tensor; a ``(B,)`` tensor means one class per image), or ``"top1"``
            for each image's predicted class.
        method: ``"cam"`` or ``"backprop"``.
        batch_size: images per forward pass.

    Returns:
        ``(logits (B, C), maps (B, n, H, W))`` on the model's device.

    Example:
        >>> net = make_net("gap").eval()
        >>> logits, maps = localization_maps(net, torch.rand(3, 1, 56, 56), torch.tensor([1, 2, 3]))
        >>> logits.shape, maps.shape
        (torch.Size([3, 10]), torch.Size([3, 1, 56, 56]))
    """
    from camutils.saliency import gradient_saliency

    if method not in ("cam", "backprop"):
        raise ValueError(f"method must be 'cam' or 'backprop'; found {method!r}")
    if method == "cam" and not isinstance(model, CAMModel):
        if isinstance(model, FCNet):
            model.cams(torch.empty(0))  # raises with the reason
        raise TypeError(f"CAM needs a CAMModel (pooling + one Linear); found {type(model)}")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W); found {tuple(images.shape)}")
    top1 = isinstance(classes, str)
    if top1 and classes != "top1":
        raise ValueError(f"classes must be class indices or 'top1'; found {classes!r}")
    model.eval()
    device = _device_of(model)
    if isinstance(classes, Tensor) and classes.ndim == 1:  # one class per image
        classes = classes.view(-1, 1)
    per_image = isinstance(classes, Tensor) and classes.ndim == 2
    all_logits, all_maps = [], []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device)
        with torch.no_grad():
            out = model(x)
        logits = logits_of(out)
        if top1:
            cls = logits.argmax(dim=1, keepdim=True)
        else:
            cls = classes[i : i + batch_size].to(device) if per_image else classes
        if method == "cam":
            maps = upsample_cams(model.cams(out.features, cls), tuple(x.shape[-2:]))
        else:
            maps = gradient_saliency(model, x, cls)
        all_logits.append(logits)
        all_maps.append(maps)
    return torch.cat(all_logits), torch.cat(all_maps)


# ----------------------------------------------------------------------------- the experiment
NETWORKS: dict[str, str] = {
    "fc": "flatten + FC",
    "gap": "GAP",
    "gmp": "GMP",
    "surgery": "flatten + FC -> GAP (surgery)",
}
"""The four trained networks of notebook 05: key -> name in the tables."""

METHODS: dict[str, tuple[str, Literal["cam", "backprop"]]] = {
    "CAM on GAP": ("gap", "cam"),
    "CAM on GMP": ("gmp", "cam"),
    "CAM on FC -> GAP (surgery)": ("surgery", "cam"),
    "Backprop on flatten + FC": ("fc", "backprop"),
    "Backprop on GAP": ("gap", "backprop"),
}
"""The five localization methods of notebook 05: name -> (network key, map method)."""


@dataclass(frozen=True)
class Settings:
    """The fixed settings of notebook 05's experiment (chosen once, before any result).

    ``n_train`` training canvases are drawn per seed from the fixed training scans; the
    ``n_test`` test canvases are the same for every seed: all of them score classification
    (Table 1), the first ``n_loc`` of them localization (Table 2, whose threshold sweep costs
    far more per image than a forward pass). Training: Adam, one-cycle up to ``lr``,
    ``epochs`` (``surgery_epochs`` for the fine-tuning of the surgery network, whose new conv
    has ``surgery_width`` units). Boxes: the paper's rule at ``paper_t`` and swept over
    ``thresholds``.
    """

    n_train: int = 4000
    n_test: int = 1000
    n_loc: int = 300
    epochs: int = 5
    surgery_epochs: int = 2
    surgery_width: int = 64
    batch_size: int = 64
    lr: float = 3e-3
    thresholds: tuple[float, ...] = tuple(i / 20 for i in range(20))
    paper_t: float = 0.2


class LocRow(NamedTuple):
    """One method's row of Table 2 in miniature (percent; ``best_t`` a fraction)."""

    top1_loc_error: float  # at the paper's threshold
    gt_known: float  # at the paper's threshold
    best_t: float  # the threshold of the sweep with the highest GT-known accuracy (the first)
    best_top1_loc_error: float  # at best_t
    best_gt_known: float  # at best_t: the maximum of the sweep of the paper's box rule


@dataclass
class SeedRun:
    """Everything one seed of :func:`run_seed` produced.

    Attributes:
        seed: the seed of the training canvases, the initialisation and the batch order.
        nets: ``"fc"``, ``"gap"``, ``"gmp"``, ``"surgery"`` -> trained network (eval mode).
        histories: the same keys -> :func:`train`'s per-epoch history.
        seconds: the same keys -> training time.
        top1: the same keys -> ``(N,)`` predicted class of each test canvas.
        cls_error: the same keys -> top-1 classification error (%) on the test canvases.
        sweeps: method name (:data:`METHODS`) -> ``MaxBoxAccMeter(box_rule="paper").compute()``
            over ``settings.thresholds``, from the true class's maps of the first
            ``settings.n_loc`` test canvases (GT-known accuracy).
        loc_error: method name -> ``(T,)`` float64 top-1 localization error (%) at each
            threshold of the sweep.
        table2: method name -> :class:`LocRow`.
    """

    seed: int
    nets: dict[str, nn.Module] = field(repr=False)
    histories: dict[str, list[EpochStats]] = field(repr=False)
    seconds: dict[str, float]
    top1: dict[str, Tensor] = field(repr=False)
    cls_error: dict[str, float]
    sweeps: dict[str, dict] = field(repr=False)
    loc_error: dict[str, Tensor] = field(repr=False)
    table2: dict[str, LocRow]


def localization_scores(
    maps: Tensor, predicted: Tensor, labels: Tensor, gt_boxes: Tensor, t: float
) -> tuple[float, float]:
    """``(top-1 localization error, GT-known accuracy)`` in % by the paper's box rule at ``t``.

    The reference computation, with the boxes of both maps: :func:`run_seed` obtains the same
    numbers from the sweep of the true class's maps alone.

    Args:
        maps: ``(B, 2, H, W)``: the predicted class's map and the true class's map per image.
        predicted: ``(B,)`` predicted classes; labels: ``(B,)`` true classes.
        gt_boxes: ``(B, 4)`` one inclusive ground-truth box per image.
        t: the threshold, a fraction of each map's maximum
            (:func:`camutils.boxes.largest_component_boxes`).
    """
    from camutils.boxes import largest_component_boxes
    from camutils.metrics import LocalizationMeter

    boxes = largest_component_boxes(maps, t)  # (B, 2, 4)
    gt = gt_boxes.to(boxes.device)[:, None]
    valid = torch.ones(len(gt), 1, dtype=torch.bool, device=boxes.device)
    meter = LocalizationMeter(topk=(1,))
    meter.update(
        predicted.to(boxes.device)[:, None],
        boxes[:, :1],
        labels.to(boxes.device),
        gt,
        valid,
        gt_known_boxes=boxes[:, 1],
    )
    r = meter.compute()
    return r["top1_loc_error"], r["gt_known_loc_acc"]


def run_seed(
    seed: int,
    settings: Settings,
    test_set,
    device: str | torch.device | None = None,
    train_set=None,
    progress: bool = False,
) -> SeedRun:
    """Notebook 05's experiment for one seed: Table 1 and Table 2 in miniature.

    ``seed`` draws the ``settings.n_train`` training canvases (from the fixed training scans),
    the initial weights (the same body for the three heads, :func:`make_net`), the batch order
    and the surgery's new layers (:func:`gap_surgery`, fine-tuned with batch order
    ``seed + 1``). The flatten + FC, GAP and GMP networks are trained, the surgery network is
    made from the trained flatten + FC one and fine-tuned. Every network classifies the
    ``test_set`` canvases (a :class:`~camutils.digits.DigitCanvases`, the same for every seed);
    then every method of :data:`METHODS` maps the true class of the first ``settings.n_loc``
    of them, and the paper's box rule is swept over ``settings.thresholds``
    (``MaxBoxAccMeter(box_rule="paper")``).

    One sweep gives both columns of Table 2: GT-known accuracy is the share of images whose
    true-class box has IoU >= 0.5; a top-1 localization is right when the predicted class is
    the true one AND its box is right, and then the predicted class's map IS the true class's
    map, so its box is the GT-known box (:func:`localization_scores` computes the same from
    both maps; the tests check that they agree).
    """
    from camutils.digits import digit_canvases
    from camutils.metrics import MaxBoxAccMeter

    ts = [float(t) for t in settings.thresholds]
    paper = [i for i, t in enumerate(ts) if t == settings.paper_t]
    if not paper:
        raise ValueError(f"paper_t = {settings.paper_t} must be one of the thresholds {ts}")
    device = torch.device(device) if device is not None else test_set.images.device
    if train_set is None:
        train_set = digit_canvases("train", settings.n_train, seed=seed)
    nets: dict[str, nn.Module] = {}
    histories: dict[str, list[EpochStats]] = {}
    seconds: dict[str, float] = {}

    def fit(key: str, net: nn.Module, epochs: int, order_seed: int) -> None:
        t0 = time.perf_counter()
        nets[key] = net
        histories[key] = train(
            net,
            train_set.images,
            train_set.labels,
            epochs=epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            seed=order_seed,
            progress=progress,
            desc=f"seed {seed}: {NETWORKS[key]}",
        )
        seconds[key] = time.perf_counter() - t0

    for head in ("fc", "gap", "gmp"):
        fit(head, make_net(head, seed=seed).to(device), settings.epochs, seed)
    surgery = gap_surgery(nets["fc"], width=settings.surgery_width, seed=seed)
    fit("surgery", surgery, settings.surgery_epochs, seed + 1)

    labels = test_set.labels.to(device)
    top1 = {k: predict(net, test_set.images).argmax(1) for k, net in nets.items()}
    cls_error = {k: 100 * (p != labels).double().mean().item() for k, p in top1.items()}
    n = min(settings.n_loc, len(labels))  # the canvases whose maps are swept
    gt_boxes = test_set.boxes[:n].to(device)[:, None]  # (n, 1, 4): one box per image
    gt_valid = torch.ones(n, 1, dtype=torch.bool, device=device)
    sweeps, loc_error, table2 = {}, {}, {}
    for name, (key, how) in METHODS.items():
        _, maps = localization_maps(nets[key], test_set.images[:n], labels[:n], method=how)
        meter = MaxBoxAccMeter(thresholds=ts, box_rule="paper")
        ious = meter.update(maps, gt_boxes, gt_valid)  # (n, T): the true class's box
        sweeps[name] = r = meter.compute()
        right = (top1[key][:n] == labels[:n]).to(ious.device)
        hits = ((ious >= 0.5) & right[:, None]).sum(0).double()  # class right and box right
        loc_error[name] = (100.0 - 100.0 * hits / n).cpu()
        acc = r["accuracy"][0]
        i, j = paper[0], ts.index(r["best_threshold"][0])
        table2[name] = LocRow(
            float(loc_error[name][i]),
            float(acc[i]),
            ts[j],
            float(loc_error[name][j]),
            float(acc[j]),
        )
    return SeedRun(seed, nets, histories, seconds, top1, cls_error, sweeps, loc_error, table2)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``n - 1`` in the denominator; 0 for one value).

    Example:
        >>> mean_sd([1.0, 2.0, 3.0])
        (2.0, 1.0)
    """
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_sd of no values")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
