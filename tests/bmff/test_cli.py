"""`python -m bmff dump|validate`: output of every field, JSON structure, exit codes."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import bmff
from bmff.amd1.boxes import NNRConfigurationItemProperty
from bmff.box import UnknownBox
from bmff.boxes.file import FileTypeBox, MediaDataBox, MovieBox
from bmff.boxes.restricted import SchemeTypeBox
from bmff.cli import main
from bmff.nnr_units import NNR_LPS, NnrUnit, build_raw_float_bitstream, parse_units


def small_file(tmp_path, *boxes):
    path = tmp_path / "f.mp4"
    path.write_bytes(b"".join(b.to_bytes() for b in boxes))
    return path


@pytest.fixture
def sample(tmp_path):
    return small_file(tmp_path, FileTypeBox("isom", 512, ["isom", "avc1"]),
                      MovieBox(children=[UnknownBox(box_type="zzzz", data=bytes(range(100))),
                                         UnknownBox(box_type="mvhd", data=bytes(100))]),  # a version-0 mvhd
                      SchemeTypeBox("aSEI", 7, "urn:x", flags=1),
                      MediaDataBox(data=b"m" * 5000))


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_dump_text_shows_every_field(capsys, sample):
    rc, out, _ = run(capsys, "dump", str(sample))
    assert rc == 0
    assert "[ftyp] FileTypeBox offset=0 size=24" in out
    assert "compatible_brands = ['isom', 'avc1']" in out
    assert "  [zzzz] UnknownBox offset=32 size=108" in out  # nested one level under moov
    assert "data = <100 bytes: 00 01 02" in out and "…>" in out  # hex cut, full length given
    assert "scheme_uri = 'urn:x'" in out and "flags = 1" in out and "scheme_version = 7" in out
    assert "data = <lazy offset=" in out and "size=5000>" in out  # mdat never read


def test_dump_json_nested_structure(capsys, sample):
    rc, out, _ = run(capsys, "dump", "--json", "--max-bytes", "4", str(sample))
    assert rc == 0
    doc = json.loads(out)
    ftyp, moov, schm, mdat = doc["boxes"]
    assert ftyp["fields"] == {"major_brand": "isom", "minor_version": 512, "compatible_brands": ["isom", "avc1"]}
    child, mvhd = moov["fields"]["children"]
    assert mvhd["type"] == "mvhd" and mvhd["offset"] == 140
    assert child["type"] == "zzzz" and child["offset"] == 32 and child["size"] == 108
    assert child["fields"]["data"] == {"length": 100, "hex": "00010203"}
    assert schm["fields"]["scheme_type"] == "aSEI" and schm["fields"]["version"] == 0
    assert mdat["fields"]["data"] == {"lazy": True, "offset": mdat["offset"] + 8, "size": 5000}


def test_dump_marks_unparsed_versions_and_large_headers(capsys, tmp_path):
    schm_v3 = bytearray(SchemeTypeBox("aSEI", 1).to_bytes())
    schm_v3[8] = 3
    raw = FileTypeBox().to_bytes() + bytes(schm_v3) + bmff.box.write_header("mdat", 3, "large") + b"abc"
    path = tmp_path / "v.mp4"
    path.write_bytes(raw)
    rc, out, _ = run(capsys, "dump", str(path))
    assert rc == 0 and "[schm] UnknownBox" in out and "unparsed_version=3" in out
    assert "[mdat] MediaDataBox offset=" in out and "size=19 header_form=large" in out


def test_dump_unparseable_file_exits_2_with_one_line(capsys, tmp_path):
    path = tmp_path / "bad.mp4"
    path.write_bytes(FileTypeBox().to_bytes() + b"\x00\x00\x10\x00moov" + b"\0" * 8)
    rc, out, err = run(capsys, "dump", str(path))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "overflows its parent" in err and "offset 16" in err


def test_validate_exit_codes(capsys, sample, tmp_path):
    rc, out, _ = run(capsys, "validate", str(sample))
    assert rc == 0, out
    bad = small_file(tmp_path, MediaDataBox(data=b"x"), FileTypeBox())
    rc, out, _ = run(capsys, "validate", str(bad))
    assert rc == 1
    assert "error: [ftyp-first] mdat: the first box is 'mdat'" in out
    legacy = small_file(tmp_path, MovieBox(children=[UnknownBox(box_type="mvhd", data=bytes(100))]))
    rc, out, _ = run(capsys, "validate", str(legacy))
    assert rc == 0 and out.startswith("warning: [ftyp-first] moov: no 'ftyp' box")
    rc, _, err = run(capsys, "validate", str(tmp_path / "missing.mp4"))
    assert rc == 2 and "cannot open" in err


def test_validate_selected_check_and_list(capsys, tmp_path):
    bad = small_file(tmp_path, MediaDataBox(data=b"x"))
    rc, out, _ = run(capsys, "validate", "--check", "one-moov", str(bad))
    assert rc == 1 and "[one-moov]" in out and "[ftyp-first]" not in out
    rc, out, _ = run(capsys, "validate", "--list")
    assert rc == 0 and {"ftyp-first", "one-moov", "required-children"} <= set(out.split())
    rc, _, err = run(capsys, "validate", "--check", "no-such-check", str(bad))
    assert rc == 2 and "unknown check(s): no-such-check" in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_module_entry_point(sample):
    proc = subprocess.run([sys.executable, "-m", "bmff", "validate", str(sample)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bmff", "dump", str(sample) + ".nope"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("bmff dump: error: cannot open")


FIXTURES = Path(__file__).parent / "fixtures"


def test_dump_text_of_records_and_item_boxes(capsys):
    rc, out, _ = run(capsys, "dump", str(FIXTURES / "img.heic"))
    assert rc == 0
    # the fixture's one image is the whole mdat payload: its offset and length, read from the top-level headers
    raw, pos = (FIXTURES / "img.heic").read_bytes(), 0
    while raw[pos + 4 : pos + 8] != b"mdat":
        pos += struct.unpack(">I", raw[pos : pos + 4])[0]
    payload_start, payload_length = pos + 8, struct.unpack(">I", raw[pos : pos + 4])[0] - 8
    assert (f"    items: 1 entries\n      1: ItemLocation(item_ID=1, construction_method=0, data_reference_index=0, "
            f"base_offset={payload_start}, extents=[ItemLocationExtent(extent_offset=0, "
            f"extent_length={payload_length}, extent_index=0)]") in out
    assert "[ispe]" in out and "[pixi]" in out


def test_dump_lenient_shows_damage(capsys, tmp_path):
    raw = bytearray((FIXTURES / "hevc.mp4").read_bytes())
    at = raw.index(b"stsz") - 4
    raw[at : at + 4] = (4096).to_bytes(4, "big")  # overflows 'stbl'
    path = tmp_path / "broken.mp4"
    path.write_bytes(bytes(raw))
    rc, _, err = run(capsys, "dump", str(path))
    assert rc == 2
    rc, out, err = run(capsys, "dump", "--lenient", str(path))
    assert rc == 0 and "[stsz] DamagedBox" in out and "error = \"box 'stsz' of size 4096 overflows" in out
    assert err.startswith("bmff dump: error: [parse] moov/trak/mdia/minf/stbl: box 'stsz'")


def test_validate_json(capsys, tmp_path):
    bad = small_file(tmp_path, MediaDataBox(data=b"x"), FileTypeBox())
    rc, out, _ = run(capsys, "validate", "--json", str(bad))
    doc = json.loads(out)
    assert rc == 1 and doc["file"] == str(bad) and doc["errors"] == len(doc["findings"]) == 2
    assert doc["findings"][0] == {"check": "ftyp-first", "severity": "error", "path": "mdat",
                                  "message": "the first box is 'mdat'; 'ftyp' (or 'styp' for a segment) shall "
                                             "come first, only 'free'/'skip' may precede it"}


def test_dump_shows_nnr_units_by_their_own_fields(capsys, tmp_path):
    typed = parse_units(build_raw_float_bitstream([("w", [1], bytes(4))]))[:2]
    path = small_file(tmp_path, NNRConfigurationItemProperty.from_units([*typed, NnrUnit(NNR_LPS, body=b"\1\2")]))
    rc, out, _ = run(capsys, "dump", str(path))
    assert rc == 0
    assert "StartUnit(nnr_unit_type=0, independently_decodable_flag=1, partial_data_counter=None, " in out
    assert "general_profile_idc=0)" in out and "mps_quantization_method_flags=0" in out
    assert out.count("body=") == 1 and "NnrUnit(nnr_unit_type=2" in out and "body=<2 bytes: 01 02>" in out
    rc, out, _ = run(capsys, "dump", "--json", str(path))
    start, mps, lps = (u for a in json.loads(out)["boxes"][0]["fields"]["arrays"] for u in a["nnr_units"])
    assert "body" not in start and "body" not in mps and lps["body"] == {"length": 2, "hex": "0102"}


@pytest.mark.parametrize("content", [b"", b"abc"])
def test_dump_of_a_file_without_boxes_says_so_and_exits_1(tmp_path, content):
    path = tmp_path / "empty.bin"
    path.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "bmff", "dump", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1  # as validate, whose 'ftyp-first' check makes it an error
    assert proc.stderr == f"bmff dump: error: the file holds no boxes ({len(content)} bytes)\n"
    assert proc.stdout == ("trailing = <3 bytes: 61 62 63>\n" if content else "")


def test_non_printable_four_character_codes_are_escaped(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    proc = subprocess.run([sys.executable, "-m", "bmff", "dump", str(png)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.endswith("\n") and proc.stderr[:-1].isprintable(), proc.stderr
    assert "box '\\r\\n\\x1a\\n' of size 2303741511 overflows" in proc.stderr
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\0\0\0\x08\0\x01ab")  # a whole box whose type is not text
    for command, shown in (("dump", "[\\x00\\x01ab] UnknownBox offset=0"),
                           ("validate", "[ftyp-first] \\x00\\x01ab: no 'ftyp' box (the file starts with '\\x00")):
        proc = subprocess.run([sys.executable, "-m", "bmff", command, str(odd)], capture_output=True, text=True)
        assert all(line.isprintable() for line in proc.stdout.splitlines()) and shown in proc.stdout, proc.stdout
