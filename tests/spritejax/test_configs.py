import pytest

from spritejax import config
from spritejax.errors import UserError


@pytest.mark.parametrize("name", config.NAMES)
def test_every_named_config_loads_with_a_consistent_geometry(name):
    cfg = config.load(name)
    h, w = cfg.canvas
    k = cfg.model.k
    assert k & (k - 1) == 0 and h % (k // 2) == 0 and w % (k // 2) == 0
    assert config.resolved(cfg).model.offset_bound == k / 4
    assert 0 <= cfg.loss.finetune_steps < cfg.train.num_steps


def test_paper_specific_values():
    assert config.load("mario").model.k == 32
    si = config.load("space_invaders")
    assert (si.model.k, si.model.num_sprites, si.train.batch_size, si.train.num_steps) == (16, 54, 4, 60_000)
    nat = config.load("natural")
    assert nat.loss.lambda_beta == 0 and nat.loss.lambda_beta_finetune == 0
    assert nat.model.transform_input_at_test == "soft" and nat.data.random_crop
    base = config.base_config()
    assert (base.optim.lr, base.optim.bg_lr, base.optim.weight_decay) == (1e-4, 1e-3, 0.01)
    assert (base.loss.lambda_sparse, base.loss.lambda_beta, base.loss.lambda_beta_finetune) == (0.005, 0.002, 0.1)


def test_overrides_parse_literals_and_fall_back_to_strings():
    cfg = config.load(
        "tiny",
        ["train.batch_size=4", "canvas=[64, 64]", "optim.lr=3e-4", "data.path=/tmp/frames", "model.bg_color=(0, 0, 0)"],
    )
    assert cfg.train.batch_size == 4 and cfg.canvas == (64, 64) and cfg.optim.lr == 3e-4
    assert cfg.data.path == "/tmp/frames" and cfg.model.bg_color == (0, 0, 0)


def test_predictor_chunk_takes_auto_none_or_a_count_from_any_of_them():
    from spritejax.model import SpriteModel

    assert config.load("tiny", ["model.predictor_chunk=8"]).model.predictor_chunk == 8
    assert config.load("tiny", ["model.predictor_chunk=None"]).model.predictor_chunk is None
    back = config.from_json(config.to_json(config.load("tiny", ["model.predictor_chunk=8"])))
    config.apply_override(back, "model.predictor_chunk='auto'")  # a resumed run's saved config
    assert back.model.predictor_chunk == "auto"
    with pytest.raises(UserError, match="predictor_chunk"):
        SpriteModel.from_config(config.load("tiny", ["model.predictor_chunk=many"]))


def test_offset_bound_follows_k_unless_overridden():
    assert config.resolved(config.load("tiny", ["model.k=16"])).model.offset_bound == 4
    cfg = config.resolved(config.load("tiny", ["model.offset_bound=3.5", "model.k=16"]))
    assert (cfg.model.k, cfg.model.offset_bound) == (16, 3.5)


def test_a_loaded_config_is_locked_and_complete(tmp_path):
    cfg = config.load("tiny")
    with pytest.raises(AttributeError, match="locked"):
        cfg.train.batchsize = 4  # a misspelt field is not added
    cfg.train.batch_size = 4  # a declared one can still change
    cfg.data.synthetic.background = "texture"  # a generator's options stay open: the generator checks them
    # a user's get_config() may give only some fields: the rest come at their declared defaults
    path = tmp_path / "partial.py"
    path.write_text("import ml_collections\n\ndef get_config():\n"
                    "    return ml_collections.ConfigDict({'model': {'k': 16}, 'train': {'num_steps': 5}})\n")
    partial = config.load(str(path))
    assert partial.model.k == 16 and partial.train.num_steps == 5
    assert partial.to_dict().keys() == config.base_config().to_dict().keys()
    assert partial.optim.lr == config.base_config().optim.lr
    path.write_text("import ml_collections\n\ndef get_config():\n"
                    "    return ml_collections.ConfigDict({'model': {'kk': 16}})\n")
    with pytest.raises(UserError, match="unknown field 'model.kk'"):
        config.load(str(path))


def test_a_recorded_config_from_before_a_field_existed_loads_with_its_default():
    recorded = config.resolved(config.load("tiny")).to_dict()
    del recorded["model"]["score_scale"], recorded["loss"]["lambda_match"]
    import json

    back = config.from_json(json.dumps(recorded))
    assert back.model.score_scale == 1.0 and back.loss.lambda_match == 0.0


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("nope", [], "unknown config"),
        ("/no/such/config.py", [], "not found"),
        ("tiny", ["train.batchsize=4"], "unknown key"),
        ("tiny", ["trian.batch_size=4"], "not a config section"),
        ("tiny", ["train.batch_size"], "key.path=value"),
        ("tiny", ["train.batch_size=big"], "train.batch_size"),
    ],
)
def test_mistakes_are_user_errors(name, overrides, message):
    with pytest.raises(UserError, match=message):
        config.load(name, overrides)


def test_load_from_a_path_and_json_round_trip(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("from spritejax.config import base_config\n\ndef get_config():\n    c = base_config()\n"
                    "    c.model.k = 16\n    return c\n")
    cfg = config.load(str(path), ["train.seed=7"])
    assert cfg.model.k == 16 and cfg.train.seed == 7
    back = config.from_json(config.to_json(cfg))
    assert back.to_dict() == config.resolved(cfg).to_dict() and back.canvas == (128, 128)
    (tmp_path / "bad.py").write_text("x = 1\n")
    with pytest.raises(UserError, match="get_config"):
        config.load(str(tmp_path / "bad.py"))


# ---------------------------------------------------------------- every documented override is accepted

import pathlib  # noqa: E402
import re  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SET_EXAMPLE = re.compile(r"--set[ =]([A-Za-z_][\w.]*=[^\s`'\"|\]]+)")
PLACEHOLDERS = {"value", "VALUE"}  # `--set key=value`, `--set a.b=value`: the syntax, not an example


def documented_overrides():
    found = []
    for path in DOC_FILES + sorted((ROOT / "spritejax").rglob("*.py")):
        for example in SET_EXAMPLE.findall(path.read_text()):
            if example.endswith(")") and example.count(")") > example.count("("):  # `(e.g. --set a=b)`
                example = example[:-1]
            if example.partition("=")[2] not in PLACEHOLDERS:
                found.append(pytest.param(example, id=f"{path.name}:{example}"))
    return found


def test_the_docs_show_set_examples():
    examples = [p.values[0] for p in documented_overrides()]
    assert "data.resize=nearest" in examples and len(examples) >= 5, examples


@pytest.mark.parametrize("example", documented_overrides())
def test_every_documented_set_example_is_accepted(example):
    config.load("tiny", [example])


@pytest.mark.parametrize("override", ["data.allow_upscale=True", "data.resize='nearest'", "data.fit=stretch",
                                      "data.video_step=3", "data.crop_scale=2", "data.atari={'frame_skip': 2}",
                                      "data.atari.frame_skip=2", "data.synthetic.background=texture"])
def test_data_options_the_loaders_read_are_config_keys(override):
    key, _, text = override.partition("=")
    cfg = config.load("tiny", [override])
    node = cfg
    for part in key.split("."):
        node = node[part]
    if text.startswith("{"):
        assert node.to_dict() == config.parse_value(text)
    else:
        assert node == type(node)(config.parse_value(text))


def test_the_data_table_in_docs_matches_base_config():
    text = (ROOT / "docs" / "data.md").read_text()
    table = text.split("## `cfg.data` fields", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert documented == set(config.base_config().data.keys())


def test_unknown_options_in_open_sections_are_still_errors():
    with pytest.raises(UserError, match="unknown key"):
        config.load("tiny", ["data.resise=nearest"])
