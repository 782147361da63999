"""Epoch-shuffled, resumable stream of frame-index batches.

The stream is a pure function of (num_frames, batch_size, seed): global position q (counting frames drawn
since the start) is frame `perm_e[q % N]` of epoch e = q // N, where perm_e is a permutation seeded by
(seed, e). Batches are consecutive runs of `batch_size` positions, so batch `step` can be computed directly
and the iterator's whole state is the step counter. Resuming a checkpoint, or resuming with a different
number of processes, therefore continues the identical global stream.
"""

from __future__ import annotations

import numpy as np

from spritejax.errors import UserError


def epoch_permutation(num_frames: int, seed: int, epoch: int) -> np.ndarray:
    """The frame order of one epoch: int64[num_frames], a fixed function of (seed, epoch)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
    return rng.permutation(num_frames).astype(np.int64)


def global_indices(step: int, num_frames: int, batch_size: int, seed: int) -> np.ndarray:
    """Frame indices of the whole global batch number `step`: int64[batch_size] (may span two epochs)."""
    positions_b = step * batch_size + np.arange(batch_size, dtype=np.int64)
    epochs_b = positions_b // num_frames
    out_b = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs_b):
        sel = epochs_b == epoch
        out_b[sel] = epoch_permutation(num_frames, seed, int(epoch))[positions_b[sel] % num_frames]
    return out_b


class BatchIterator:
    """Infinite stream of batches; `next()` gives this process's share of the next global batch.

    The global batch holds `batch_size` frame indices; process p of P receives the contiguous slice
    [p*batch_size/P, (p+1)*batch_size/P). Checkpoint `get_state()` (a JSON-able dict) and restore it
    with `set_state()` to get the identical continuation.
    """

    def __init__(self, num_frames: int, batch_size: int, seed: int, process_index: int = 0,
                 process_count: int = 1):
        if num_frames < 1:
            raise UserError(f"cannot iterate over {num_frames} frames: the dataset is empty")
        if batch_size < 1:
            raise UserError(f"batch_size must be positive, got {batch_size}")
        if process_count < 1 or not 0 <= process_index < process_count:
            raise UserError(f"process_index {process_index} is not in [0, {process_count})")
        if batch_size % process_count:
            raise UserError(f"batch_size {batch_size} is not divisible by the {process_count} processes")
        self.num_frames = int(num_frames)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.process_index = int(process_index)
        self.process_count = int(process_count)
        self.step = 0

    @property
    def local_batch_size(self) -> int:
        return self.batch_size // self.process_count

    def global_indices(self, step: int | None = None) -> np.ndarray:
        """Whole global batch for `step` (default: the batch the next `next()` call returns)."""
        step = self.step if step is None else step
        return global_indices(step, self.num_frames, self.batch_size, self.seed)

    def local_slice(self, global_b: np.ndarray) -> np.ndarray:
        """This process's share of a global batch."""
        start = self.process_index * self.local_batch_size
        return global_b[start:start + self.local_batch_size]

    def next_global(self) -> np.ndarray:
        """Advance one step and return the whole global batch, int64[batch_size]."""
        out_b = self.global_indices()
        self.step += 1
        return out_b

    def next(self) -> np.ndarray:
        """Advance one step and return this process's indices, int64[batch_size // process_count]."""
        return self.local_slice(self.next_global())

    __next__ = next

    def __iter__(self):
        return self

    @property
    def epoch(self) -> float:
        """Fractional number of passes over the data consumed so far."""
        return self.step * self.batch_size / self.num_frames

    def get_state(self) -> dict:
        return {"step": self.step, "num_frames": self.num_frames, "batch_size": self.batch_size,
                "seed": self.seed}

    def set_state(self, state: dict) -> None:
        """Restore a position saved by `get_state`; the stream must be the same (frames, batch, seed)."""
        for key in ("num_frames", "batch_size", "seed"):
            if key in state and int(state[key]) != getattr(self, key):
                raise UserError(f"checkpointed data iterator has {key}={state[key]} but this run has "
                                f"{getattr(self, key)}; resume with the same data and batch settings")
        step = int(state["step"])
        if step < 0:
            raise UserError(f"checkpointed data iterator step {step} is negative")
        self.step = step
