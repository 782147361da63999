"""Atari frames through ale-py (optional extra `atari`; ale-py ships the ROMs). Paper §3.2: Space Invaders,
5,000 frames, k = 16.

Frames come from a seeded random policy over the game's minimal action set, one kept every `frame_skip`
emulator frames, restarting the game when it ends. The whole 210×160 screen is stretched onto the canvas by
default (fit='stretch'): a centred 'cover' crop would cut off Space Invaders' cannon row.
"""

from __future__ import annotations

import numpy as np

from spritejax.data.dataset import Dataset
from spritejax.data.frames import CHUNK_FRAMES, fit_to_canvas
from spritejax.errors import UserError


def _ale_module():
    try:
        import ale_py
    except ImportError:
        raise UserError("Atari data needs ale-py: pip install -e '.[atari]'") from None
    return ale_py


def load_atari(canvas_hw, num_frames: int, seed: int, resize: str = "area", game: str = "space_invaders",
               frame_skip: int = 4, start_noops: int = 60, fit: str = "stretch") -> Dataset:
    """`num_frames` screens of `game`; deterministic in `seed` (sticky actions off).

    start_noops emulator steps after each reset are skipped (the attract screen before play starts).
    """
    ale_py = _ale_module()
    if frame_skip < 1:
        raise UserError(f"data.atari.frame_skip must be ≥ 1, got {frame_skip}")
    ale = ale_py.ALEInterface()
    if hasattr(ale_py, "LoggerMode"):
        ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", int(seed) % 2**31)
    ale.setFloat("repeat_action_probability", 0.0)
    from ale_py import roms
    rom = roms.get_rom_path(game)
    if rom is None:
        raise UserError(f"ale-py has no ROM named {game!r}; see ale_py.roms.get_all_rom_ids()")
    ale.loadROM(str(rom))
    actions = list(ale.getMinimalActionSet())
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA7A2]))

    def restart():
        ale.reset_game()
        for _ in range(start_noops):
            ale.act(actions[0])

    restart()
    frames, chunk = [], []
    while len(frames) * CHUNK_FRAMES + len(chunk) < num_frames:
        for _ in range(frame_skip):
            ale.act(actions[rng.integers(len(actions))])
        if ale.game_over():
            restart()
        chunk.append(ale.getScreenRGB().astype(np.float32) / 255.0)
        if len(chunk) == CHUNK_FRAMES:
            frames.append(fit_to_canvas(np.stack(chunk), canvas_hw, resize, fit))
            chunk = []
    if chunk:
        frames.append(fit_to_canvas(np.stack(chunk), canvas_hw, resize, fit))
    return Dataset(frames_nhw3=np.concatenate(frames), meta={"source": "atari", "game": game,
                                                              "frame_skip": frame_skip})
