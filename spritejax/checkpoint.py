"""Checkpoints of a training run: orbax CheckpointManager under `<workdir>/checkpoints`, one step per folder.

Each step holds two items: `state` (the TrainState pytree: step, params, opt_state) and `data` (the batch
iterator's JSON state), so a resumed run continues the same data order. Saves are asynchronous; orbax writes
to a temporary folder and renames it when complete, so a run killed mid-save leaves the previous step intact.
Anything unreadable surfaces as a one-line UserError that names the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from . import config
from .errors import UserError
from .model import SpriteModel
from .train_state import abstract_state


class Checkpoints:
    """Save / restore (TrainState, data state) pairs in `<workdir>/checkpoints`."""

    def __init__(self, workdir, keep: int = 3, read_only: bool = False):
        self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
        if read_only and not self.directory.is_dir():
            raise UserError(f"{workdir} has no checkpoints/ folder: not a training workdir (run `spritejax train`)")
        try:
            with _quiet_absl() if read_only else contextlib.nullcontext():
                options = ocp.CheckpointManagerOptions(
                    max_to_keep=keep, create=not read_only, read_only=read_only, enable_async_checkpointing=True
                )
                self.manager = ocp.CheckpointManager(self.directory, options=options)
        except Exception as e:  # unreadable folder / metadata
            raise UserError(f"cannot open checkpoints in {self.directory}: {_one_line(e)}") from None

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, data_state: dict, force: bool = False) -> bool:
        """Start an async save of `state` at `step` (returns at once; `wait()` to block).

        The folder is probed first, on this thread: orbax creates the step folder in a background thread, and
        when that fails training goes on while orbax waits minutes for the folder before dying with tracebacks."""
        self._check_writable()
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state))
        return self.manager.save(int(step), args=args, force=force)

    def _check_writable(self) -> None:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".write-probe-", dir=self.directory))
        except OSError as e:
            good = self.latest_step()
            raise UserError(
                f"cannot save a checkpoint in {self.directory}: {e.strerror or _one_line(e)}; training stopped, "
                + (f"last good checkpoint: step {good}" if good is not None else "no checkpoint was written")
            ) from None

    def restore(self, step: int, abstract_state):
        """(state, data_state) of `step`; `abstract_state` gives structure, dtypes and shardings."""
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore())
        try:
            restored = self.manager.restore(int(step), args=args)
        except Exception as e:  # truncated / missing files (train refuses a config change before this)
            raise UserError(
                f"checkpoint {self.directory / str(step)} is unreadable or does not match the workdir's "
                f"config.json ({_one_line(e)})"
            ) from None
        return restored.state, dict(restored.data)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()


@contextlib.contextmanager
def _quiet_absl():
    """orbax warns (via absl) that a read-only manager will not save or delete: what we asked for, not news to a
    user of eval / render / export."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) < 300 else text[:297] + "..."


# --------------------------------------------------------------------------------------- a workdir


def load_config(workdir) -> "config.ml_collections.ConfigDict":
    path = pathlib.Path(workdir) / "config.json"
    if not path.is_file():
        raise UserError(f"{workdir} has no config.json: not a training workdir (run `spritejax train` first)")
    try:
        return config.from_json(path.read_text())
    except (ValueError, TypeError, UserError) as e:
        raise UserError(f"{path} is not a valid config: {e}") from None


def load_workdir(workdir, step: int | None = None):
    """(cfg, model, params) of the latest (or given) checkpoint in a training workdir, on the default device."""
    cfg = load_config(workdir)
    model = SpriteModel.from_config(cfg)
    ckpts = Checkpoints(workdir, read_only=True)
    try:
        step = ckpts.latest_step() if step is None else step
        if step is None:
            raise UserError(f"{workdir} has no finished checkpoint yet")
        if step not in ckpts.all_steps():
            raise UserError(f"{workdir} has no checkpoint for step {step}; it has {ckpts.all_steps()}")
        example = jnp.zeros((1, *cfg.canvas, 3), jnp.float32)
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        state, _ = ckpts.restore(step, abstract_state(model, cfg, device, example))
    finally:
        ckpts.close()
    return cfg, model, state["params"]
