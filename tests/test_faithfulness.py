"""Faithfulness metrics and the randomization sanity check: slow loops, SciPy, exact cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy import stats

from camutils.explain import cam, gradcam
from camutils.faithfulness import (
    average_drop,
    cascading_randomization,
    confidence_change,
    curve_area,
    deletion_insertion,
    increase_in_confidence,
    pixel_order,
    rank,
    spearman,
)
from camutils.models import CAMModel


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Linear(nn.Module):
    """``S_c = sum_{ch,i,j} W[c, ch, i, j] x[ch, i, j]``: each pixel adds its own contribution."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,kchw->bk", x, self.weight)


def small_model(seed: int = 0) -> CAMModel:
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3), nn.ReLU())
    return CAMModel(body, nn.Linear(8, 4)).eval()


def test_pixel_order_is_a_stable_descending_rank():
    maps = torch.rand(2, 3, 5, 5, generator=gen(0))
    ranks = pixel_order(maps, (5, 5))
    for b in range(2):
        for j in range(3):
            order = np.argsort(-maps[b, j].flatten().numpy(), kind="stable")
            expected = np.empty(25, dtype=np.int64)
            expected[order] = np.arange(25)
            np.testing.assert_array_equal(ranks[b, j].numpy(), expected)
    assert pixel_order(torch.zeros(1, 1, 2, 3), (2, 3)).tolist() == [[[0, 1, 2, 3, 4, 5]]]


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_curves_against_a_slow_loop(mode):
    net = Linear(torch.randn(3, 3, 6, 6, generator=gen(1))).eval()
    x = torch.randn(2, 3, 6, 6, generator=gen(2))
    maps = torch.rand(2, 2, 6, 6, generator=gen(3))
    base = torch.randn(2, 3, 6, 6, generator=gen(4))
    classes = torch.tensor([[0, 2], [1, 1]])
    got = deletion_insertion(net, x, maps, classes, mode, steps=5, baseline=base, batch_size=7)
    ref = torch.zeros(2, 2, 6)
    for b in range(2):
        for j in range(2):
            order = np.argsort(-maps[b, j].flatten().numpy(), kind="stable")
            for t in range(6):
                chosen = torch.zeros(36, dtype=torch.bool)
                chosen[order[: round(t * 36 / 5)]] = True
                chosen = chosen.view(1, 6, 6)
                img = torch.where(chosen, base[b], x[b]) if mode == "deletion" else None
                if mode == "insertion":
                    img = torch.where(chosen, x[b], base[b])
                ref[b, j, t] = net(img[None]).softmax(-1)[0, classes[b, j]]
    assert torch.allclose(got, ref, atol=1e-6)
    start, end = (x, base) if mode == "deletion" else (base, x)
    p_start = net(start).softmax(-1).gather(1, classes)
    assert torch.allclose(got[..., 0], p_start, atol=1e-6)
    assert torch.allclose(got[..., -1], net(end).softmax(-1).gather(1, classes), atol=1e-6)


def test_the_contribution_map_has_the_lowest_deletion_area():
    """Deleting a linear model's pixels by their contribution is the fastest way down."""
    w = torch.randn(1, 3, 8, 8, generator=gen(5))
    net = Linear(w).eval()
    x = torch.randn(1, 3, 8, 8, generator=gen(6))
    contribution = (w[0] * x[0]).sum(0)[None, None]  # what each pixel adds to S_c
    maps = torch.cat([contribution, torch.rand(1, 20, 8, 8, generator=gen(7))], dim=1)
    curves = deletion_insertion(net, x, maps, [0] * 21, steps=64, score="logit")
    area = curve_area(curves)[0]
    assert bool((area[0] < area[1:]).all())
    ins = curve_area(deletion_insertion(net, x, maps, [0] * 21, "insertion", 64, 0.0, "logit"))
    assert bool((ins[0, 0] > ins[0, 1:]).all())


def test_default_baselines_blur_and_zero():
    from torchvision.transforms.v2.functional import gaussian_blur

    net = Linear(torch.randn(2, 3, 12, 12, generator=gen(8))).eval()
    x = torch.randn(2, 3, 12, 12, generator=gen(9))
    maps = torch.rand(2, 1, 3, 3, generator=gen(10))
    d = deletion_insertion(net, x, maps, torch.tensor([0, 1]), steps=3)
    assert torch.allclose(d[:, 0, -1], torch.full((2,), 0.5))  # zero input: equal logits
    i = deletion_insertion(net, x, maps, torch.tensor([0, 1]), "insertion", steps=3)
    blur = gaussian_blur(x, kernel_size=[11, 11], sigma=[5.0, 5.0])
    assert torch.allclose(
        i[:, 0, 0], net(blur).softmax(-1).gather(1, torch.tensor([[0], [1]]))[:, 0]
    )


def test_curve_area_is_the_trapezoid_rule():
    c = torch.rand(4, 3, 9, generator=gen(11))
    ref = np.trapezoid(c.numpy(), dx=1 / 8, axis=-1)
    np.testing.assert_allclose(curve_area(c).numpy(), ref, rtol=1e-6)


def test_confidence_change_against_a_slow_loop_and_the_summaries():
    m = small_model()
    x = torch.randn(3, 3, 8, 8, generator=gen(12))
    maps = torch.randn(3, 2, 6, 6, generator=gen(13))
    y, o = confidence_change(m, x, maps, [1, 3], batch_size=4)
    for b in range(3):
        for j, c in enumerate((1, 3)):
            up = nn.functional.interpolate(
                maps[b : b + 1, j : j + 1].clamp_min(0), (8, 8), mode="bilinear"
            )
            e = (up - up.min()) / (up.max() - up.min())
            with torch.no_grad():
                assert torch.isclose(
                    o[b, j], m(x[b : b + 1] * e).logits.softmax(-1)[0, c], atol=1e-6
                )
                assert torch.isclose(y[b, j], m(x[b : b + 1]).logits.softmax(-1)[0, c], atol=1e-6)
    yy, oo = torch.tensor([0.5, 0.4, 0.2, 0.8]), torch.tensor([0.25, 0.5, 0.1, 0.8])
    assert torch.isclose(average_drop(yy, oo), torch.tensor(100 * (0.5 + 0 + 0.5 + 0) / 4))
    assert increase_in_confidence(yy, oo) == 25.0


def test_rank_and_spearman_agree_with_scipy_with_ties():
    a = torch.randint(0, 4, (3, 5, 6), generator=gen(14)).float()  # many ties
    b = torch.randint(0, 3, (3, 5, 6), generator=gen(15)).float()
    r = rank(a.flatten(-2))
    for i in range(3):
        np.testing.assert_allclose(r[i].numpy(), stats.rankdata(a[i].flatten().numpy()))
        expected = stats.spearmanr(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic
        assert abs(float(spearman(a[i], b[i])) - expected) < 1e-12
    assert spearman(torch.ones(4, 4), torch.rand(4, 4)) == 0


def test_cascading_randomization_changes_cam_but_not_an_input_edge_map():
    m = small_model(seed=1)
    x = torch.randn(4, 3, 10, 10, generator=gen(16))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    state = torch.random.get_rng_state()

    def edges(model: nn.Module, images: torch.Tensor, classes) -> torch.Tensor:
        return images.diff(dim=-1).abs().sum(1, keepdim=True)  # ignores the model

    explainers = {"cam": cam, "gradcam": gradcam, "edges": edges}
    r = cascading_randomization(m, x, [2], explainers, [m.head, m.body[2], m.body[0]], seed=3)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    assert torch.equal(torch.random.get_rng_state(), state)
    assert r["cam"].shape == (3, 4, 1)
    assert torch.allclose(r["edges"], torch.ones(3, 4, 1, dtype=torch.float64))
    assert float(r["cam"].abs().mean()) < 0.7  # a CAM follows the parameters it explains
    again = cascading_randomization(m, x, [2], {"cam": cam}, [m.head, m.body[2], m.body[0]], seed=3)
    assert torch.equal(again["cam"], r["cam"])


def test_errors_say_what_was_expected():
    m = small_model()
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"maps must be \(B, n, h, w\) with B = 2"):
        deletion_insertion(m, x, torch.rand(3, 1, 6, 6), [0])
    with pytest.raises(ValueError, match="mode must be"):
        deletion_insertion(m, x, torch.rand(2, 1, 6, 6), [0], mode="both")
    with pytest.raises(ValueError, match="2 maps per image but 1 classes"):
        confidence_change(m, x, torch.rand(2, 2, 6, 6), [0])
    with pytest.raises(ValueError, match="not submodules"):
        cascading_randomization(m, x, [0], {"cam": cam}, [nn.Linear(2, 2)])
