"""The notebooks' checked outputs under a second set of torch's CPU kernels.

nbval compares the cells marked ``# NBVAL_CHECK_OUTPUT`` with what they printed when they were
committed. A value that depends on the last bits of the arithmetic (the digits of a training
run, a near tie between two classes, a box edge at a threshold) prints the same on the machine
that wrote it and fails on other CPUs, GPUs and torch builds. This test runs every notebook
again with torch's vectorised kernels one level lower than this CPU's (AVX-512 -> AVX2 -> no
vectorisation, oneDNN limited to match), which changes the order of floating-point sums, so the
CI of any machine catches such a value. Passing here is necessary, not sufficient: checked
cells print exact arithmetic or conclusions with a margin, never a run's digits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")

# torch.backends.cpu.get_cpu_capability() -> (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA) one level
# lower; oneDNN's ISA names are x86's, so an ARM CPU lowers ATen's kernels alone.
_LOWER = {
    "AVX512": ("avx2", "AVX2"),
    "AVX2": ("default", "SSE41"),
    "SVE256": ("default", None),
    "SVE": ("default", None),
}


def second_kernel_set() -> dict[str, str] | None:
    """The environment that selects torch's kernels one level below this CPU's, or ``None``
    where this CPU already runs the plain (non-vectorised) ones."""
    lower = _LOWER.get(torch.backends.cpu.get_cpu_capability().upper())
    if lower is None:
        return None
    aten, onednn = lower
    env = {"ATEN_CPU_CAPABILITY": aten}
    if onednn:
        env["ONEDNN_MAX_CPU_ISA"] = onednn
    return env


@pytest.fixture(scope="module")
def kernel_env() -> dict[str, str]:
    extra = second_kernel_set()
    if extra is None:
        pytest.skip(
            f"this CPU runs torch's {torch.backends.cpu.get_cpu_capability()} kernels, the "
            "lowest set: there is no second one to compare with"
        )
    env = {**os.environ, **extra}
    env.pop("MPLBACKEND", None)  # the kernels keep matplotlib's inline backend
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    got = probe.stdout.strip().upper()
    assert got == extra["ATEN_CPU_CAPABILITY"].upper(), (
        f"ATEN_CPU_CAPABILITY={extra['ATEN_CPU_CAPABILITY']} did not take effect: torch runs {got}"
    )
    return env


@pytest.mark.portability
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_checked_outputs_hold_under_other_kernels(notebook: Path, kernel_env: dict[str, str]):
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--nbval-lax",
        "--nbval-current-env",
        str(notebook),
    ]
    run = subprocess.run(cmd, cwd=ROOT, env=kernel_env, capture_output=True, text=True, timeout=600)
    kernels = " ".join(f"{k}={kernel_env[k]}" for k in KERNEL_VARIABLES if k in kernel_env)
    assert run.returncode == 0, (
        f"{notebook.name}: a checked output differs under {kernels} (it depends on the CPU's "
        f"arithmetic):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    )
