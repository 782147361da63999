"""docs/bmff.md: `f.write(path)` streams lazy payloads and never loads the mdat whole. Checked on a sparse
synthetic movie whose mdat is 256 MiB: the traced peak of parse + write stays under an eighth of it."""

import tracemalloc

import bmff
from bmff.testing import synth

MDAT = 256 << 20


def test_write_streams_a_large_mdat(tmp_path):
    src, out = tmp_path / "big.mp4", tmp_path / "copy.mp4"
    size = synth.write_movie(src, [1 << 20] * (MDAT >> 20))
    tracemalloc.start()
    try:
        bmff.parse(src).write(out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.stat().st_size == size
    with open(src, "rb") as a, open(out, "rb") as b:  # same bytes, compared a chunk at a time
        while chunk := a.read(16 << 20):
            assert b.read(len(chunk)) == chunk
    assert peak < MDAT // 8, f"peak {peak / 2**20:.1f} MiB while writing a {MDAT >> 20} MiB mdat"
