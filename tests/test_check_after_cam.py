"""The checks of notebook 07's exercises: the right answer passes, each wrong one gets its hint."""

from __future__ import annotations

import pytest

from camutils import check


@pytest.mark.parametrize(
    "answer, ok, hint",
    [
        (1 / 49, True, "L_c = M_c / 49"),
        (0.020408, True, "the same map"),
        (49, False, "divides by the number of cells"),
        (1 / 224**2, False, "feature grid"),
        (1, False, "MEAN of f_k"),
        (0.5, False, "then average it"),
        ("1/49", False, "one number"),
    ],
)
def test_gradcam_scale(capsys, answer, ok, hint):
    assert check.gradcam_scale(answer) is ok
    assert hint in capsys.readouterr().out


def test_gradcam_scale_other_grid_and_unanswered(capsys):
    assert check.gradcam_scale(1 / 196, grid=(14, 14))
    assert not check.gradcam_scale(1 / 49, grid=(14, 14))
    assert not check.gradcam_scale(None)
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, ok, hint",
    [
        (10248, True, "8 x 1280 = 10240"),
        (10240, False, "where do the masks"),
        (1281, False, "its own masks"),
        (1280, False, "its own masks"),
        (2 * 8 * 1281, False, "no backward pass"),
        (12, False, "one per image and per channel"),
        (10248.5, False, "one whole number"),
    ],
)
def test_scorecam_passes(capsys, answer, ok, hint):
    assert check.scorecam_passes(answer) is ok
    assert hint in capsys.readouterr().out
