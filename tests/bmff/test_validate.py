"""Structure checks: each rule has a file that breaks exactly it, and the registry takes outside checks."""

import copy
from pathlib import Path

import pytest

import bmff
from bmff import edit
from bmff.box import UnknownBox, write_header
from bmff.boxes.file import FileTypeBox, FreeSpaceBox, MediaDataBox, MovieBox
from bmff.boxes.meta import ItemLocation, ItemLocationExtent, ItemReferenceBox, SingleItemTypeReferenceBox
from bmff.boxes.restricted import SchemeTypeBox
from bmff.boxes.sample_groups import RollRecoveryEntry, SampleGroupDescriptionBox, SampleToGroupBox
from bmff.dump import file_lines
from bmff.testing import synth
from bmff.validate import CHECKS, DamagedBox, Finding, check, has_errors, parse_lenient, run_checks


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
    legacy = bmff.parse(MediaDataBox(data=b"x").to_bytes() + MovieBox(children=[MVHD]).to_bytes())
    (finding,) = run_checks(legacy)
    assert (finding.check, finding.severity, finding.path) == ("ftyp-first", "warning", "mdat")
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
    def outside(ctx):
        assert ctx.file.boxes[0].type == "ftyp"
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


# --------------------------------------------------------------------------------------------- movies

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = [100, 200, 300] * 10  # 30 samples, 3 per chunk except the last chunk


def movie(edit=None, sizes=SIZES):
    """A clean synthetic movie, optionally edited (edit(file) changes boxes in place), reparsed from bytes.
    The moov comes last, so edits that resize it move no media."""
    f = bmff.parse(b"".join(b.to_bytes() for b in synth.movie_boxes(sizes, 7, moov_last=True)))
    if edit:
        edit(f)
    return bmff.parse(f.to_bytes())


def stbl_of(f):
    return f.find("moov/trak/mdia/minf/stbl")


def add_stsc_run(f, first_chunk):
    stsc = stbl_of(f).find("stsc")
    for column, value in ((stsc.first_chunk, first_chunk), (stsc.samples_per_chunk, 1),
                          (stsc.sample_description_index, 1)):
        column.append(value)


def test_clean_synthetic_movie_has_no_findings():
    assert run_checks(movie()) == []


@pytest.mark.parametrize("edit, check, text", [
    (lambda f: stbl_of(f).find("stts").sample_count.__setitem__(0, 29), "sample-tables", "stts covers 29"),
    (lambda f: add_stsc_run(f, 9), "sample-tables", "beyond 5 chunks"),
    (lambda f: stbl_of(f).find("stsc").sample_description_index.__setitem__(0, 2), "sample-tables",
     "sample_description_index [2] but 'stsd' has 1 entries"),
    (lambda f: setattr(stbl_of(f).find("stss"), "sample_number", [5, 2]), "sample-tables",
     "not strictly increasing"),
    (lambda f: stbl_of(f).find("stco").chunk_offset.__setitem__(4, 1 << 20), "media-in-mdat",
     "runs past the end of the file"),
    (lambda f: stbl_of(f).find("stco").chunk_offset.__setitem__(0, 0), "media-in-mdat", "not inside one 'mdat'"),
    (lambda f: stbl_of(f).children.remove(stbl_of(f).find("stts")), "required-children", "'stbl' has no 'stts'"),
    (lambda f: f.find("moov/trak/tkhd").__setattr__("track_ID", 0), "track-ids", "a track has track_ID 0"),
    (lambda f: f.find("moov").children.append(f.find("moov/trak")), "track-ids", "track_ID 1 is used by 2 tracks"),
])
def test_each_track_rule_breaks_alone(edit, check, text):
    findings = run_checks(movie(edit))
    assert {x.check for x in findings} == {check}, [str(x) for x in findings]
    assert any(text in x.message for x in findings), [str(x) for x in findings]


def test_next_track_id_too_small_is_a_warning():
    (finding,) = run_checks(movie(lambda f: setattr(f.find("moov/mvhd"), "next_track_ID", 1)))
    assert (finding.check, finding.severity) == ("track-ids", "warning")
    assert "next_track_ID 1 is not larger than the largest track_ID in use (1)" in finding.message


def test_constant_size_table_claiming_billions_of_samples_is_cheap():
    def claim(f):
        stsz = stbl_of(f).find("stsz")
        stsz.sample_size, stsz.sample_count, stsz.entry_size = 1, 0xFFFFFFFF, []

    findings = run_checks(movie(claim))
    assert [x.check for x in findings] == ["sample-tables"] and "more than the limit" in findings[0].message


def fixture(name):
    return bmff.parse((FIXTURES / name).read_bytes())


def reparse(f):
    return bmff.parse(f.to_bytes())


def test_fragment_rules():
    f = fixture("frag.mp4")
    moofs = [b for b in f.boxes if b.type == "moof"]
    moofs[1].find("mfhd").sequence_number = 1
    moofs[0].find("traf/trun").data_offset += 1 << 16
    findings = run_checks(reparse(f))
    assert sorted((x.check, x.severity) for x in findings) == [("fragment-sequence", "warning"),
                                                               ("media-in-mdat", "error")]
    assert "fragment run at" in next(x.message for x in findings if x.check == "media-in-mdat")
    g = fixture("frag.mp4")
    for moof in (b for b in g.boxes if b.type == "moof"):
        moof.find("traf/tfhd").track_ID = 5
    assert {x.check for x in run_checks(reparse(g))} == {"track-ids"}


@pytest.mark.parametrize("edit, check, text", [
    (lambda m: setattr(m.find("pitm"), "item_ID", 7), "item-ids", "'pitm' names item 7"),
    (lambda m: m.find("iinf").children.append(m.find("iinf/infe")), "item-ids", "declared more than once"),
    (lambda m: setattr(m.find("iloc").items[0].extents[0], "extent_length", 5000), "iloc-extents",
     "runs past the file"),
    (lambda m: setattr(m.find("iloc").items[0], "construction_method", 1) or setattr(m.find("iloc"), "version", 1),
     "iloc-extents", "stored in 'idat' but the meta has none"),
    (lambda m: setattr(m.find("iprp/ipma").entries[0].associations[0], "property_index", 9), "ipma-properties",
     "property index(es) [9]; 'ipco' holds 3"),
])
def test_each_item_rule_breaks_alone(edit, check, text):
    f = fixture("img.heic")
    edit(f.find("meta"))
    findings = run_checks(reparse(f))
    assert {x.check for x in findings} == {check}, [str(x) for x in findings]
    assert any(text in x.message for x in findings), [str(x) for x in findings]


def test_iref_to_undeclared_item():
    f = fixture("img.heic")
    f.find("meta").children.append(ItemReferenceBox([SingleItemTypeReferenceBox("thmb", 1, [42])]))
    (finding,) = run_checks(reparse(f))
    assert finding.check == "item-ids" and "undeclared item(s) [42]" in finding.message


def test_real_fixtures_are_clean():
    for p in sorted(FIXTURES.iterdir()):
        if p.suffix != ".md":
            assert not has_errors(run_checks(bmff.parse(p))), p.name


def test_items_built_from_each_other():
    f = fixture("img.heic")
    meta = f.find("meta")
    second = copy.deepcopy(meta.find("iinf/infe"))
    second.item_ID = 2
    meta.find("iinf").children.append(second)
    iloc = meta.find("iloc")
    iloc.version = 1
    iloc.items = [ItemLocation(i, 2, extents=[ItemLocationExtent(0, 10)]) for i in (1, 2)]
    meta.children.append(ItemReferenceBox([SingleItemTypeReferenceBox("iloc", 1, [2]),
                                           SingleItemTypeReferenceBox("iloc", 2, [1])]))
    (finding,) = run_checks(reparse(f))
    assert finding.check == "iloc-cycles" and "items 1 -> 2 -> 1 (2 items) are built from each other" in finding.message


def test_lenient_damage_of_a_huge_truncated_mdat_is_never_read(tmp_path):
    path = tmp_path / "cut.mp4"
    with open(path, "wb") as fp:  # an mdat header promising 8 GB, then 100 MB of (sparse) data
        fp.write(FileTypeBox().to_bytes() + write_header("mdat", 8 << 30, "large"))
        fp.truncate(100 << 20)
    f, damage = parse_lenient(path)
    assert len(damage) == 1 and "overflows" in damage[0].message
    lines = list(file_lines(f))
    assert "[mdat] DamagedBox offset=16 size=104857584" in lines
    assert "  data = <lazy offset=16 size=104857584>" in lines
    with pytest.raises(ValueError):
        Finding("x", "y", severity="fatal")


def with_groups(f, sbgp_indices, sgpd_entries=1, counts=None, grouping_type="roll"):
    stbl = stbl_of(f)
    counts = counts or [1] * len(sbgp_indices)
    stbl.children.append(SampleToGroupBox(grouping_type, 0, counts, sbgp_indices))
    stbl.children.append(SampleGroupDescriptionBox("roll", 2, entries=[RollRecoveryEntry(-1)] * sgpd_entries))


@pytest.mark.parametrize("edit, text", [
    (lambda f: with_groups(f, [1, 2]), "refers to description 2; the 'sgpd' of the track's 'stbl' has 1"),
    (lambda f: with_groups(f, [1], counts=[31]), "'sbgp' 'roll' maps 31 samples; there are 30"),
    (lambda f: with_groups(f, [1], grouping_type="prol"), "'sbgp' of grouping_type 'prol' has no 'sgpd'"),
    (lambda f: with_groups(f, [0x10001]), "fragment-local index 65537 outside a movie fragment"),
])
def test_sample_group_rules(edit, text):
    assert run_checks(movie(lambda f: with_groups(f, [1, 0, 1], counts=[10, 10, 10]))) == []
    findings = run_checks(movie(edit))
    assert [x.check for x in findings] == ["sample-groups"] and text in findings[0].message, findings


def test_fragment_local_sample_group_indices():
    f = fixture("frag.mp4")
    traf = next(b for b in f.boxes if b.type == "moof").find("traf")
    traf.children += [SampleToGroupBox("roll", 0, [5], [0x10001]),
                      SampleGroupDescriptionBox("roll", 2, entries=[RollRecoveryEntry(1)])]
    assert run_checks(reparse(edit.fix_offsets(f))) == []  # the grown moof moves the media: fix offsets
    traf.children[-2].group_description_index = [0x10002]
    (finding,) = run_checks(reparse(edit.fix_offsets(f)))
    assert "refers to description 2; the 'sgpd' of this 'traf' has 1" in finding.message


def test_a_check_lists_at_most_its_cap_and_counts_the_rest(monkeypatch):
    """A mistake repeated past MAX_FINDINGS_PER_CHECK (a hostile 'ipma' repeats one item_ID 300,000 times) is
    listed that many times, then one finding of the check's worst severity counts the rest."""
    from bmff import validate

    monkeypatch.setattr(validate, "MAX_FINDINGS_PER_CHECK", 3)
    monkeypatch.setitem(validate.CHECKS, "repeat",
                        lambda ctx: [validate.Finding("repeat", f"n{i}", severity=s)
                                     for i, s in enumerate(["note"] * 4 + ["warning"] + ["note"])])
    findings = validate.run_checks(bmff.parse(FreeSpaceBox().to_bytes()), ["repeat"])
    assert [x.message for x in findings] == ["n0", "n1", "n2", "… and 3 more finding(s) of this check, not listed"]
    assert findings[-1].severity == "warning"
