"""Mistakes a user can fix, through the real CLI in a subprocess: one line on stderr, no traceback, exit 2, and the
inputs and the workdir left as they were.

Each case is a function tmp_path -> (argv, message regex, paths whose contents must not change).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from spritejax import cli

TINY = ["--config", "tiny", "--set", "canvas=(16,16)", "--set", "data.num_frames=4", "--set", "train.num_steps=2",
        "--set", "train.sample_every=0", "--no-progress"]


def snapshot(*paths):
    """{path: bytes, or the sorted listing of a folder (recursively), or None when absent}."""
    out = {}
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            out[str(path)] = sorted((str(p.relative_to(path)), p.read_bytes() if p.is_file() else None)
                                    for p in path.rglob("*"))
        else:
            out[str(path)] = path.read_bytes() if path.exists() else None
    return out


def _broken_config(tmp_path, get_config_source: str, pattern: str):
    """A `train --config mine.py` case whose get_config part is `get_config_source`."""
    path = tmp_path / "mine.py"
    path.write_text("from spritejax.config import base_config\n\n" + get_config_source)
    workdir = tmp_path / "run"
    return ["train", "--config", str(path), "--workdir", str(workdir)], pattern, [path, workdir]


def config_with_syntax_error(tmp_path):
    return _broken_config(tmp_path, "def get_config(:\n    return base_config()\n", r"mine\.py.*line 3.*syntax")


def config_that_raises(tmp_path):
    return _broken_config(tmp_path, "def get_config():\n    return base_confg()\n",
                          r"mine\.py.*line 4.*NameError.*base_confg")


def workdir_is_a_file(tmp_path):
    workdir = tmp_path / "notes.txt"
    workdir.write_text("my notes\n")
    return ["train", *TINY, "--workdir", str(workdir)], r"notes\.txt.*not a folder", [workdir]


# Root ignores a folder's mode bits; without CAP_DAC_OVERRIDE (setpriv drops it) it is held to them like anyone.
UNPRIVILEGED = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def _read_only_folder(tmp_path, name="readonly"):
    """(a chmod 0o555 folder, the command prefix under which this process cannot write it)."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return folder, []
    probe = [*UNPRIVILEGED, sys.executable, "-c", f"import os, sys; sys.exit(os.access({str(folder)!r}, os.W_OK))"]
    if shutil.which("setpriv") and subprocess.run(probe, capture_output=True).returncode == 0:
        return folder, UNPRIVILEGED
    folder.chmod(0o755)
    pytest.skip("running as root without setpriv: a chmod 0o555 folder stays writable")


def workdir_inside_a_read_only_folder(tmp_path):
    folder, prefix = _read_only_folder(tmp_path)
    return (["train", *TINY, "--workdir", str(folder / "run")], r"readonly/run.*permission denied", [folder],
            prefix)


def workdir_is_a_read_only_folder(tmp_path):
    folder, prefix = _read_only_folder(tmp_path)
    return ["train", *TINY, "--workdir", str(folder)], r"readonly.*not writable", [folder], prefix


def checkpoints_folder_read_only(tmp_path):
    """The first save fails: training stops there with one line, not orbax's background tracebacks and its
    minutes-long wait for a step folder that never comes."""
    folder, prefix = _read_only_folder(tmp_path, "run/checkpoints")
    quiet = ["--set", "train.batch_size=4", "--set", "loss.finetune_steps=0"]  # no warning lines
    return (["train", *TINY, *quiet, "--workdir", str(folder.parent)],
            r"cannot save a checkpoint in .*run/checkpoints: permission denied; training stopped, no checkpoint",
            [folder], prefix)


def resume_with_a_reshaping_override(tmp_path):
    """The refusal comes before any checkpoint is read, so a recorded config beside a step folder is workdir
    enough; the message names old → new and never advises deleting a checkpoint."""
    from spritejax import config

    workdir = tmp_path / "run"
    (workdir / "checkpoints" / "2").mkdir(parents=True)
    (workdir / "config.json").write_text(config.to_json(config.load("tiny")))
    return (["train", "--workdir", str(workdir), "--set", "model.num_sprites=16", "--no-progress"],
            r"run was trained with another config: model\.num_sprites 8 → 16; a resume cannot change these"
            r"(?!.*delete)", [workdir])


def import_of_a_jpeg(tmp_path):
    picture = tmp_path / "pic.jpg"
    picture.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    return ["import", str(picture)], r"pic\.jpg: not an MP4/ISOBMFF file \(it starts with b'\\xff\\xd8", [picture]


def export_into_a_png(tmp_path):
    """The video is checked before the (slow) workdir is loaded: here there is no workdir at all."""
    picture, out = tmp_path / "x.png", tmp_path / "out.mp4"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return (["export", "--workdir", str(tmp_path / "run"), "--out", str(out), "--video", str(picture)],
            r"x\.png: not an MP4/ISOBMFF file \(it starts with b'\\x89PNG\\r\\n", [picture, out])


def import_of_a_box_with_a_binary_type(tmp_path):
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\0\0\0\x10ftypiso8\0\0\0\0" + b"\0\0\x10\0\0\x01ab")  # a second box of type 00 01 'ab'
    return ["import", str(damaged)], r"not a readable MP4/ISOBMFF file: box '\\x00\\x01ab' of size 4096", [damaged]


def zero_steps(tmp_path):
    workdir = tmp_path / "run"
    return ["train", *TINY, "--set", "train.num_steps=0", "--workdir", str(workdir)], "train.num_steps", [workdir]


def steps_flag_zero(tmp_path):
    workdir = tmp_path / "run"
    return ["train", *TINY, "--steps", "0", "--workdir", str(workdir)], "--steps", [workdir]


CASES = [config_with_syntax_error, config_that_raises, workdir_is_a_file, workdir_inside_a_read_only_folder,
         workdir_is_a_read_only_folder, checkpoints_folder_read_only,
         resume_with_a_reshaping_override, import_of_a_jpeg, export_into_a_png, import_of_a_box_with_a_binary_type,
         zero_steps, steps_flag_zero]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_user_mistakes_are_one_line_exit_2_and_change_nothing(case, tmp_path):
    argv, message, untouched, *prefix = case(tmp_path)
    before = snapshot(*untouched)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([*(prefix[0] if prefix else []), sys.executable, "-m", "spritejax", *argv],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    try:
        lines = proc.stderr.strip().splitlines()
        assert "Traceback" not in proc.stderr, proc.stderr
        assert len(lines) == 1 and lines[0].isprintable(), proc.stderr
        assert lines[0].startswith(f"spritejax {argv[0]}: error: "), lines[0]
        assert re.search(message, lines[0], re.IGNORECASE), lines[0]
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        assert snapshot(*untouched) == before
    finally:
        for path in untouched:
            if path.is_dir():
                path.chmod(0o755)


def test_unwritable_workdir_is_a_user_error_even_as_root(tmp_path, monkeypatch, capsys):
    """Where the read-only cases above skip (root without setpriv), the folder's creation fails here as it would
    in a read-only place, in process."""
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.name == "run":
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    assert cli.main(["train", *TINY, "--workdir", str(tmp_path / "ro" / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(r"ro/run.*permission denied", err[0], re.IGNORECASE), err
