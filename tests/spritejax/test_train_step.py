"""Two claims of docs/training.md about the compiled train step, checked on the step itself (tiny model, one
device): changing λBeta, the seed or hard_mix never recompiles it, and a non-finite step leaves the state as it was."""

import jax
import numpy as np
import pytest

from spritejax import config, train, train_state
from spritejax.data import load_dataset
from spritejax.model import SpriteModel


@pytest.fixture(scope="module")
def setup():
    cfg = config.load("tiny", ["data.num_frames=8", "data.holdout=0.0"])
    dataset = load_dataset(cfg.data, cfg.canvas)
    model = SpriteModel.from_config(cfg)
    mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:1])
    replicated = jax.NamedSharding(mesh, jax.P())
    initial = jax.device_get(train_state.jit_init(model, train_state.optim_args(cfg), replicated)(
        np.int32(0), train_state.kmeans_frames(dataset, 0)))
    return cfg, dataset, model, mesh, initial


def _step(setup, frames, seed, lambda_beta, hard_mix):
    cfg, _, model, mesh, initial = setup
    state = jax.device_put(initial, jax.NamedSharding(mesh, jax.P()))  # fresh buffers: the step donates them
    ids = np.arange(len(frames))
    out, metrics = train.make_train_step(model, cfg, mesh)(state, *train.global_batch(mesh, frames, ids, len(ids)),
                                                           np.int32(seed), np.float32(lambda_beta),
                                                           np.float32(hard_mix))
    return jax.device_get(out), jax.device_get(metrics)


def test_changing_lambda_beta_seed_or_hard_mix_never_recompiles(setup):
    cfg, dataset, model, mesh, _ = setup
    other = config.load("tiny", ["train.seed=7", "loss.lambda_beta=0.5", "loss.lambda_beta_finetune=0.3"])
    assert train.make_train_step(model, other, mesh) is train.make_train_step(model, cfg, mesh)
    step = train.make_train_step(model, cfg, mesh)
    for seed, lambda_beta, hard_mix in ((0, 0.002, 0.0), (7, 0.1, 1.0), (123, 0.5, 0.0)):
        _, metrics = _step(setup, dataset.frames_nhw3[:4], seed, lambda_beta, hard_mix)
        assert bool(metrics["finite"]) and float(metrics["lambda_beta"]) == pytest.approx(lambda_beta)
    assert step._cache_size() == 1


def test_a_non_finite_step_leaves_the_state_unchanged(setup):
    _, dataset, _, _, initial = setup
    frames = dataset.frames_nhw3[:4].copy()
    frames[1, 3, 5] = np.nan
    state, metrics = _step(setup, frames, 0, 0.002, 0.0)
    assert not bool(metrics["finite"]) and not np.isfinite(float(metrics["loss"]))
    same = jax.tree.map(lambda a, b: np.array_equal(a, b), state, initial)
    assert all(jax.tree.leaves(same)) and int(state["step"]) == int(initial["step"])
