"""Many processes, GPUs or machines: one evaluation sharded by image index with torchrun.

``torchrun --nproc-per-node N -m camutils evaluate ...`` starts ``N`` processes (``--nnodes``
for several machines); each reads the environment torchrun sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) in :func:`init_distributed` and evaluates its :class:`Shard`: the images whose
position ``i`` in the run's list has ``i % WORLD_SIZE == RANK``. No padding sampler: every image
is evaluated exactly once. Each rank writes its own results shard, ``OUT/shard-R-of-N/``
(its ``results.jsonl``, ``run.json`` and lock), so an interrupted run resumes shard by shard
with the same command. At the end the ranks add up what they counted
(:func:`combine_tallies`): the meters' integer counts with ``all_reduce`` (MaxBoxAcc's curve
is summed before its maximum is taken, :meth:`camutils.metrics.MaxBoxAccMeter.all_reduce`),
the skipped images and the notes gathered; so the totals are exactly those of one process,
and rank 0 alone prints them.

The backend is NCCL on CUDA (each process on GPU ``LOCAL_RANK``) and gloo on the CPU.

Example:
    >>> shard = Shard(rank=1, world_size=3)
    >>> shard.take(list("abcdefg")), shard.out_dir(Path("runs/x"))
    (['b', 'e'], PosixPath('runs/x/shard-1-of-3'))
    >>> sorted(sum((Shard(r, 3).take(list("abcdefg")) for r in range(3)), []))
    ['a', 'b', 'c', 'd', 'e', 'f', 'g']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from camutils.results import RunTally

__all__ = [
    "Shard",
    "combine_tallies",
    "finish_distributed",
    "init_distributed",
    "is_main_process",
    "rank_device",
    "reduce_over_ranks",
    "shard_dirs",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """The part of a run one process does: rank ``rank`` of ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"rank must lie in [0, world_size); found rank {self.rank} of {self.world_size}"
            )

    def take(self, items: Sequence[T]) -> list[T]:
        """The items at positions ``i`` with ``i % world_size == rank``, in order."""
        return list(items[self.rank :: self.world_size])

    def out_dir(self, out: Path) -> Path:
        """Where this shard's results go: ``out`` itself for a single process."""
        if self.world_size == 1:
            return out
        return out / f"shard-{self.rank}-of-{self.world_size}"


def shard_dirs(out: Path, world_size: int) -> list[Path]:
    """The results folders of every shard of a run into ``out``, by rank.

    Example:
        >>> [p.name for p in shard_dirs(Path("runs/x"), 2)]
        ['shard-0-of-2', 'shard-1-of-2']
    """
    return [Shard(r, world_size).out_dir(out) for r in range(world_size)]


def init_distributed(device: torch.device | str | None = None) -> Shard:
    """This process's shard: from an initialised ``torch.distributed`` group, else from the
    environment torchrun sets (the group is then initialised here: NCCL for a CUDA ``device``,
    gloo otherwise), else the whole run (``Shard(0, 1)``, nothing initialised)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world} but this torch has no torch.distributed")
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(rank_device(torch.device(device)))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Shard(dist.get_rank(), dist.get_world_size())


def finish_distributed() -> None:
    """Leave the ``torch.distributed`` group, if one was initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def rank_device(device: torch.device) -> torch.device:
    """A CUDA device without an index becomes this process's GPU (``LOCAL_RANK``); any other
    device is returned as is.

    Example:
        >>> rank_device(torch.device("cpu"))
        device(type='cpu')
    """
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def combine_tallies(tally: RunTally, device: torch.device) -> RunTally:
    """Add up the tallies of every process of the group into each process's ``tally``: the
    meters' counts (``all_reduce``), the counts, skipped images, notes and lines written
    (gathered). A single process's tally is returned unchanged."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tally
    dev = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tally.meter_all.all_reduce(dev)
    if tally.meter_clean is not None:
        tally.meter_clean.all_reduce(dev)
    mine = (tally.counts, tally.problems, tally.notes, tally.processed, tally.size_mismatch)
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    counts: dict[str, int] = {}
    for c, *_ in gathered:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    tally.counts = counts
    tally.problems = sorted(p for g in gathered for p in g[1])
    tally.notes = list(dict.fromkeys(n for g in gathered for n in g[2]))
    tally.processed = sum(g[3] for g in gathered)
    tally.size_mismatch = sum(g[4] for g in gathered)
    tally.n_blacklisted = int(reduce_over_ranks(tally.n_blacklisted, dev))
    return tally


def reduce_over_ranks(value: float, device: torch.device, op: str = "sum") -> float:
    """The sum (``op="sum"``) or maximum (``"max"``) of a number over the processes of the
    group; the number itself without one. Integers stay exact (int64).

    Example:
        >>> reduce_over_ranks(3, torch.device("cpu"))
        3
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    dev = device if dist.get_backend() == "nccl" else torch.device("cpu")
    dtype = torch.long if isinstance(value, int) else torch.float64
    t = torch.tensor(value, dtype=dtype, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return t.item()
