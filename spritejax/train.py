"""Training: one jit-compiled, data-parallel step over a device Mesh, and the resumable loop around it.

`spritejax train --config NAME|PATH --workdir DIR [--set key=value ...] [--steps N] [--distributed]`

Data parallelism is one `jax.jit` step whose parameters and optimiser state are replicated
(`NamedSharding(mesh, P())`) while the batch is split over the mesh axis "data" (`P("data")`); XLA inserts
the gradient all-reduce. Every frame's PRNG key is fold_in(fold_in(key(seed), step), frame_index), so a run
gives the same parameters on 1 device or 8, and on any number of hosts. The loop checkpoints (params,
optimiser, data-iterator position) with orbax, so a killed run resumes to the same parameters as an
uninterrupted one. Workdir layout: config.json, checkpoints/, metrics.jsonl, tensorboard/, samples/*.png.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import signal
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from . import config
from .checkpoint import Checkpoints, load_config
from .errors import UserError
from .inference import forward, frame_keys
from .train_state import abstract_state, jit_init, kmeans_frames, make_optimizer, optim_args
from .warmstart import warm_start

# ----------------------------------------------------------------------------------------------- setup


def lambda_beta_at(step: int, loss_cfg, num_steps: int) -> float:
    """λBeta for the update from `step` to step+1: lambda_beta, then lambda_beta_finetune for the last
    finetune_steps. Computed on the host and passed to the step as a traced scalar (no recompilation)."""
    finetune = step >= num_steps - loss_cfg.finetune_steps
    return float(loss_cfg.lambda_beta_finetune if finetune else loss_cfg.lambda_beta)


def hard_mix_at(step: int, loss_cfg, num_steps: int) -> float:
    """1 (straight-through: the hard decomposition composited, soft gradients) for the last
    loss.straight_through_steps, else 0 (eq. 2's soft sprites); a traced scalar like λBeta."""
    return float(step >= num_steps - int(loss_cfg.straight_through_steps))


def data_mesh(batch_size: int) -> jax.sharding.Mesh:
    """A 1-D ("data",) mesh. One process: the most devices that divide the batch. Several: all of them."""
    devices = jax.devices()
    if jax.process_count() > 1:
        if batch_size % len(devices):
            raise UserError(f"train.batch_size {batch_size} must be a multiple of the {len(devices)} devices")
        count = len(devices)
    else:
        count = max(d for d in range(1, len(devices) + 1) if batch_size % d == 0)
    # Auto axes: the model is written for one device and XLA's partitioner shards it (explicit axes would
    # demand sharding annotations on every reshape).
    return jax.make_mesh((count,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:count])


def make_train_step(model, cfg, mesh):
    """jit step(state, frames_bhw3, frame_ids_b, seed, lambda_beta, hard_mix) -> (state, metrics).

    The state is donated and replicated, the batch split over "data"; seed, λBeta and hard_mix (see
    hard_mix_at) are traced scalars. One
    compiled step per (model, optimiser, λsparse, mesh), shared by every run in the process. A step whose loss
    or gradients are not finite leaves the state untouched (metrics['finite'] False): the state in memory is
    always the last good one.
    """
    return _train_step(model, *optim_args(cfg), float(cfg.loss.lambda_sparse), float(cfg.loss.lambda_match),
                       float(cfg.loss.lambda_alpha), mesh)


@functools.lru_cache(maxsize=8)
def _train_step(model, lr, bg_lr, weight_decay, schedule, lambda_sparse, lambda_match, lambda_alpha, mesh):
    from .losses import decomposition_stats, loss_fn, match_loss

    optimizer = make_optimizer(model, lr, bg_lr, weight_decay, schedule)

    def step_fn(state, frames_bhw3, frame_ids_b, seed, lambda_beta, hard_mix):
        keys_b = frame_keys(seed, state["step"], frame_ids_b)

        def objective(params):
            out = model.apply(params, frames_bhw3, keys_b, mode="soft", hard_mix=hard_mix)
            loss, metrics = loss_fn(out, frames_bhw3, lambda_beta, lambda_sparse)
            if lambda_match:
                metrics["match"] = match_loss(out, frames_bhw3, model.geom, int(model.offset_bound))
                loss = loss + lambda_match * metrics["match"]
            if lambda_alpha:
                metrics["alpha"] = jnp.mean(out.sprites_mkk4[..., 3])
                loss = loss + lambda_alpha * metrics["alpha"]
            return loss, {**metrics, **decomposition_stats(out)}

        (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        stepped = {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
                   "opt_state": opt_state}
        new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), stepped, state)
        metrics = {**metrics, "loss": loss, "grad_norm": grad_norm, "lambda_beta": lambda_beta, "finite": finite,
                   **{f"grad_norm_{name}": optax.tree.norm(sub) for name, sub in grads.items()}}
        return new_state, metrics

    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    return jax.jit(step_fn, in_shardings=(replicated, split, split, replicated, replicated, replicated),
                   out_shardings=(replicated, replicated), donate_argnums=0)


def to_host(tree):
    """Replicated (possibly multi-host, not fully addressable) arrays → numpy, from this process's copy."""
    return jax.tree.map(lambda a: np.asarray(a.addressable_shards[0].data), tree)


def global_batch(mesh, local_frames_bhw3: np.ndarray, local_ids_b: np.ndarray, global_batch_size: int):
    """This process's rows → global arrays split over "data" (rows of process p are p's contiguous share)."""
    split = NamedSharding(mesh, P("data"))
    frames = jax.make_array_from_process_local_data(
        split, local_frames_bhw3, (global_batch_size, *local_frames_bhw3.shape[1:]))
    ids = jax.make_array_from_process_local_data(split, local_ids_b.astype(np.int32), (global_batch_size,))
    return frames, ids


# ------------------------------------------------------------------------------------------ logging


class MetricsLog:
    """metrics.jsonl (appended, so a resumed run continues it) + TensorBoard events; process 0 only.

    A run resumed from `start_step` first drops what a killed run logged past that step (rows of steps the
    checkpoint does not hold, a half-written last line; TensorBoard's purge_step), so steps stay increasing."""

    def __init__(self, workdir: pathlib.Path, enabled: bool, start_step: int = 0):
        self.enabled, self.workdir, self.tb = enabled, workdir, None
        if enabled:
            _drop_rows_after(workdir / "metrics.jsonl", start_step)
            self.jsonl = open(workdir / "metrics.jsonl", "a")
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # an accelerator image without it: metrics.jsonl still holds every figure
                print("spritejax train: note: tensorboardX is not installed, so no TensorBoard events are written "
                      "(metrics.jsonl has every figure)", file=sys.stderr, flush=True)
            else:
                self.tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=start_step + 1)

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
        self.jsonl.flush()
        for name, value in metrics.items() if self.tb else ():
            self.tb.add_scalar(f"train/{name}", value, step)

    def config_change(self, step: int, changes: dict) -> None:
        """A marker row {"step", "config_change": {field: [old, new]}} (metrics.jsonl) and the same row in
        config_history.jsonl: what a resume changed, from which step."""
        row = json.dumps({"step": step, "config_change": changes}) + "\n"
        self.jsonl.write(row)
        self.jsonl.flush()
        with open(self.workdir / "config_history.jsonl", "a") as f:
            f.write(row)

    def image(self, step: int, name: str, image_hw3: np.ndarray) -> None:
        if self.tb:
            self.tb.add_image(name, image_hw3, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
        if self.tb:
            self.tb.close()


def _drop_rows_after(path: pathlib.Path, step: int) -> None:
    """Rewrite metrics.jsonl without rows past `step` or lines that do not parse (atomically; untouched if clean)."""
    if not path.is_file():
        return
    text = path.read_text()
    keep = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            keep.append(line)
    kept = "".join(line + "\n" for line in keep)
    if kept != text:
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(kept)
        os.replace(partial, path)


def sample_grid(frames_bhw3, recon_rows) -> np.ndarray:
    """uint8 image: row 0 the inputs, then one row per reconstruction, 2-px white gutters."""
    rows = [np.asarray(frames_bhw3)] + [np.asarray(r) for r in recon_rows]
    b, h, w, _ = rows[0].shape
    gap = 2
    grid = np.ones((len(rows) * (h + gap) - gap, b * (w + gap) - gap, 3), np.float32)
    for r, row in enumerate(rows):
        for i in range(b):
            grid[r * (h + gap):r * (h + gap) + h, i * (w + gap):i * (w + gap) + w] = row[i]
    return (np.clip(grid, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class _StopRequest:
    """SIGTERM / SIGINT → finish the current step, checkpoint, stop (a second signal acts as usual)."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# --------------------------------------------------------------------------------------------- loop


def train(cfg, workdir, progress: bool = True, stop_at: int | None = None, dataset=None) -> dict:
    """Train (or resume) into `workdir` up to cfg.train.num_steps, or stop after global step `stop_at`.

    Returns the last logged metrics plus 'step' and 'interrupted' (a SIGTERM/SIGINT stopped the run after
    checkpointing). Raises UserError on a non-finite loss or gradient; checkpoints before that step stay.
    """
    from tqdm import tqdm

    from .data import BatchIterator, capped_note, load_dataset
    from .model import SpriteModel

    workdir = pathlib.Path(workdir)
    _check_steps(cfg.train, stop_at)
    _prepare_workdir(workdir)
    cfg = config.resolved(cfg)  # own copy, derived defaults written out: what config.json records
    if cfg.data.path:  # recorded absolute, so eval / render / a resume from another folder find the data
        cfg.data.path = os.path.abspath(cfg.data.path)
    changes = resume_changes(workdir, cfg)
    if dataset is None:
        dataset = load_dataset(cfg.data, cfg.canvas)
    model = SpriteModel.from_config(cfg)
    tc = cfg.train
    lead = jax.process_index() == 0
    if lead and capped_note(dataset):
        print(f"spritejax train: {capped_note(dataset)}", file=sys.stderr, flush=True)
    if lead and tc.batch_size > len(dataset.train_idx):
        print(f"spritejax train: warning: train.batch_size {tc.batch_size} is larger than the "
              f"{len(dataset.train_idx)} training frames, so every batch repeats frames; lower train.batch_size "
              f"or give more data", file=sys.stderr, flush=True)
    if lead and cfg.loss.finetune_steps >= tc.num_steps and cfg.loss.lambda_beta_finetune != cfg.loss.lambda_beta:
        print(f"spritejax train: warning: loss.finetune_steps {cfg.loss.finetune_steps} is not below "
              f"train.num_steps {tc.num_steps}, so every step uses the fine-tune λBeta "
              f"{cfg.loss.lambda_beta_finetune}; set loss.finetune_steps lower", file=sys.stderr, flush=True)
    mesh = data_mesh(tc.batch_size)
    replicated = NamedSharding(mesh, P())
    init_frames = kmeans_frames(dataset, tc.seed)
    iterator = BatchIterator(len(dataset.train_idx), tc.batch_size, tc.seed, jax.process_index(),
                             jax.process_count())
    ckpts = Checkpoints(workdir, keep=tc.keep_checkpoints)
    last_saved = ckpts.latest_step()
    if last_saved is None:
        state = jit_init(model, optim_args(cfg), replicated)(np.int32(tc.seed), init_frames)
        if cfg.model.dictionary_init == "foreground":
            params = warm_start(model, to_host(state["params"]), init_frames, tc.seed)
            state = {**state, "params": jax.device_put(params, replicated)}
        elif cfg.model.dictionary_init != "random":
            raise UserError(f"model.dictionary_init must be 'random' or 'foreground' "
                            f"(got {cfg.model.dictionary_init!r})")
    else:
        state, data_state = ckpts.restore(last_saved, abstract_state(model, cfg, replicated, init_frames))
        iterator.set_state(data_state)
    if lead:
        (workdir / "config.json").write_text(config.to_json(cfg))
    step_fn = make_train_step(model, cfg, mesh)
    start = int(to_host(state["step"]))
    end = tc.num_steps if stop_at is None else min(int(stop_at), tc.num_steps)
    log = MetricsLog(workdir, enabled=lead, start_step=start)
    if changes and lead:
        log.config_change(start, changes)
    sampler = _Sampler(model, cfg, dataset, workdir, log, enabled=tc.sample_every > 0)
    # A terminal gets a live bar; a log file (nohup, batch jobs) one line per 30 s instead of ten per second.
    interval = {"mininterval": 0.1} if sys.stderr.isatty() else {"mininterval": 30.0, "maxinterval": 30.0}

    def new_bar(initial, compiling=False):
        return tqdm(total=tc.num_steps, initial=initial, disable=not (progress and lead), unit="step",
                    dynamic_ncols=True, leave=not compiling, **interval,
                    **({"desc": "compiling…", "bar_format": "{desc} {n_fmt}/{total_fmt} steps"} if compiling else {}))

    # XLA compiles the step on its first call (seconds to minutes): until that step is done the bar says
    # "compiling…"; the real bar, whose rate and ETA time the compiled steps, starts after it.
    bar = new_bar(start, compiling=True)
    last = {}
    pending = None  # (step, metrics) of the dispatched step, checked one step later to keep the device busy
    timer = (time.perf_counter(), start)

    def check(done, metrics):
        """Host side of a finished step: NaN guard, logging, progress."""
        nonlocal last, timer, bar
        metrics = {k: float(v) for k, v in to_host(metrics).items()}
        if not metrics.pop("finite"):
            ckpts.wait()
            good = ckpts.latest_step()
            raise UserError(
                f"non-finite loss or gradient at step {done} (loss={metrics['loss']}); training stopped, "
                + (f"last good checkpoint: step {good} in {ckpts.directory}" if good is not None
                   else "no checkpoint was written")
                + "; try a lower optim.lr or check the data for NaN/Inf")
        now = time.perf_counter()
        if done == start + 1:
            bar.close()
            bar = new_bar(done)
        if done % tc.log_every == 0 or done in (start + 1, end):
            if done > start + 1:  # throughput since the last log; the first step (compilation) is excluded
                metrics["frames_per_s"] = (done - timer[1]) * tc.batch_size / max(now - timer[0], 1e-9)
            metrics["epoch"] = done * tc.batch_size / len(dataset.train_idx)
            log.write(done, metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.4g}", psnr=f"{metrics.get('psnr', math.nan):.2f}",
                            refresh=False)  # shown at the bar's next refresh, so mininterval holds
            last = metrics
        if done == start + 1 or done % tc.log_every == 0:
            timer = (now, done)
        if done > start + 1:
            bar.update(1)

    interrupted = False
    try:
        with _StopRequest() as stop:
            for step in range(start, end):
                ids_b = dataset.train_idx[iterator.next()]
                frames, ids = global_batch(mesh, dataset.frames_nhw3[ids_b], ids_b, tc.batch_size)
                lambda_beta = lambda_beta_at(step, cfg.loss, tc.num_steps)
                hard_mix = hard_mix_at(step, cfg.loss, tc.num_steps)
                state, metrics = step_fn(state, frames, ids, np.int32(tc.seed), np.float32(lambda_beta),
                                         np.float32(hard_mix))
                if pending is not None:
                    check(*pending)
                pending, done = (step + 1, metrics), step + 1
                stopping = stop.signum is not None  # read once: a signal after this waits for the next step
                at_end = done == end or stopping
                if done % tc.ckpt_every == 0 or at_end:
                    check(*pending)  # never save past a non-finite step
                    pending = None
                    if ckpts.latest_step() != done:
                        ckpts.save(done, state, iterator.get_state(), force=True)
                if tc.sample_every > 0 and (done % tc.sample_every == 0 or done == end):
                    sampler(done, state["params"])
                if stopping:
                    interrupted = done < end
                    break
            if pending is not None:
                check(*pending)
            interrupted_by = stop.signum
    finally:
        ckpts.wait()
        ckpts.close()
        log.close()
        bar.close()
    if interrupted and interrupted_by == signal.SIGINT:
        raise KeyboardInterrupt
    final_step = int(to_host(state["step"]))
    return {**last, "step": final_step, "interrupted": interrupted}


# Fields a resumed run may change: the schedule's length, the loss weights and rates, how often it logs and saves.
# Every other field (model.*, canvas, data.*, train.seed / batch_size, optim.schedule) fixes the parameters'
# shapes, the optimiser state's structure or the data order of the checkpoints already written.
RESUMABLE = ("loss.", "optim.lr", "optim.bg_lr", "optim.weight_decay", "optim.warmup_steps", "optim.lr_end_fraction",
             "train.num_steps", "train.log_every", "train.ckpt_every", "train.keep_checkpoints", "train.sample_every")


def resume_changes(workdir: pathlib.Path, cfg) -> dict:
    """{field: [old, new]} of the RESUMABLE fields `cfg` changes from the config.json of a workdir that holds a
    checkpoint; a change to any other field is a UserError naming every such field (the checkpoints stay)."""
    steps = workdir / "checkpoints"
    if not (workdir / "config.json").is_file() or not any(p.name.isdigit() for p in steps.glob("*")):
        return {}
    old, new = (_flat(c.to_dict()) for c in (load_config(workdir), cfg))
    changed = {key: [old.get(key), new.get(key)] for key in sorted(old.keys() | new.keys())
               if old.get(key) != new.get(key)}
    fixed = [key for key in changed if not any(key == f or key.startswith(f) and f.endswith(".") for f in RESUMABLE)]
    if fixed:
        raise UserError(
            f"{workdir} was trained with another config: "
            + ", ".join(f"{key} {changed[key][0]!r} → {changed[key][1]!r}" for key in fixed)
            + "; a resume cannot change these (see docs/training.md), so train into a new --workdir")
    return changed


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _check_steps(tc, stop_at) -> None:
    """Settings that would train nothing (and leave an empty workdir behind) are user errors."""
    if int(tc.num_steps) < 1:
        raise UserError(f"train.num_steps must be at least 1, got {tc.num_steps}")
    if stop_at is not None and int(stop_at) < 1:
        raise UserError(f"--steps (stop_at) must be at least 1, got {stop_at}")
    if int(tc.batch_size) < 1:
        raise UserError(f"train.batch_size must be at least 1, got {tc.batch_size}")


def _prepare_workdir(workdir: pathlib.Path) -> None:
    """Create the workdir; a path that is a file, or a place this user may not write, is a one-line UserError."""
    if workdir.exists() and not workdir.is_dir():
        raise UserError(f"workdir {workdir} is a file, not a folder; choose another --workdir")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create workdir {workdir}: {e.strerror or e}") from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UserError(f"workdir {workdir} is not writable; choose another --workdir")


class _Sampler:
    """Every sample_every steps: inputs / soft / hard reconstructions of fixed frames → samples/step_N.png.

    Every process runs the forward (the params are a global array); the lead process writes the image."""

    def __init__(self, model, cfg, dataset, workdir: pathlib.Path, log: MetricsLog, enabled: bool):
        self.enabled = enabled
        if not enabled:
            return
        pool = dataset.test_idx if len(dataset.test_idx) else dataset.train_idx
        self.frames_bhw3 = dataset.frames_nhw3[pool[:8]]
        self.keys_b = frame_keys(cfg.train.seed, 0, jnp.asarray(pool[:8], jnp.int32))
        self.forward = {m: forward(model, m, ("recon_bhw3",)) for m in ("soft", "hard")}
        self.directory = workdir / "samples"
        self.log = log

    def __call__(self, step: int, params) -> None:
        if not self.enabled:
            return
        import imageio.v3 as iio

        recons = [to_host(self.forward[m](params, self.frames_bhw3, self.keys_b)["recon_bhw3"])
                  for m in ("soft", "hard")]
        if self.log.enabled:
            grid = sample_grid(self.frames_bhw3, recons)
            self.directory.mkdir(exist_ok=True)
            iio.imwrite(self.directory / f"step_{step:07d}.png", grid)
            self.log.image(step, "samples/input_soft_hard", grid)
