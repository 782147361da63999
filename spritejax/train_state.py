"""The training state: AdamW as the paper trains, and the {'step', 'params', 'opt_state'} pytree that the
training loop updates and a checkpoint stores. Its own module so that loading a checkpoint needs no training
loop."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .errors import UserError

# fold_in data for the init key: a value no step counter reaches, so init and step keys never collide.
_INIT_STREAM = 0xFFFFFFFF


def make_optimizer(model, lr: float, bg_lr: float, weight_decay: float,
                   schedule: tuple = ("constant",)) -> optax.GradientTransformation:
    """AdamW with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0.01); by model.param_labels:
    the learned background at bg_lr, a fixed (k-means) colour not updated at all.

    schedule: ("constant",) (the paper), or ("cosine", warmup_steps, num_steps, end_fraction): linear warm-up
    from 0, then cosine decay to end_fraction·lr at num_steps; both rates follow the same shape."""

    def adamw(rate):
        if schedule[0] == "cosine":
            _, warmup, total, end = schedule
            rate = optax.warmup_cosine_decay_schedule(0.0, rate, max(int(warmup), 1), max(int(total), 2),
                                                      rate * float(end))
        return optax.adamw(rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=weight_decay)

    transforms = {"default": adamw(lr), "background": adamw(bg_lr), "frozen": optax.set_to_zero()}
    return optax.multi_transform(transforms, model.param_labels)


SCHEDULES = ("constant", "cosine")


def optim_args(cfg) -> tuple:
    oc = cfg.optim
    if oc.schedule not in SCHEDULES:
        raise UserError(f"optim.schedule must be one of {', '.join(SCHEDULES)} (got {oc.schedule!r})")
    schedule = (("constant",) if oc.schedule == "constant" else
                ("cosine", int(oc.warmup_steps), int(cfg.train.num_steps), float(oc.lr_end_fraction)))
    return float(oc.lr), float(oc.bg_lr), float(oc.weight_decay), schedule


def kmeans_frames(dataset, seed: int, count: int = 100) -> np.ndarray:
    """Exactly `count` training frames (random; all of them, tiled, when fewer) for model.init's k-means
    background colour. A fixed count keeps one compiled init for every dataset size."""
    train_idx = dataset.train_idx
    if len(train_idx) >= count:
        pick = np.sort(np.random.default_rng(seed).choice(train_idx, size=count, replace=False))
    else:
        pick = np.resize(train_idx, count)
    return dataset.frames_nhw3[pick]


def init_state(model, cfg, init_frames_bhw3) -> dict:
    """TrainState {'step', 'params', 'opt_state'} (a plain dict: orbax saves it as a pytree)."""
    return _init_state(model, optim_args(cfg), cfg.train.seed, init_frames_bhw3)


def _init_state(model, optim_args: tuple, seed, init_frames_bhw3) -> dict:
    key = jax.random.fold_in(jax.random.key(seed), jnp.uint32(_INIT_STREAM))
    params = model.init(key, init_frames_bhw3)
    return {"step": jnp.zeros((), jnp.int32), "params": params,
            "opt_state": make_optimizer(model, *optim_args).init(params)}


@functools.lru_cache(maxsize=8)
def jit_init(model, optim_args: tuple, sharding):
    """jit (seed, frames) -> TrainState placed with `sharding`; one compilation per model in the process."""
    return jax.jit(functools.partial(_init_state, model, optim_args), out_shardings=sharding)


def abstract_state(model, cfg, sharding, init_frames_bhw3) -> dict:
    """Shapes/dtypes/shardings of the TrainState without computing it (the restore target)."""
    shapes = jax.eval_shape(lambda f: init_state(model, cfg, f), init_frames_bhw3)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


