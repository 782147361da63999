"""Structure checks: each rule has a file that breaks exactly it, and the registry takes outside checks."""

import pytest

import bmff
from bmff.box import UnknownBox, write_header
from bmff.boxes.file import FileTypeBox, FreeSpaceBox, MediaDataBox, MovieBox
from bmff.boxes.restricted import SchemeTypeBox
from bmff.validate import (CHECKS, DamagedBox, Finding, check, has_errors, parse_lenient, run_checks)


def raw_box(box_type, body=b""):
    return write_header(box_type, len(body)) + body


def names(findings, severity="error"):
    return sorted({f.check for f in findings if f.severity == severity})


MVHD = UnknownBox(box_type="mvhd", data=bytes(100))


def test_ftyp_first_and_free_before_it_allowed():
    ok = bmff.parse(FreeSpaceBox(data=b"").to_bytes() + FileTypeBox().to_bytes()
                    + MovieBox(children=[MVHD]).to_bytes())
    assert run_checks(ok) == []
    styp = bmff.parse(raw_box("styp", b"msdh\0\0\0\0") + raw_box("moof", raw_box("mfhd", bytes(8))))
    assert names(run_checks(styp, ["ftyp-first"])) == []
    late = bmff.parse(MovieBox(children=[MVHD]).to_bytes() + FileTypeBox().to_bytes())
    assert names(run_checks(late)) == ["ftyp-first"]
    two = bmff.parse(FileTypeBox().to_bytes() * 2 + MovieBox(children=[MVHD]).to_bytes())
    assert [f.message for f in run_checks(two)] == ["2 'ftyp' boxes; a file has exactly one"]


def test_one_moov():
    moov = MovieBox(children=[MVHD]).to_bytes()
    two = bmff.parse(FileTypeBox().to_bytes() + moov + moov)
    assert [f.message for f in run_checks(two)] == ["2 top-level 'moov' boxes; a file has at most one"]
    none = bmff.parse(FileTypeBox().to_bytes() + MediaDataBox(data=b"x").to_bytes())
    assert names(run_checks(none)) == ["one-moov"]


def test_required_children_named_with_paths():
    f = bmff.parse(FileTypeBox().to_bytes() + MovieBox(children=[MVHD, MVHD]).to_bytes())
    (finding,) = run_checks(f)
    assert finding == Finding("required-children", "'moov' has 2 'mvhd' boxes; exactly one is allowed", "moov[0]")


def test_unknown_version_is_a_note_not_an_error():
    schm = bytearray(SchemeTypeBox("aSEI", 1).to_bytes())
    schm[8] = 9
    f = bmff.parse(FileTypeBox().to_bytes() + MovieBox(children=[MVHD]).to_bytes() + bytes(schm))
    findings = run_checks(f)
    assert not has_errors(findings)
    assert [(x.check, x.severity, x.path) for x in findings] == [("unknown-version", "note", "schm[0]")]
    assert "version 9 of 'schm' is not known" in str(findings[0])


def test_registry_takes_outside_checks_yielding_strings():
    @check("test-outside")
    def outside(f):
        yield "plain message"
        raise bmff.BmffError("box unreadable", 5, "moov")

    try:
        found = run_checks(bmff.parse(FileTypeBox().to_bytes()), ["test-outside"])
        assert found == [Finding("test-outside", "plain message"),
                         Finding("test-outside", "could not be checked: box unreadable", "moov")]
        with pytest.raises(ValueError):
            check("test-outside")(lambda f: [])
    finally:
        del CHECKS["test-outside"]


def test_lenient_parse_records_damage_and_keeps_bytes():
    good = FileTypeBox().to_bytes()
    schm_short = raw_box("schm", b"\0\0\0\0ab")  # fourcc cut short: the box body cannot be read
    moov = raw_box("moov", MVHD.to_bytes() + schm_short)
    overflow = b"\0\0\1\0free" + b"tail"
    raw = good + moov + overflow
    with pytest.raises(bmff.BmffError):
        bmff.parse(raw)
    f, damage = parse_lenient(raw)
    assert [d.check for d in damage] == ["parse", "parse"]
    assert damage[0].path == "moov/schm" and "needs 4 bytes" in damage[0].message
    assert "overflows its parent" in damage[1].message
    moov_box, tail = f.boxes[1], f.boxes[2]
    assert moov_box.type == "moov" and isinstance(moov_box.boxes[1], DamagedBox)
    assert isinstance(tail, DamagedBox) and tail.type == "free"
    assert f.to_bytes() == raw  # nothing lost


def test_lenient_parse_of_truncated_mdat_keeps_what_is_there(tmp_path):
    raw = FileTypeBox().to_bytes() + raw_box("mdat", b"x" * 1000)[:500]
    path = tmp_path / "t.mp4"
    path.write_bytes(raw)
    f, damage = parse_lenient(path)
    assert len(damage) == 1 and f.to_bytes() == raw
