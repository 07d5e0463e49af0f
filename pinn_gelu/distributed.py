"""Data-parallel training on ``torch.distributed``: the single-process run, split over ranks.

A run on W processes (``torchrun --nproc-per-node=W -m pinn_gelu solve FILE``, or
``pinn-gelu solve FILE --nproc W``) computes exactly what one process computes, to rounding:

- every rank draws the same global point set from the seed (:mod:`pinn_gelu.collocation`) and
  keeps its own contiguous shard of each point set and of each boundary part
  (:func:`pinn_gelu.collocation.shard_collocation`);
- each term is normalised by its **global** count n_t, so the per-rank sums add up to
  L = Σ_t w_t (1/n_t) Σ_k r_t,k² (:class:`pinn_gelu.loss.Loss`);
- after the backward pass one flat buffer, the gradients and the loss terms, is summed over the
  ranks (one ``all_reduce``), so every rank holds the global loss and gradient and takes the
  identical optimiser step: L-BFGS's line search and stop rules see the same numbers on every
  rank; Gauss–Newton sums JᵀJ and Jᵀr over the ranks (parameter space) or gathers the rows of J
  (sample space) (:mod:`pinn_gelu.optimisers.gauss_newton`);
- decisions that depend on one rank's state (a stop signal) are agreed by a collective
  (:meth:`Group.any`), so all ranks stop at the same step.

An explicit all-reduce is used rather than ``DistributedDataParallel``: DDP hooks the network's
``forward`` and its single backward pass, whereas a PINN's residuals take derivatives of the
network through forward mode (which bypasses ``forward``) or a double backward (which DDP does not
support). The communication per step is one buffer of P + T numbers (parameters and terms); the
compute per rank is proportional to the points of its shard.

Rank 0 alone writes the run directory, checkpoints and progress, and computes the validation
errors. Backend: NCCL with one CUDA device per local rank, gloo on CPU; every collective has a
timeout (:data:`COLLECTIVE_TIMEOUT`), so a rank that dies ends the job instead of hanging it.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from pinn_gelu.errors import TrainingError, one_line

__all__ = [
    "COLLECTIVE_TIMEOUT",
    "SINGLE",
    "Group",
    "LostRank",
    "from_environment",
    "share",
]

#: Longest wait of one collective: a rank that stops answering ends the job after this.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Group:
    """The processes of one run: this process's rank among ``size``.

    With ``size`` 1 every collective is the identity, so the single-process run takes the same
    code path with no communication.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.size > 1

    def all_reduce(self, tensor: Tensor) -> Tensor:
        """Σ over the ranks, in place; the same bits on every rank."""
        if self.active:
            _collective(self, torch.distributed.all_reduce, tensor)
        return tensor

    def sum(self, value: float) -> float:
        """Σ over the ranks of a number (float64)."""
        if not self.active:
            return value
        buffer = torch.tensor([value], dtype=torch.float64, device=self.device)
        return float(self.all_reduce(buffer)[0])

    def maximum(self, value: float) -> float:
        """The largest of the ranks' numbers (a collective: every rank must call it)."""
        if not self.active:
            return value
        buffer = torch.tensor([value], dtype=torch.float64, device=self.device)
        _collective(self, torch.distributed.all_reduce, buffer, op=torch.distributed.ReduceOp.MAX)
        return float(buffer[0])

    def any(self, flag: bool) -> bool:
        """Whether the flag is set on any rank (a collective: every rank must call it)."""
        return self.sum(1.0 if flag else 0.0) > 0 if self.active else flag

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.active:
            _collective(self, torch.distributed.barrier)

    def gather_rows(self, tensor: Tensor) -> Tensor:
        """The rows of ``tensor`` of every rank, in rank order (row counts may differ)."""
        if not self.active:
            return tensor
        count = torch.tensor([tensor.shape[0]], device=tensor.device)
        counts = [torch.zeros_like(count) for _ in range(self.size)]
        _collective(self, torch.distributed.all_gather, counts, count)
        sizes = [int(c) for c in counts]
        padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        pieces = [torch.zeros_like(padded) for _ in range(self.size)]
        _collective(self, torch.distributed.all_gather, pieces, padded)
        return torch.cat([p[:n] for p, n in zip(pieces, sizes, strict=True)])

    def close(self) -> None:
        """Leave the group after a run that ended alike on every rank: a barrier, then destroy.

        The barrier keeps one rank from tearing down its connections while another still
        uses them (gloo then aborts the slower process).
        """
        if self.active and torch.distributed.is_initialized():
            _collective(self, torch.distributed.barrier)
            torch.distributed.destroy_process_group()

    @property
    def device(self) -> torch.device:
        """Where collectives on numbers run: the local CUDA device for NCCL, else the CPU."""
        if self.active and torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def shard(self, count: int) -> tuple[int, int]:
        """Rows [start, stop) of ``count`` that this rank keeps: contiguous, sizes differ ≤ 1."""
        return share(count, self.size, self.rank)


def share(count: int, parts: int, index: int) -> tuple[int, int]:
    """Rows [start, stop) of ``count`` in share ``index`` of ``parts``.

    Contiguous, sizes differ by at most 1: a rank's shard, a chunk of the points.

    >>> [share(7, 3, j) for j in range(3)]
    [(0, 3), (3, 5), (5, 7)]
    """
    base, extra = divmod(count, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


class LostRank(TrainingError):
    """A collective failed: another rank has ended (crashed, killed) or stopped answering."""


def _collective(group: Group, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a collective; its failure (a peer gone, the timeout) becomes one line naming the rank."""
    try:
        operation(*args, **kwargs)
    except RuntimeError as err:  # gloo/NCCL report a lost peer or a timeout as RuntimeError
        raise LostRank(
            f"rank {group.rank} of {group.size}: a collective failed, another rank has ended or "
            f"stopped answering (its own message says why): {one_line(err)}"
        ) from None


#: The group of a run in one process.
SINGLE = Group()


def from_environment(device: str = "cpu", init_method: str | None = None) -> Group:
    """The group this process belongs to, from torchrun's variables; joins it if not yet joined.

    Outside torchrun (no ``WORLD_SIZE``, or 1) it is :data:`SINGLE`. Inside, the process group
    is initialised with NCCL for ``device: cuda`` (this rank's device ``cuda:LOCAL_RANK``) and
    gloo for ``cpu``, with :data:`COLLECTIVE_TIMEOUT`.

    Args:
        device: ``training.device`` of the problem.
        init_method: where the ranks meet (default ``env://``, torchrun's rendezvous); tests
            pass a ``file://`` path.
    """
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return SINGLE
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not torch.distributed.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(
            backend,
            init_method=init_method or "env://",
            rank=rank,
            world_size=size,
            timeout=COLLECTIVE_TIMEOUT,
        )
    return Group(rank=rank, size=size, local_rank=local_rank)
