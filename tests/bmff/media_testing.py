"""Shared by the movie/sample-table/sample-group tests: small real files made by ffmpeg (skipped cleanly where
ffmpeg is absent), ffprobe's view of them, and round-trip and fuzz checks."""

import functools
import json
import pathlib
import random
import shutil
import struct
import subprocess

import pytest

import bmff
from bmff import BmffError

VIDEO = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"]
X265 = ["-c:v", "libx265", "-x265-params", "log-level=error"]
RECIPES = {
    "h264.mp4": VIDEO + ["-c:v", "libx264"],
    "hvc1.mp4": VIDEO + X265 + ["-tag:v", "hvc1"],
    "hev1.mp4": VIDEO + X265 + ["-tag:v", "hev1"],
    "av.mp4": VIDEO + AUDIO + ["-c:v", "libx264", "-c:a", "aac"],
    "av.mov": VIDEO + AUDIO + ["-c:v", "libx264", "-c:a", "aac"],
}


@functools.cache
def _make_all(folder: str) -> dict:
    """Each recipe's file, made once per process even though every test module imports the fixture."""
    paths = {}
    for name, args in RECIPES.items():
        path = pathlib.Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-t", "1", str(path)], check=True)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """name -> path of each recipe's file."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    return _make_all(str(tmp_path_factory.getbasetemp() / "ffmpeg_media"))


def ffprobe_packets(path, stream: int) -> list[dict]:
    """Every packet of one stream in decode order, as ffprobe reports it: pos, size and flags ('K' = key)."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", str(stream), "-show_entries",
                          "packet=pos,size,flags", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return [{"pos": int(p["pos"]), "size": int(p["size"]), "key": "K" in p["flags"]}
            for p in json.loads(out)["packets"]]


def ffprobe_streams(path) -> list[dict]:
    """ffprobe's stream fields (codec_tag_string, width, channels, time_base, nb_frames, ...) per stream."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"]


def reparse(box):
    """A box written and read back alone; its bytes must survive the trip unchanged."""
    raw = box.to_bytes()
    (back,) = bmff.parse(raw).boxes
    assert back.to_bytes() == raw
    return back


def leaf_bytes(path, box_types: set[str]) -> list[bytes]:
    """The serialized boxes of the given types anywhere in a file (targets for truncation fuzzing)."""
    return [b.to_bytes() for b in bmff.parse(path).walk() if b.type in box_types]


def _parse_or_bmff_error(data: bytes) -> None:
    try:
        parsed = bmff.parse(data)
    except BmffError:
        return
    assert parsed.to_bytes() == data  # whatever parses must also write back unchanged


def assert_robust(raw: bytes, mutations: int = 150, seed: int = 0) -> None:
    """Every truncation of the box's body (header size fixed up) and random byte mutations either parse and
    round-trip or raise BmffError — never another exception."""
    for cut in range(8, len(raw)):
        _parse_or_bmff_error(struct.pack(">I", cut) + raw[4:cut])
    rng = random.Random(seed)
    for _ in range(mutations):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(4, len(data))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        _parse_or_bmff_error(bytes(data))
