"""spritejax.data: batch iterator, split, synthetic game ground truth, image/video loaders."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spritejax.data import BatchIterator, holdout_split, load_dataset
from spritejax.errors import UserError


# ---------------------------------------------------------------- iterator

@settings(max_examples=40, deadline=None)
@given(num_frames=st.integers(1, 40), batch_size=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_iterator_epochs_cover_every_frame_once(num_frames, batch_size, seed):
    it = BatchIterator(num_frames, batch_size, seed)
    steps = num_frames * 2  # 2 * batch_size epochs worth of positions: a multiple of num_frames
    stream = np.concatenate([it.next() for _ in range(steps)])
    epochs = stream.reshape(-1, num_frames)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(num_frames))


@settings(max_examples=40, deadline=None)
@given(num_frames=st.integers(1, 30), batch_size=st.integers(1, 10), seed=st.integers(0, 1000),
       stop=st.integers(0, 25))
def test_iterator_state_round_trip_continues_identically(num_frames, batch_size, seed, stop):
    it = BatchIterator(num_frames, batch_size, seed)
    for _ in range(stop):
        it.next()
    state = json.loads(json.dumps(it.get_state()))
    expected = [it.next() for _ in range(5)]
    resumed = BatchIterator(num_frames, batch_size, seed)
    resumed.set_state(state)
    for want in expected:
        np.testing.assert_array_equal(resumed.next(), want)


@settings(max_examples=30, deadline=None)
@given(num_frames=st.integers(1, 30), per_process=st.integers(1, 4), process_count=st.sampled_from([1, 2, 4]),
       seed=st.integers(0, 1000), step=st.integers(0, 20))
def test_process_slices_partition_the_global_batch(num_frames, per_process, process_count, seed, step):
    batch_size = per_process * process_count
    its = [BatchIterator(num_frames, batch_size, seed, p, process_count) for p in range(process_count)]
    for it in its:
        it.set_state({"step": step})
    want = its[0].global_indices()
    got = np.concatenate([it.next() for it in its])
    np.testing.assert_array_equal(got, want)
    single = BatchIterator(num_frames, batch_size, seed)
    single.set_state({"step": step})
    np.testing.assert_array_equal(single.next(), want)


def test_iterator_rejects_bad_settings():
    with pytest.raises(UserError, match="divisible"):
        BatchIterator(10, 6, 0, process_index=0, process_count=4)
    with pytest.raises(UserError, match="empty"):
        BatchIterator(0, 2, 0)
    it = BatchIterator(10, 2, 0)
    with pytest.raises(UserError, match="batch_size=4"):
        it.set_state({"step": 3, "num_frames": 10, "batch_size": 4, "seed": 0})


def test_seeds_give_different_orders():
    a = np.concatenate([BatchIterator(50, 10, 1).next() for _ in range(1)])
    b = np.concatenate([BatchIterator(50, 10, 2).next() for _ in range(1)])
    assert not np.array_equal(a, b)


def test_holdout_split_is_deterministic_and_disjoint():
    train, test = holdout_split(100, 0.2, 7)
    assert len(test) == 20 and len(train) == 80
    assert not set(train) & set(test)
    np.testing.assert_array_equal(holdout_split(100, 0.2, 7)[1], test)
    assert not np.array_equal(holdout_split(100, 0.2, 8)[1], test)
    assert len(holdout_split(5, 0.0, 0)[1]) == 0
    with pytest.raises(UserError, match="holdout"):
        holdout_split(10, 1.0, 0)


def test_load_dataset_rejects_unknown_source_and_missing_path():
    with pytest.raises(UserError, match="data.source"):
        load_dataset({"source": "webcam"}, (16, 16))
    with pytest.raises(UserError, match="data.path"):
        load_dataset({"source": "folder", "path": None}, (16, 16))
