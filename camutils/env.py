"""Where the course runs: device choice, seeding, Colab detection."""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


def default_device() -> torch.device:
    """The best device present: CUDA, then Apple MPS, then the CPU.

    Example:
        >>> default_device().type in {"cuda", "mps", "cpu"}
        True
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) so reruns print the same."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def setup(seed: int = 0, device: str | torch.device | None = None) -> torch.device:
    """One call at the top of every notebook: seed everything and return the device to use.

    ``device`` overrides the automatic choice (``default_device``); the environment variable
    ``CAMUTILS_DEVICE`` (for example ``cpu``) does the same without editing a notebook.

    It also turns TF32 off for cuDNN's convolutions (torch's default is on; matrix products are
    already full float32): on Ampere and newer GPUs TF32 keeps 10 bits of each factor, so maps
    and probabilities would differ from the CPU's in the third digit. The course's float32 then
    means float32 on every device; the ILSVRC pipeline chooses its own precision.

    Example:
        >>> setup(seed=0).type in {"cuda", "mps", "cpu"}
        True
        >>> torch.backends.cudnn.allow_tf32
        False
    """
    seed_everything(seed)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    chosen = device or os.environ.get("CAMUTILS_DEVICE")
    return torch.device(chosen) if chosen else default_device()
