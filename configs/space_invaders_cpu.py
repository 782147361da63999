"""Space Invaders on a laptop CPU: the 210×160 screen at half size (104×80: one row cropped at the top and
bottom, then exact 2×2 averages), k=16, with the demo's fast-learning options (configs/demo.py). The aliens
(5×4 here), the cannon and the shields (9×4) fit a 16-px window with room to shift. At full size with k=32 the
step costs ~20× more (the matching teacher's gains scale with window area × shifts × entries);
`space_invaders` is the paper's size (128², k=16, 60k steps)."""

from spritejax import config


def get_config():
    cfg = config.get("demo")
    cfg.canvas = (104, 80)
    cfg.model.k = 16  # 8-px anchor cells: a 13×10 grid per layer
    cfg.model.num_sprites = 32
    cfg.data.source = "atari"
    cfg.data.atari.fit = "cover"  # 2× in both axes (210 → 208 rows cropped): no blur across pixel rows
    cfg.data.num_frames = 400
    return cfg
