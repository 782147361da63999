"""Running a trained model on many frames: the one place for per-frame keys, the evaluation split, the compiled
forward pass (soft or hard) and what a run of it returns. `evaluate`, `viz`, `export`, `demo` and the training
loop (its keys and samples) call it; `edit` takes the keys it makes. It draws nothing and reads no workdir.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from . import metrics

# The `stream` of evaluation keys: every evaluation of a frame draws the same z-order, whatever the step.
EVAL_STREAM = 0x0E7A1

NOTHING_LEARNED = ("the model explains every frame by the background alone; train longer, or use the "
                   "fast-learning options of docs/model.md 'Learning fast' (as the demo config does: "
                   "--set model.dictionary_init=foreground --set model.translation=correlation "
                   "--set loss.lambda_match=0.1)")


def frame_keys(seed: int, stream, frame_ids_b):
    """keys_b[i] = fold_in(fold_in(key(seed), stream), frame_ids_b[i]): one PRNG key per frame, fixed by its
    dataset index (and the training step, or EVAL_STREAM), so it is independent of batching, devices and hosts."""
    base = jax.random.fold_in(jax.random.key(seed), stream)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jax.numpy.asarray(frame_ids_b, jax.numpy.uint32))


@functools.lru_cache(maxsize=16)
def forward(model, mode: str, fields: tuple[str, ...]):
    """jit (params, frames_bhw3, keys_b) -> {field: ModelOutput.field}, compiled once per (model, mode, fields)
    in the process."""

    def run(params, frames_bhw3, keys_b):
        out = model.apply(params, frames_bhw3, keys_b, mode=mode)
        return {f: getattr(out, f) for f in fields}

    return jax.jit(run)


def predict(model, params, frames_nhw3: np.ndarray, indices: np.ndarray, mode: str, fields: tuple[str, ...],
            batch_size: int = 16, seed: int = 0, post=None) -> dict[str, np.ndarray]:
    """Selected ModelOutput fields over many frames, in fixed-size jitted batches (the last one padded).

    Only `fields` leave the device (placed_blhwkk4 of a whole dataset would not fit in memory), and
    `post(batch_dict) -> dict` may shrink each batch further on the host (e.g. visibility -> id maps).
    `sprites_mkk4` (not per frame) comes back once.
    """
    step = forward(model, mode, tuple(fields))
    chunks: dict[str, list] = {}
    result: dict[str, np.ndarray] = {}
    for start in range(0, len(indices), batch_size):
        idx = np.asarray(indices[start : start + batch_size])
        real = len(idx)
        idx = np.concatenate([idx, np.repeat(idx[-1:], batch_size - real)])
        out = jax.device_get(step(params, frames_nhw3[idx], frame_keys(seed, EVAL_STREAM, idx)))
        if "sprites_mkk4" in fields:
            result["sprites_mkk4"] = np.asarray(out.pop("sprites_mkk4"))
        batch = {f: np.asarray(v)[:real] for f, v in out.items()}
        for f, v in (post(batch) if post else batch).items():
            chunks.setdefault(f, []).append(v)
    result.update({f: np.concatenate(c) for f, c in chunks.items()})
    return result


def eval_indices(dataset) -> tuple[np.ndarray, str]:
    """The held-out frames, or the training frames (named as such in the report) when none are held out."""
    if len(dataset.test_idx):
        return np.asarray(dataset.test_idx), "test"
    return np.asarray(dataset.train_idx), "train"


def hard_outputs(model, params, dataset, indices, batch_size: int = 16, seed: int = 0,
                 transform_input: str | None = None, keep_layers: int = 0) -> dict[str, np.ndarray]:
    """Hard-mode recon, background, sprite ids, switches and per-pixel sprite id maps (-1 = background);
    with keep_layers > 0 also the per-layer canvases `layers_blhw4` of the first keep_layers frames (for
    pictures — all of them would be large).

    transform_input overrides cfg.model.transform_input_at_test ('soft' | 'hard')."""
    if transform_input is not None:
        model = dataclasses.replace(model, transform_input_at_test=transform_input)
    kept = [0]

    def shrink(batch):
        vis = batch.pop("visibility_blhwkk")
        batch["sprite_id_maps_bhw"] = metrics.sprite_id_maps_from_output(vis, batch["sprite_ids_blhw"], model.geom)
        if keep_layers:
            batch["layers_blhw4"] = batch["layers_blhw4"][: max(keep_layers - kept[0], 0)]
            kept[0] += len(batch["layers_blhw4"])
        return batch

    fields = ("recon_bhw3", "background_bhw3", "sprite_ids_blhw", "switches_blhw", "visibility_blhwkk")
    fields += ("layers_blhw4",) * bool(keep_layers)
    return predict(model, params, dataset.frames_nhw3, indices, "hard", fields, batch_size, seed, post=shrink)


def used_sprites(sprite_ids_blhw: np.ndarray, switches_blhw: np.ndarray, num_sprites: int,
                 threshold: float = 0.5) -> np.ndarray:
    """Per-sprite use count (m,) over a set of frames: how often it is the selected sprite of an anchor
    whose switch is on. The paper shows only the used sprites of its 150."""
    ids = np.asarray(sprite_ids_blhw).reshape(-1)
    on = np.asarray(switches_blhw).reshape(-1) > threshold
    return np.bincount(ids[on], minlength=num_sprites)[:num_sprites]


