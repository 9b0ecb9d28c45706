"""The release's ten-crop heat maps: crop geometry, pasting back, and a per-view reference loop."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from camutils.models import CAMModel, load_model
from camutils.release import crop_offsets, merge_ten_crops, ten_crop_cams, ten_crops
from camutils.samples import load_sample

# prepare_image.m for IMAGE_DIM 256, CROPPED_DIM 224 (1-based indices [1 33], centre 17): on the
# W x H image, crop n = im_data(i:i+223, j:j+223) for i (x) outer, j (y) inner, so in (y, x):
RELEASE_OFFSETS = [(0, 0), (32, 0), (0, 32), (32, 32), (16, 16)]


def test_offsets_are_the_releases():
    assert crop_offsets() == RELEASE_OFFSETS
    assert crop_offsets(224, 224) == [(0, 0)] * 5
    with pytest.raises(ValueError, match="crop must lie"):
        crop_offsets(200, 224)


def test_each_view_is_cut_where_its_offset_says():
    s, c = 256, 224
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    coords = torch.stack([yy, xx]).float()[None]  # (1, 2, S, S): each pixel holds its (y, x)
    views = ten_crops(coords, c)[0]
    assert views.shape == (10, 2, c, c)
    for i, (y, x) in enumerate(RELEASE_OFFSETS):
        assert views[i, :, 0, 0].tolist() == [y, x]  # top-left pixel of the crop
        assert views[i, :, -1, -1].tolist() == [y + c - 1, x + c - 1]
        # the mirror: same rows, columns right to left
        assert views[5 + i, :, 0, 0].tolist() == [y, x + c - 1]
        assert views[5 + i, :, 0, -1].tolist() == [y, x]


def _coverage(s: int, c: int) -> torch.Tensor:
    cover = torch.zeros(s, s)
    for y, x in crop_offsets(s, c):
        for yy in range(y, y + c):
            for xx in range(x, x + c):
                cover[yy, xx] += 2  # the crop and its mirror
    return cover


@pytest.mark.parametrize("s, c", [(256, 224), (9, 5), (10, 7)])
def test_merging_the_crops_of_one_map_gives_it_back_times_coverage(s, c):
    g = torch.Generator().manual_seed(0)
    whole = torch.randn(2, 3, s, s, generator=g)  # signed: the merge sums absolute values
    per_view = ten_crops(whole, c)  # (B, 10, n, c, c): every view sees its part of `whole`
    merged = merge_ten_crops(per_view, s)
    assert torch.allclose(merged, whole.abs() * _coverage(s, c), atol=1e-5)


def _reference(model: CAMModel, image: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One view at a time, as the MATLAB scripts read: forward, mean softmax, then per class and
    view: CAM, bicubic upsample, un-mirror, paste with abs."""
    c = 224
    probs, cams = [], []
    for mirror in (False, True):
        for y, x in RELEASE_OFFSETS:
            v = image[:, y : y + c, x : x + c]
            v = v.flip(-1) if mirror else v
            logits, f = model(v[None])
            probs.append(logits.softmax(-1)[0])
            cams.append((mirror, y, x, f[0]))
    p = torch.stack(probs).mean(0)
    top = p.topk(k).indices
    out = torch.zeros(k, 256, 256)
    for j, cls in enumerate(top.tolist()):
        for mirror, y, x, f in cams:
            m = torch.einsum("k,khw->hw", model.weight[cls], f)
            m = F.interpolate(m[None, None], size=(c, c), mode="bicubic", align_corners=False)[0, 0]
            m = m.flip(-1) if mirror else m
            out[j, y : y + c, x : x + c] += m.abs()
    return p, out


def test_ten_crop_cams_match_a_per_view_loop():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 6, 8, stride=8), nn.ReLU(), nn.Conv2d(6, 5, 4, stride=4))
    model = CAMModel(body, nn.Linear(5, 7)).eval()
    images = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        got = ten_crop_cams(model, images, k=3)
        for i in range(2):
            p, cams = _reference(model, images[i], 3)
            assert torch.allclose(got.probs[i], p, atol=1e-6)
            assert got.classes[i].tolist() == p.topk(3).indices.tolist()
            assert torch.allclose(got.cams[i], cams, atol=1e-4)


def test_classes_can_be_given():
    torch.manual_seed(0)
    model = CAMModel(nn.Conv2d(3, 4, 32, stride=32), nn.Linear(4, 6)).eval()
    x = torch.randn(2, 3, 256, 256)
    top = ten_crop_cams(model, x, k=6)
    asked = ten_crop_cams(model, x, classes=top.classes[:, [4, 1]])
    assert torch.equal(asked.classes, top.classes[:, [4, 1]])
    assert torch.allclose(asked.cams, top.cams[:, [4, 1]])


def test_bad_input_says_what_was_expected():
    model = CAMModel(nn.Conv2d(3, 4, 32, stride=32), nn.Linear(4, 6)).eval()
    with pytest.raises(ValueError, match="squares"):
        ten_crop_cams(model, torch.zeros(1, 3, 256, 300))
    with pytest.raises(ValueError, match="larger than the images"):
        ten_crop_cams(model, torch.zeros(1, 3, 200, 200))
    with pytest.raises(ValueError, match="k must lie"):
        ten_crop_cams(model, torch.zeros(1, 3, 256, 256), k=7)
    with pytest.raises(ValueError, match=r"classes must be \(1, n\)"):
        ten_crop_cams(model, torch.zeros(1, 3, 256, 256), classes=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="one set per view"):
        merge_ten_crops(torch.zeros(1, 5, 1, 3, 3), 4)


def test_offline_network_ten_crops_agree_with_one_view_on_a_clear_photo():
    model = load_model("efficientnet_lite0", device="cpu")
    photo = load_sample("coffee")
    x256 = replace(model.preprocess, size=256)(photo)  # squashed to 256 x 256
    out = ten_crop_cams(model, x256[None], k=5)
    assert model.class_names[int(out.classes[0, 0])] == "espresso"
    assert float(out.probs.sum()) == pytest.approx(1.0, abs=1e-5)
    cam = out.cams[0, 0]
    assert bool((cam >= 0).all()) and cam.shape == (256, 256)
    # the cup sits in the middle of the photo: the merged map peaks in its central half
    y, x = divmod(int(cam.argmax()), 256)
    assert 64 <= y < 192 and 64 <= x < 192
