"""The Dataset record every loader returns, and the deterministic train/test split."""

from __future__ import annotations

import dataclasses

import numpy as np

from spritejax.errors import UserError


@dataclasses.dataclass
class Dataset:
    """Frames plus optional ground truth.

    frames_nhw3: float32 in [0, 1].
    instance_ids_nhw / class_ids_nhw: int32 or None; 0 = background, visible (post-occlusion) object / class.
    class_names: class_names[c] names class id c; class_names[0] == 'background' when ground truth exists.
    train_idx / test_idx: int64 frame indices (disjoint; test may be empty when holdout == 0).
    meta: loader-specific extras (e.g. the synthetic game's ground-truth sprites), JSON-unsafe arrays allowed.
    """

    frames_nhw3: np.ndarray
    instance_ids_nhw: np.ndarray | None = None
    class_ids_nhw: np.ndarray | None = None
    class_names: list[str] = dataclasses.field(default_factory=list)
    train_idx: np.ndarray | None = None
    test_idx: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.frames_nhw3)
        if self.train_idx is None:
            self.train_idx = np.arange(n, dtype=np.int64)
        if self.test_idx is None:
            self.test_idx = np.zeros(0, dtype=np.int64)

    @property
    def num_frames(self) -> int:
        return len(self.frames_nhw3)

    @property
    def has_ground_truth(self) -> bool:
        return self.class_ids_nhw is not None

    def with_split(self, holdout: float, seed: int) -> "Dataset":
        train_idx, test_idx = holdout_split(self.num_frames, holdout, seed)
        return dataclasses.replace(self, train_idx=train_idx, test_idx=test_idx)


def holdout_split(num_frames: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint (train_idx, test_idx), both sorted; round(holdout*n) test frames, at least one train frame.

    Seeded separately from the batch stream (offset key) so changing the split never changes batch order.
    """
    if not 0.0 <= holdout < 1.0:
        raise UserError(f"data.holdout must be in [0, 1), got {holdout}")
    num_test = min(int(round(holdout * num_frames)), num_frames - 1)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5EED])))
    perm = rng.permutation(num_frames)
    return np.sort(perm[num_test:]).astype(np.int64), np.sort(perm[:num_test]).astype(np.int64)
