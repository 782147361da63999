"""Shared by the item/fragment/edit tests: small real files made by heif-enc and ffmpeg, skipped cleanly where
the tool is absent. A PNG is written with the standard library so no imaging package is needed."""

import random
import shutil
import struct
import subprocess
import zlib

import pytest

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
       b"</x:xmpmeta>")
EXIF = b"MM\x00\x2a\x00\x00\x00\x08\x00\x00"  # a big-endian TIFF header with an empty IFD


def write_png(path, width=64, height=48, alpha=False, metadata=False):
    """A gradient PNG (RGB or RGBA, filter 0 rows, one IDAT), optionally carrying EXIF (eXIf) and XMP (iTXt)."""
    channels = 4 if alpha else 3
    rows = b"".join(b"\0" + bytes((x * 4 + y * 3 + c * 60 + (x * y if c == 3 else 0)) % 256
                                  for x in range(width) for c in range(channels)) for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    extra = chunk(b"eXIf", EXIF) + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP) if metadata else b""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def make_heif(path, images=1, extra_args=(), **png_options):
    """A HEIF file of `images` copies of the gradient (heif-enc writes grids of hvc1 tiles)."""
    if shutil.which("heif-enc") is None:
        pytest.skip("heif-enc (libheif-examples) is not installed")
    png = write_png(path.with_suffix(".png"), **png_options)
    subprocess.run(["heif-enc", *extra_args, "-q", "40", "-o", str(path), *[str(png)] * images], check=True,
                   capture_output=True)
    return path


def make_ffmpeg_file(path, movflags):
    """Two seconds of 64x48 H.264 at 10 fps with a keyframe every 5 frames, muxed with the given flags."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                    "-t", "2", "-c:v", "libx264", "-g", "5", *movflags, str(path)], check=True)
    return path


def framemd5(path):
    """ffmpeg's per-frame MD5 lines of the decoded video (comments dropped)."""
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(path), "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def mutants(raw: bytes, count: int, seed: int):
    """`count` copies of raw, each truncated and/or with a few bytes overwritten (deterministic)."""
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(raw[: rng.randrange(len(raw) + 1)] if rng.random() < 0.3 else raw)
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.choice([0, 1, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        yield bytes(data)
