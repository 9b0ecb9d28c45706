"""The three heads, the training loop, network surgery and the maps that boxes are drawn from."""

import pytest
import torch
import torch.nn as nn

from camutils.cam import class_scores_from_cams, upsample_cams
from camutils.digits import digit_canvases
from camutils.models import CAMModel
from camutils.saliency import gradient_saliency
from camutils.wsol import (
    METHODS,
    NETWORKS,
    FCNet,
    Settings,
    gap_surgery,
    localization_maps,
    localization_scores,
    logits_of,
    make_net,
    mean_sd,
    predict,
    run_seed,
    train,
)


@pytest.fixture(scope="module")
def data():
    return digit_canvases("train", n=96, seed=3)


def _x(n=4, seed=0):
    return torch.rand(n, 1, 56, 56, generator=torch.Generator().manual_seed(seed))


def test_same_body_different_heads():
    nets = {h: make_net(h, seed=1) for h in ("fc", "gap", "gmp")}
    bodies = [n.body.state_dict() for n in nets.values()]
    for sd in bodies[1:]:
        assert sd.keys() == bodies[0].keys()
        assert all(torch.equal(sd[k], bodies[0][k]) for k in sd)
    assert isinstance(nets["fc"], FCNet)
    assert isinstance(nets["gap"], CAMModel) and nets["gap"].pool == "avg"
    assert isinstance(nets["gmp"], CAMModel) and nets["gmp"].pool == "max"
    # another seed, another initialisation; the global random state is left alone
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    other = make_net("gap", seed=2)
    assert torch.equal(torch.rand(1), before)
    assert not torch.equal(other.body[0].weight, nets["gap"].body[0].weight)


@pytest.mark.parametrize("head", ["gap", "gmp"])
def test_pooled_features_give_the_forward_logits(head):
    net = make_net(head, seed=0).eval()
    x = _x()
    with torch.no_grad():
        logits, f = net(x)
        pooled = f.mean(dim=(2, 3)) if head == "gap" else f.amax(dim=(2, 3))
        by_hand = pooled @ net.head.weight.T + net.head.bias
    assert f.shape == (4, 32, 14, 14)
    torch.testing.assert_close(net.pooled(f), pooled, rtol=0, atol=0)
    torch.testing.assert_close(logits, by_hand, rtol=1e-5, atol=1e-6)
    if head == "gap":  # the paper's identity: S_c = mean_{x,y} M_c(x, y) + b_c
        torch.testing.assert_close(
            class_scores_from_cams(net.cams(f), net.bias), logits, rtol=1e-5, atol=1e-5
        )
    else:  # for GMP the identity fails: max of a sum is not the sum of the maxima
        assert not torch.allclose(net.cams(f).amax(dim=(2, 3)) + net.bias, logits, atol=1e-3)


def test_flatten_fc_refuses_cam():
    net = make_net("fc", seed=0).eval()
    x = _x(2)
    assert net(x).shape == (2, 10)
    with pytest.raises(TypeError, match="no class activation map.*gap_surgery"):
        net.cams(net.body(x))
    with pytest.raises(TypeError, match="no class activation map"):
        localization_maps(net, x, 0, method="cam")
    with pytest.raises(TypeError, match="one nn.Linear"):
        CAMModel(net.body, net.head)


def test_surgery_output_is_a_cam_model_with_the_trained_body():
    fc = make_net("fc", seed=0).eval()
    net = gap_surgery(fc, width=24, seed=0).eval()
    assert isinstance(net, CAMModel) and net.pool == "avg"
    assert net.head.in_features == 24 and net.head.out_features == 10
    # the trained body is copied, not shared
    torch.testing.assert_close(net.body[0].state_dict(), fc.body.state_dict(), rtol=0, atol=0)
    with torch.no_grad():
        net.body[0][0].weight.add_(1.0)
    assert not torch.equal(net.body[0][0].weight, fc.body[0].weight)
    # forward == the split computation head(GAP(body(x))), and the CAM identity holds
    x = _x(3)
    with torch.no_grad():
        logits, f = net(x)
        f_split = net.body[3](net.body[2](net.body[1](net.body[0](x))))
        split = net.head(f_split.mean(dim=(2, 3)))
    torch.testing.assert_close(f, f_split, rtol=0, atol=0)
    torch.testing.assert_close(logits, split, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        class_scores_from_cams(net.cams(f), net.bias), logits, rtol=1e-5, atol=1e-5
    )
    with pytest.raises(TypeError, match="FCNet"):
        gap_surgery(make_net("gap"))


def test_training_is_seeded_and_learns(data):
    runs = []
    for _ in range(2):
        net = make_net("gap", seed=0)
        hist = train(net, data.images, data.labels, epochs=3, batch_size=32, seed=5, progress=False)
        runs.append((net, hist))
    (a, ha), (b, hb) = runs
    assert [h.loss for h in ha] == [h.loss for h in hb]
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not a.training  # left in eval mode
    assert len(ha) == 3 and [h.epoch for h in ha] == [1, 2, 3]
    assert ha[-1].loss < ha[0].loss  # it learns (96 images, 3 epochs)
    c = make_net("gap", seed=0)
    train(c, data.images, data.labels, epochs=1, batch_size=32, seed=6, progress=False)
    a1 = make_net("gap", seed=0)
    train(a1, data.images, data.labels, epochs=1, batch_size=32, seed=5, progress=False)
    assert not torch.equal(c.head.weight, a1.head.weight)  # the shuffling seed matters
    with pytest.raises(ValueError, match="labels"):
        train(c, data.images, data.labels[:5], progress=False)


def test_predict_matches_forward_in_eval_mode(data):
    for head in ("fc", "gmp"):
        net = make_net(head, seed=0).eval()
        with torch.no_grad():
            expected = logits_of(net(data.images))
        torch.testing.assert_close(predict(net, data.images, batch_size=40), expected)


def test_localization_maps_cam_and_backprop():
    net = make_net("gap", seed=0).eval()
    fc = make_net("fc", seed=0).eval()
    x = _x(5)
    classes = torch.tensor([0, 3, 3, 9, 1])
    logits, maps = localization_maps(net, x, classes, batch_size=2)
    with torch.no_grad():
        ref_logits, f = net(x)
        ref = upsample_cams(net.cams(f, classes[:, None]), (56, 56))
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(maps, ref)
    # "top1" picks each image's predicted class
    _, top = localization_maps(net, x, "top1")
    pred = ref_logits.argmax(1, keepdim=True)
    torch.testing.assert_close(top, upsample_cams(net.cams(f, pred), (56, 56)))
    # backprop works on the flatten + FC net and equals gradient saliency
    logits, sal = localization_maps(fc, x, classes, method="backprop", batch_size=3)
    torch.testing.assert_close(sal, gradient_saliency(fc, x, classes[:, None]))
    torch.testing.assert_close(logits, fc(x).detach())
    with pytest.raises(ValueError, match="method"):
        localization_maps(net, x, 0, method="lrp")


def test_bad_head_is_refused():
    with pytest.raises(ValueError, match="head"):
        make_net("avg")
    assert isinstance(make_net("fc").head[-1], nn.Linear)


_TINY = Settings(
    n_train=128,
    n_test=48,
    n_loc=32,
    epochs=1,
    surgery_epochs=1,
    surgery_width=8,
    batch_size=32,
    thresholds=(0.0, 0.1, 0.2, 0.4, 0.6),
)


@pytest.fixture(scope="module")
def tiny_runs():
    test_set = digit_canvases("test", n=_TINY.n_test, seed=0)
    runs = [run_seed(s, _TINY, test_set) for s in (0, 0, 1)]
    given = digit_canvases("train", n=_TINY.n_train, seed=1)  # the set that seed 1 draws
    runs.append(run_seed(1, _TINY, test_set, train_set=given))
    return test_set, runs


def test_run_seed_is_seeded(tiny_runs):
    _, (a, b, c, d) = tiny_runs
    assert set(a.nets) == set(NETWORKS) and set(a.table2) == set(METHODS)
    assert a.cls_error == b.cls_error and a.table2 == b.table2
    for k in a.nets:
        sa, sb = a.nets[k].state_dict(), b.nets[k].state_dict()
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    # another seed: other initial weights, another batch order, other training canvases
    assert not torch.equal(a.nets["gap"].head.weight, c.nets["gap"].head.weight)
    assert [len(h) for h in a.histories.values()] == [1, 1, 1, 1]
    assert d.cls_error == c.cls_error and d.table2 == c.table2  # training canvases passed in


def test_run_seed_table2_is_the_paper_rule_on_both_maps(tiny_runs):
    # the one-sweep shortcut of run_seed gives what the box rule gives on the predicted and the
    # true class's maps, at the paper's threshold and at the best one, on the first n_loc
    # test canvases; classification is scored on all of them
    test_set, runs = tiny_runs
    run = runs[2]
    ts = list(_TINY.thresholds)
    n = _TINY.n_loc
    images, labels, boxes = test_set.images[:n], test_set.labels[:n], test_set.boxes[:n]
    for name, (key, how) in METHODS.items():
        pred = run.top1[key][:n]
        classes = torch.stack([pred, labels], dim=1)
        _, maps = localization_maps(run.nets[key], images, classes, method=how)
        row = run.table2[name]
        assert run.sweeps[name]["images"] == n
        assert row.best_t == run.sweeps[name]["best_threshold"][0]
        assert row.best_gt_known == run.sweeps[name]["max_box_acc"]
        for t, err, acc in [
            (_TINY.paper_t, row.top1_loc_error, row.gt_known),
            (row.best_t, row.best_top1_loc_error, row.best_gt_known),
        ]:
            ref = localization_scores(maps, pred, labels, boxes, t)
            assert ref == pytest.approx((err, acc), abs=1e-9), (name, t)
        sweep = run.sweeps[name]["accuracy"][0]
        for i, t in enumerate(ts):
            ref = localization_scores(maps, pred, labels, boxes, t)
            assert ref == pytest.approx((float(run.loc_error[name][i]), float(sweep[i])), abs=1e-9)
    errors = {k: 100 * (run.top1[k] != test_set.labels).double().mean().item() for k in NETWORKS}
    assert errors == run.cls_error and len(run.top1["gap"]) == _TINY.n_test


def test_run_seed_needs_the_paper_threshold_in_the_sweep(tiny_runs):
    test_set, _ = tiny_runs
    with pytest.raises(ValueError, match="paper_t"):
        run_seed(0, Settings(n_train=8, thresholds=(0.1, 0.3)), test_set)


def test_mean_sd():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([4.0]) == (4.0, 0.0)
    m, sd = mean_sd(torch.tensor([0.0, 10.0]))
    assert m == 5.0 and sd == pytest.approx(50**0.5)
    with pytest.raises(ValueError):
        mean_sd([])
