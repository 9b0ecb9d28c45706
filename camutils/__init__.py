"""camutils: Class Activation Mapping (Zhou et al., CVPR 2016), batched and on the input's device.

Notation follows the course (and the paper):

- ``f_k(x, y)``: activation of channel ``k`` of the last conv layer at ``(x, y)``;
- ``F_k``: its global average pool;
- ``S_c = sum_k w_k^c F_k + b_c``: the class score (softmax input), ``P_c`` its softmax;
- ``M_c(x, y) = sum_k w_k^c f_k(x, y)``: the class activation map, so that
  ``S_c = mean_{x,y} M_c(x, y) + b_c`` for a GAP head.

Importing the package is cheap: no model or data is loaded until a function asks for it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from camutils.cam import (
    class_activation_maps,
    class_scores_from_cams,
    normalize_cams,
    upsample_cams,
)
from camutils.env import default_device, in_colab, seed_everything, setup
from camutils.explain import explain

try:  # the installed package's version, from its metadata (pyproject.toml)
    __version__ = _version("camutils")
except _NotInstalled:  # a checkout on sys.path, not installed
    __version__ = "0+unknown"

__all__ = [
    "class_activation_maps",
    "class_scores_from_cams",
    "default_device",
    "explain",
    "in_colab",
    "normalize_cams",
    "seed_everything",
    "setup",
    "upsample_cams",
]
