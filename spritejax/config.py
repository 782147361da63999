"""The config schema and the one loader.

`base_config()` declares every field any code reads, with its default (the paper's) and so its type. The
experiment configs are the top-level `configs/<name>.py:get_config()` files (shipped in the wheel as
`spritejax.configs`); each starts from `base_config()` and changes only what differs. `load(name_or_path,
overrides)` is the one way the CLI and the library turn a name (`tiny`) or a path to any python file with a
`get_config()`, plus `key.path=value` overrides, into a config: conformed to the schema (missing fields at their
defaults, unknown ones an error) and locked, so a misspelt field set later fails instead of adding a field.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pathlib

import ml_collections

from .errors import UserError

NAMES = ("tiny", "demo", "synthetic", "paper", "mario", "space_invaders", "space_invaders_cpu", "natural")


def base_config() -> ml_collections.ConfigDict:
    """The paper / reference-code defaults for a 128² canvas (ARCHITECTURE.md "Model facts")."""
    cfg = ml_collections.ConfigDict()
    cfg.canvas = (128, 128)

    cfg.model = ml_collections.ConfigDict()
    cfg.model.k = 32  # sprite size; anchor cells are k/2
    cfg.model.layers = 2
    cfg.model.num_sprites = 150
    cfg.model.latent_dim = 128
    # ±px; None: k/4 = half a cell as the reference code (the paper says k/2)
    cfg.model.offset_bound = None
    cfg.model.background = "solid"  # 'solid' | 'texture'
    cfg.model.texture_size = None  # (Ht, Wt) >= canvas for 'texture'
    cfg.model.bg_color = None  # None: k-means over training frames
    cfg.model.transform_input_at_test = "soft"  # the reference feeds the soft sprite even in hard mode
    cfg.model.conv_impl = "auto"  # 'xla' | 'matmul' | 'auto'
    # hard mode: run the translation predictor only on active anchors (inactive ones are transparent)
    cfg.model.skip_inactive = True
    # anchors per translation-predictor call: 'auto' (16 on CPU, where chunks stay in cache; all at once
    # elsewhere), None (all at once) or a count
    cfg.model.predictor_chunk = "auto"
    # multiplies the scores' logits LN·LN/√d (bounded by √d): > 1 lets a small latent_dim pick one sprite
    cfg.model.score_scale = 1.0
    # 'network' (§2.4's translation predictor) | 'correlation' (spritejax.align: search integer shifts)
    cfg.model.translation = "network"
    cfg.model.generator = "mlp"  # 'mlp' (the paper's sprite generator) | 'pixels' (free RGBA logits per entry)
    cfg.model.dictionary_init = "random"  # 'random' (the paper) | 'foreground' (spritejax.warmstart)
    cfg.model.align_temperature = 0.01  # 'correlation': softmax temperature on the mean squared colour error
    # what the encoder, sprite generator and translation predictor compute in: 'float32' | 'bfloat16' (mixed
    # precision: float32 parameters, optimiser state, rendering and loss)
    cfg.model.compute_dtype = "float32"

    cfg.loss = ml_collections.ConfigDict()
    cfg.loss.lambda_sparse = 0.005
    cfg.loss.lambda_beta = 0.002
    cfg.loss.lambda_beta_finetune = 0.1
    cfg.loss.finetune_steps = 10_000  # the last steps of num_steps use lambda_beta_finetune
    cfg.loss.lambda_alpha = 0.0  # > 0: L1 on the dictionary's alpha, so sprites drop pixels the background explains
    cfg.loss.lambda_match = 0.0  # > 0: scores also learn from spritejax.losses.match_loss (not in the paper)
    cfg.loss.straight_through_steps = 0  # the last steps composite the hard decomposition (soft gradients)

    cfg.optim = ml_collections.ConfigDict()
    cfg.optim.lr = 1e-4
    cfg.optim.bg_lr = 1e-3  # params['background']
    cfg.optim.weight_decay = 0.01  # PyTorch AdamW default (optax's is 1e-4)
    cfg.optim.schedule = "constant"  # 'constant' (the paper) | 'cosine' (warm-up, then cosine decay)
    cfg.optim.warmup_steps = 0
    cfg.optim.lr_end_fraction = 0.1  # 'cosine': the final rate as a fraction of lr

    cfg.train = ml_collections.ConfigDict()
    cfg.train.batch_size = 8  # global, over all processes and devices
    cfg.train.num_steps = 210_000  # 200k + 10k fine-tune
    cfg.train.seed = 0
    cfg.train.log_every = 100
    cfg.train.ckpt_every = 5_000
    cfg.train.keep_checkpoints = 3
    cfg.train.sample_every = 5_000

    # Every option spritejax.data.load_dataset reads, with its default (docs/data.md has the table).
    cfg.data = ml_collections.ConfigDict()
    cfg.data.source = "synthetic"  # 'synthetic' | 'folder' | 'video' | 'atari'
    cfg.data.path = None  # folder / image file ('folder') or video file ('video'); recorded absolute by train
    cfg.data.num_frames = 2_000  # 0 / None: every frame a folder or video holds
    cfg.data.seed = 0
    cfg.data.random_crop = False  # 'folder': num_frames random canvas-sized crops (paper §3.4)
    cfg.data.crop_scale = 1.0  # source pixels per canvas pixel of a random crop
    cfg.data.holdout = 0.1
    cfg.data.resize = "area"  # 'area' | 'nearest'
    cfg.data.fit = "cover"  # 'cover' (scale, centre crop) | 'stretch'
    cfg.data.allow_upscale = False  # accept frames smaller than the canvas
    cfg.data.video_step = 1  # keep every n-th video frame
    # Option sections handed to a generator as keyword arguments; it owns their defaults and rejects unknown
    # names, so overrides may add keys here (OPEN_SECTIONS).
    cfg.data.synthetic = ml_collections.ConfigDict()  # spritejax.data.synthetic.generate
    cfg.data.atari = ml_collections.ConfigDict()  # spritejax.data.atari.load_atari (game, frame_skip, ...)
    return cfg


# Fields whose value may take several types ('auto' | None | a count): an override may change the type (the model
# validates the value). Every other field keeps its default's type, so `k=big` is an error, not a silent string.
FLEXIBLE_TYPES = frozenset({"model.predictor_chunk"})
# Sections whose keys are a generator's keyword options (validated there): `data.synthetic.background=texture`
# may add a key.
OPEN_SECTIONS = frozenset({"data.synthetic", "data.atari"})


def load(name_or_path: str, overrides=()) -> ml_collections.ConfigDict:
    """Config by name (`tiny`) or path (`x.py`), conformed to the schema, `a.b=value` overrides applied in order,
    then locked."""
    cfg = conform(get(name_or_path), f"config {name_or_path}")
    for item in overrides:
        apply_override(cfg, item)
    return _locked(cfg)


def get(name_or_path: str):
    """What the config's get_config() returns, unconformed and unlocked: a config file builds on another with
    `cfg = config.get("demo")` (named configs are loaded by path, so they cannot import each other)."""
    module = _import_config_module(str(name_or_path))
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise UserError(f"config {name_or_path!r} has no get_config() function")
    try:
        return get_config()
    except UserError:
        raise
    except Exception as e:  # a mistake in the user's config file: its line, not a traceback
        raise UserError(f"config {name_or_path}: get_config() failed: {_where(e, module)}") from None


def conform(given, what: str = "config") -> ml_collections.ConfigDict:
    """`given` (a ConfigDict or nested mapping holding some of the fields) over `base_config()`: a fresh, unlocked
    config with every field, each of its declared type; an unknown field is a UserError naming the known ones."""
    full = base_config()
    _merge(full, given, "", what)
    return full


def resolved(cfg, what: str = "config") -> ml_collections.ConfigDict:
    """A locked copy of `cfg` with the derived defaults written out (`model.offset_bound` None → k/4): what a
    workdir's config.json and an exported model record, so a later change of a default cannot change them."""
    out = conform(cfg, what)
    if out.model.offset_bound is None:
        out.model.offset_bound = out.model.k / 4
    return _locked(out)


def _merge(node: ml_collections.ConfigDict, given, prefix: str, what: str) -> None:
    if not isinstance(given, (dict, ml_collections.ConfigDict)):
        raise UserError(f"{what}: {prefix.rstrip('.') or 'the config'} must be a section (a ConfigDict), "
                        f"got {given!r}")
    for key, value in given.items():
        name = prefix + key
        if key not in node and prefix.rstrip(".") not in OPEN_SECTIONS:
            raise UserError(f"{what}: unknown field {name!r}; known here: {', '.join(sorted(node.keys()))}")
        if key in node and isinstance(node[key], ml_collections.ConfigDict):
            _merge(node[key], value, name + ".", what)
        else:
            _set(node, key, value, name, what)


def _set(node: ml_collections.ConfigDict, key: str, value, name: str, what: str) -> None:
    if isinstance(value, list):
        value = tuple(value)
    try:
        if name in FLEXIBLE_TYPES and key in node:  # the old value's type does not bind the new one
            with node.unlocked():
                del node[key]
                node[key] = value
        else:
            node[key] = value
    except (TypeError, ValueError) as e:
        raise UserError(f"{what}: {e}") from None


def _locked(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    cfg.lock()
    for section in OPEN_SECTIONS:  # generator options: the generator validates their names
        node = cfg
        for part in section.split("."):
            node = node[part]
        node.unlock()
    return cfg


def named_config_dir() -> pathlib.Path:
    """The named configs' folder: `spritejax/configs` where a wheel installed them, else the top-level configs/
    of the source tree this module runs from (a checkout, installed editable or not)."""
    here = pathlib.Path(__file__).resolve().parent
    installed = here / "configs"
    return installed if (installed / "__init__.py").is_file() else here.parent / "configs"


def _import_config_module(name_or_path: str):
    path = pathlib.Path(name_or_path)
    if path.suffix != ".py" and "/" not in name_or_path:
        if name_or_path not in NAMES:
            raise UserError(f"unknown config {name_or_path!r}; known: {', '.join(NAMES)} (or a path to a .py file)")
        path = named_config_dir() / f"{name_or_path}.py"
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"_spritejax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"config file {name_or_path}, line {e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:
        raise UserError(f"config file {name_or_path} failed to import: {_where(e, module)}") from None
    return module


def _where(error: Exception, module) -> str:
    """`line N: Type: message` of the innermost frame of `error` in the config module's file."""
    import traceback

    filename = getattr(module, "__file__", None)
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    where = f"line {lines[-1]}: " if lines else ""
    message = " ".join(str(error).split())
    return f"{where}{type(error).__name__}" + (f": {message}" if message else "")


def parse_value(text: str):
    """A python literal (`4`, `1e-3`, `(64, 64)`, `None`, `'x'`) or, failing that, the bare string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_override(cfg: ml_collections.ConfigDict, item: str) -> None:
    """Set `a.b.c=value` in place; the key must already exist (typos are errors, not new fields)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"override {item!r} is not of the form key.path=value")
    *parents, leaf = key.split(".")
    node = cfg
    for i, part in enumerate(parents):
        node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict):
            raise UserError(f"override {item!r}: {'.'.join(parents[: i + 1])!r} is not a config section")
    if leaf not in node and ".".join(parents) not in OPEN_SECTIONS:
        raise UserError(f"override {item!r}: unknown key {key!r}; known here: {', '.join(sorted(node.keys()))}")
    _set(node, leaf, parse_value(text.strip()), key, f"override {item!r}")


def to_json(cfg: ml_collections.ConfigDict) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def from_json(text: str) -> ml_collections.ConfigDict:
    """A recorded config (to_json's text: a workdir's config.json, an exported model's config item), resolved:
    the fields added since it was written at their defaults. JSON arrays come back as tuples (configs hold no lists)."""

    def tuples(x):
        if isinstance(x, dict):
            return {k: tuples(v) for k, v in x.items()}
        if isinstance(x, list):
            return tuple(tuples(v) for v in x)
        return x

    return resolved(tuples(json.loads(text)), "recorded config")
