"""Editing helpers and the offset-fixing writer, checked by decoding the edited files with ffmpeg/libheif."""

import os
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from item_media import framemd5, make_ffmpeg_file, make_heif, mutants

import bmff
from bmff import BmffError, UnknownBox
from bmff.box import lookup
from bmff.boxes.file import FileTypeBox, FreeSpaceBox, MediaDataBox
from bmff.boxes.meta import (
    ItemDataBox,
    ItemInfoBox,
    ItemInfoEntry,
    ItemLocation,
    ItemLocationBox,
    ItemLocationExtent,
    MetaBox,
    item_data,
)
from bmff.edit import Layout, add_box, fix_offsets, remove_box, write_with_fixed_offsets


def test_add_and_remove_by_identity():
    a, b = FreeSpaceBox(data=b"x"), FreeSpaceBox(data=b"x")
    meta = MetaBox()
    add_box(meta, a)
    add_box(meta, b, index=0)
    assert meta.children[0] is b and meta.children[1] is a
    remove_box(meta, a)
    assert meta.children == [b] and meta.children[0] is b
    with pytest.raises(BmffError, match="not a child"):
        remove_box(meta, a)
    with pytest.raises(BmffError, match="cannot hold child boxes"):
        add_box(a, b)


def test_offset_into_a_removed_box_is_an_error_and_nothing_moves():
    iloc = ItemLocationBox(4, 4, 0, 0, [ItemLocation(k, extents=[ItemLocationExtent(0, 4)]) for k in (1, 2)])
    meta = MetaBox([iloc])
    kept, dropped = (MediaDataBox(data=d) for d in (b"keep", b"drop"))
    iloc.items[0].extents[0].extent_offset = len(meta.to_bytes()) + 8
    iloc.items[1].extents[0].extent_offset = len(meta.to_bytes()) + 12 + 8
    as_read = [i.extents[0].extent_offset for i in iloc.items]
    f = bmff.parse(bmff.File([meta, kept, dropped]).to_bytes())
    assert [item_data(f.find("meta"), k, f.source) for k in (1, 2)] == [b"keep", b"drop"]
    add_box(f.find("meta"), FreeSpaceBox(data=bytes(10)))  # item 1 would move by 18 bytes...
    remove_box(f, f.boxes[2])  # ...but item 2 now points into nothing
    with pytest.raises(BmffError, match=f"iloc item 2 points at byte {as_read[1]}, which is in no box"):
        fix_offsets(f)
    assert [i.extents[0].extent_offset for i in f.find("meta/iloc").items] == as_read


def test_iloc_base_offset_moves_and_extents_keep_their_relative_offsets():
    body = b"0123456789"
    iloc = ItemLocationBox(4, 4, 4, 0, [ItemLocation(1, base_offset=0, extents=[ItemLocationExtent(2, 3),
                                                                                 ItemLocationExtent(5, 2)])],
                           version=1)
    meta = MetaBox([iloc])
    iloc.items[0].base_offset = len(meta.to_bytes()) + 8
    f = bmff.parse(bmff.File([meta, MediaDataBox(data=body)]).to_bytes())
    before = item_data(f.find("meta"), 1, f.source)
    add_box(f.find("meta"), FreeSpaceBox(data=bytes(100)), 0)
    fix_offsets(f)
    g = bmff.parse(f.to_bytes())
    loc = g.find("meta/iloc").items[0]
    assert loc.base_offset == iloc.items[0].base_offset + 108 and [e.extent_offset for e in loc.extents] == [2, 5]
    assert item_data(g.find("meta"), 1, g.source) == before == b"23456"
    # a second call changes nothing: the headers now describe the written layout
    assert fix_offsets(f).to_bytes() == g.to_bytes()


@pytest.fixture(scope="module")
def faststart(tmp_path_factory):
    return make_ffmpeg_file(tmp_path_factory.mktemp("edit") / "faststart.mp4", ["-movflags", "+faststart"])


def _items_meta(payload: bytes) -> MetaBox:
    """A movie-level meta with one 'mime' item stored in its own idat."""
    return MetaBox([ItemInfoBox([ItemInfoEntry(1, 0, "mime", "notes", "text/plain")]),
                    ItemLocationBox(0, 4, 0, 0, [ItemLocation(1, 1, extents=[ItemLocationExtent(0, len(payload))])],
                                    version=1),
                    ItemDataBox(data=payload)])


@pytest.mark.parametrize("insert", ["free", "meta"])
def test_growing_moov_keeps_every_frame(faststart, tmp_path, insert):
    f = bmff.parse(faststart)
    stco = f.find("moov/trak/mdia/minf/stbl/stco")
    assert hasattr(stco, "chunk_offset")  # parsed, so its offsets can be fixed
    old = list(stco.chunk_offset)
    box = FreeSpaceBox(data=bytes(70000)) if insert == "free" else _items_meta(b"note " * 9000)
    add_box(f.find("moov"), box, 1)
    out = tmp_path / "grown.mp4"
    write_with_fixed_offsets(f, out)
    grown = bmff.parse(out)
    assert grown.find("moov/trak/mdia/minf/stbl/stco").chunk_offset == [o + len(box.to_bytes()) for o in old]
    assert framemd5(out) == framemd5(faststart)
    if insert == "meta":
        assert item_data(grown.find("moov/meta"), 1) == b"note " * 9000
    # and shrinking back restores the original file byte for byte
    remove_box(f.find("moov"), box)
    write_with_fixed_offsets(f, tmp_path / "back.mp4")
    assert (tmp_path / "back.mp4").read_bytes() == faststart.read_bytes()


@pytest.mark.parametrize("movflags", ["frag_keyframe+empty_moov", "dash"])
def test_growing_moov_and_every_fragment_keeps_every_frame(tmp_path, movflags):
    """Absolute base_data_offset (plain fragments) or moof-relative data (dash, with a sidx per segment)."""
    src = make_ffmpeg_file(tmp_path / "frag.mp4", ["-f", "mp4", "-movflags", movflags])
    reference = framemd5(src)
    f = bmff.parse(src)
    add_box(f.find("moov"), FreeSpaceBox(data=bytes(3000)), 1)
    for traf in f.find_all("moof/traf"):
        add_box(traf, FreeSpaceBox(data=bytes(100)))
    write_with_fixed_offsets(f, src)  # in place: the payloads are still read from the old file
    assert framemd5(src) == reference
    g = bmff.parse(src)
    moofs = [b.header.offset for b in g.boxes if b.type == "moof"]
    assert [e.moof_offset for e in g.find("mfra/tfra").entries] == moofs
    assert g.find("mfra/mfro").size == g.find("mfra").header.size
    bases = [h.base_data_offset for h in g.find_all("moof/traf/tfhd")]
    assert bases == (moofs if movflags.startswith("frag") else [None] * len(moofs))
    for k, box in enumerate(g.boxes):  # each sidx indexes exactly the moof + mdat boxes up to the next sidx
        if box.type == "sidx":
            covered = [b for b in g.boxes[k + 1:k + 3]]
            assert box.first_offset == 0 and [b.type for b in covered] == ["moof", "mdat"]
            assert box.references[0].referenced_size == sum(b.header.size for b in covered)


def _heif(path, **options):
    """A HEIF file: heif-enc's when it is installed, else the committed fixture (one hvc1 image)."""
    if shutil.which("heif-enc") is None:
        shutil.copyfile(os.path.join(os.path.dirname(__file__), "fixtures", "img.heic"), path)
        return path
    return make_heif(path, **options)


def test_heif_meta_growth_keeps_the_image(tmp_path):
    src = _heif(tmp_path / "a.heic")
    f = bmff.parse(src)
    meta = f.find("meta")
    items = {i.item_ID: item_data(meta, i.item_ID, f.source) for i in meta.find_all("iinf/infe")}
    add_box(meta, FreeSpaceBox(data=bytes(4096)))
    out = tmp_path / "b.heic"
    write_with_fixed_offsets(f, out)
    g = bmff.parse(out)
    assert {i: item_data(g.find("meta"), i, g.source) for i in items} == items
    if shutil.which("heif-convert") is None:
        pytest.skip("heif-convert (libheif-examples) is not installed: the decoded images not compared")
    for name in ("a", "b"):
        subprocess.run(["heif-convert", str(tmp_path / f"{name}.heic"), str(tmp_path / f"{name}.y4m")], check=True,
                       capture_output=True)
    assert (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def test_offsets_past_4gib_widen_stco_and_iloc(tmp_path):
    """A sparse 4 GiB file: parsed (headers only) and fixed in memory, never written."""
    assert lookup("co64", "stbl") is not UnknownBox and lookup("stco", "stbl") is not UnknownBox
    near_end = (1 << 32) - 16
    moov_size = 8 * 5 + 8 + 4 + 4 + 8  # moov/trak/mdia/minf/stbl + stco(version, count, two u32)
    meta = ItemLocationBox(4, 4, 0, 0, [ItemLocation(1, extents=[ItemLocationExtent(near_end, 8)])]).to_bytes()
    head_size = 16 + 12 + len(meta) + moov_size
    first_chunk = head_size + 16  # the first byte of mdat's body (after its largesize header)
    stco = _box(b"stco", struct.pack(">IIII", 0, 2, first_chunk, near_end))
    moov = _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", _box(b"stbl", stco)))))
    head = _box(b"ftyp", b"isom\0\0\0\0") + _box(b"meta", bytes(4) + meta) + moov
    assert len(head) == head_size
    mdat_size = (1 << 32) + 64 - head_size
    path = tmp_path / "sparse.mp4"
    with open(path, "wb") as fp:
        fp.write(head + struct.pack(">I4sQ", 1, b"mdat", mdat_size))
        fp.truncate(head_size + mdat_size)
    f = bmff.parse(path)
    add_box(f.find("moov"), FreeSpaceBox(data=bytes(32)))
    fix_offsets(f)
    shift = 40 + 2 * 4 + 4  # the free box, co64's two wider entries, iloc's wider extent_offset
    stbl = f.find("moov/trak/mdia/minf/stbl")
    assert [b.type for b in stbl.children] == ["co64"]
    assert stbl.children[0].chunk_offset == [first_chunk + shift, near_end + shift]
    iloc = f.find("meta/iloc")
    assert iloc.offset_size == 8 and iloc.items[0].extents[0].extent_offset == near_end + shift
    assert all(delta == 0 for _, _, delta in Layout.of(f).moves)  # headers re-based: nothing left to move


def test_quicktime_meta_form_in_a_real_mov(tmp_path):
    """ffmpeg writes ISO-form 'meta' even in MOV; rewrite it in QuickTime form (moov shrinks by 4 bytes) and
    check ffmpeg still reads the title and every frame, and that the form is detected on the way back in."""
    src = make_ffmpeg_file(tmp_path / "q.mov", ["-metadata", "title=hello", "-movflags", "use_metadata_tags+faststart"])
    f = bmff.parse(src)
    meta = f.find("moov/udta/meta")
    assert not meta.quicktime and [c.type for c in meta.children] == ["hdlr", "keys", "ilst"]
    meta.quicktime = True
    out = tmp_path / "qt.mov"
    write_with_fixed_offsets(f, out)
    assert bmff.parse(out).find("moov/udta/meta").quicktime
    assert out.stat().st_size == src.stat().st_size - 4
    title = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=title", "-of", "csv=p=0",
                            str(out)], capture_output=True, text=True, check=True).stdout.strip()
    assert title == "hello"
    assert framemd5(out) == framemd5(src)


@st.composite
def item_files(draw):
    """ftyp, meta (iloc at file offsets into mdat, random field widths and base offsets), mdat."""
    payload = draw(st.binary(min_size=1, max_size=64))
    base_size = draw(st.sampled_from([0, 4, 8]))
    spans = draw(st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(1, 8)), min_size=1, max_size=4))
    items = []
    for k, (start, length) in enumerate(spans):
        length = min(length, len(payload) - start)
        base = draw(st.integers(0, start)) if base_size else 0
        items.append(ItemLocation(k + 1, base_offset=base, extents=[ItemLocationExtent(start - base, length)]))
    iloc = ItemLocationBox(draw(st.sampled_from([4, 8])), 4, base_size, 0, items, version=draw(st.integers(0, 1)))
    meta = MetaBox([FreeSpaceBox(data=bytes(draw(st.integers(0, 300)))), iloc])
    head = len(FileTypeBox().to_bytes()) + len(meta.to_bytes()) + 8
    for item in items:
        if base_size:
            item.base_offset += head
        else:
            item.extents[0].extent_offset += head
    return bmff.File([FileTypeBox(), meta, MediaDataBox(data=payload)])


@settings(max_examples=60, deadline=None)
@given(item_files(), st.data())
def test_items_read_the_same_after_any_growth_or_shrink(file, data):
    f = bmff.parse(file.to_bytes())
    meta = f.find("meta")
    before = {i.item_ID: item_data(meta, i.item_ID, f.source) for i in meta.find("iloc").items}
    if data.draw(st.booleans()):
        remove_box(meta, meta.children[0])  # shrink: the padding the file came with
    for _ in range(data.draw(st.integers(0, 3))):
        free = FreeSpaceBox(data=bytes(data.draw(st.integers(0, 300))))
        if data.draw(st.booleans()):
            add_box(meta, free, data.draw(st.integers(0, len(meta.children))))
        else:
            add_box(f, free, 1)
    fix_offsets(f)
    g = bmff.parse(f.to_bytes())
    assert {i: item_data(g.find("meta"), i, g.source) for i in before} == before


@pytest.mark.parametrize("kind", ["faststart", "heif"])
def test_fixing_mutated_files_raises_only_bmff_error(kind, request, tmp_path):
    """One file per case, so a missing heif-enc drops nothing of the faststart half."""
    src, parent, seed = ((request.getfixturevalue("faststart"), "moov", 3) if kind == "faststart"
                         else (_heif(tmp_path / "m.heic"), "meta", 4))
    for data in mutants(src.read_bytes(), 150, seed):
        try:
            f = bmff.parse(data)
            box = f.find(parent)
            if box is not None:
                add_box(box, FreeSpaceBox(data=bytes(16)))
            fix_offsets(f).to_bytes()
        except BmffError:
            pass


def test_moving_moov_to_the_front_matches_ffmpeg_faststart(tmp_path):
    common = ["-fflags", "+bitexact"]
    plain = make_ffmpeg_file(tmp_path / "plain.mp4", common)
    fast = make_ffmpeg_file(tmp_path / "fast.mp4", common + ["-movflags", "+faststart"])
    f = bmff.parse(plain)
    assert hasattr(f.find("moov/trak/mdia/minf/stbl/stco"), "chunk_offset")
    assert [b.type for b in f.boxes] == ["ftyp", "free", "mdat", "moov"]
    moov = f.find("moov")
    remove_box(f, moov)
    add_box(f, moov, 1)
    write_with_fixed_offsets(f, tmp_path / "moved.mp4")
    assert (tmp_path / "moved.mp4").read_bytes() == fast.read_bytes()


@pytest.mark.parametrize("kind", ["faststart", "frag_keyframe+empty_moov+global_sidx", "dash", "heif"])
def test_fixing_an_unedited_file_changes_no_byte(tmp_path, kind):
    path = tmp_path / "x.mp4"
    if kind == "heif":
        _heif(path, alpha=True, metadata=True)
    else:
        make_ffmpeg_file(path, ["-f", "mp4", "-movflags", "+faststart" if kind == "faststart" else kind])
    assert fix_offsets(bmff.parse(path)).to_bytes() == path.read_bytes()


def test_written_file_gets_the_umask_default_or_keeps_the_replaced_files_mode(tmp_path):
    f = bmff.File([FileTypeBox(), MediaDataBox(data=b"x")])
    umask = os.umask(0o027)
    try:
        write_with_fixed_offsets(f, tmp_path / "new.mp4")  # a temporary file renamed into place: not 0600
        assert (tmp_path / "new.mp4").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
    old = tmp_path / "old.mp4"
    old.write_bytes(b"")
    old.chmod(0o604)
    write_with_fixed_offsets(f, old)
    assert old.stat().st_mode & 0o777 == 0o604 and old.read_bytes() == f.to_bytes()
