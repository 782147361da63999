"""The amendment on real ffmpeg files: a post-filter attached to H.264 and HEVC tracks passes validate, the
4.19.7 reconstruction decodes to the same frames with the SEI NAL units where the clause puts them, and every
rule has a file that breaks exactly it."""

import shutil
import struct
import subprocess

import pytest
from media_testing import ffprobe_packets

import bmff
from bmff import amd1, edit, validate
from bmff.amd1.boxes import (
    NfcsGroupingParameter,
    NnpfcSeiSampleGroupEntry,
    NNRConfigurationItemProperty,
    NnrUnitArray,
    SeiInformationBox,
)
from bmff.amd1.nal import annexb
from bmff.amd1.sei import NNPFC_PAYLOAD_TYPE, SeiMessage, nnpfc_sei, parse_sei_nal, sei_payload_types
from bmff.boxes.meta import ItemInfoEntry
from bmff.nnr_units import NNR_AGG, NnrUnit, StartUnit, build_raw_float_bitstream

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

CODECS = {"avc": ["-c:v", "libx264", "-g", "4"],
          "hevc": ["-c:v", "libx265", "-x265-params", "log-level=error:keyint=4", "-tag:v", "hvc1"]}
BITSTREAM = build_raw_float_bitstream([("conv1.weight", [2, 3], struct.pack("<6f", *range(6)))])


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("amd1")
    out = {}
    for codec, args in CODECS.items():
        path = folder / f"{codec}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1",
                        *args, "-movflags", "+faststart", str(path)], check=True)
        out[codec] = path
    return out


def _frame_hashes(path, fmt=None) -> list[str]:
    cmd = ["ffmpeg", "-v", "error", *(["-f", fmt] if fmt else []), "-i", str(path), "-f", "framemd5", "-"]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    return [line.split(",")[-1].strip() for line in lines if line and not line.startswith("#")]


def _annotated(path, update=False) -> bmff.File:
    f = bmff.parse(path)
    base = amd1.add_post_filter(f, BITSTREAM)
    if update:
        amd1.add_post_filter(f, BITSTREAM, base_item=base)
    return f


def _reparsed(f: bmff.File) -> bmff.File:
    return bmff.parse(edit.fix_offsets(f).to_bytes())


def _failing(f: bmff.File) -> set[str]:
    return {x.check for x in validate.run_checks(_reparsed(f)) if x.severity == "error"}


@pytest.mark.parametrize("codec", CODECS)
def test_attached_post_filter_is_valid_and_round_trips(sources, tmp_path, codec):
    out = tmp_path / "out.mp4"
    f = _annotated(sources[codec], update=True)
    edit.write_with_fixed_offsets(f, out)
    g = bmff.parse(out)
    assert g.to_bytes() == out.read_bytes()
    assert [x for x in validate.run_checks(g) if x.severity == "error"] == []
    entry = g.find("moov/trak/mdia/minf/stbl/stsd").boxes[0]
    assert entry.type == "resv" and entry.find("rinf/frma").data_format in ("avc1", "hvc1")
    assert entry.find("rinf/schi/seii").requiredSEI_ID == [NNPFC_PAYLOAD_TYPE]
    meta = g.find("meta")
    assert sorted(amd1.item_types(meta).values()) == ["nnr1", "nnr1"]
    assert list(amd1.references(meta, "pred")) == [(2, [1])]
    assert amd1.nnr_bitstream(g, meta, 1) == BITSTREAM


@pytest.mark.parametrize("codec", CODECS)
def test_reconstruction_decodes_to_the_same_frames_with_sei_on_sync_samples(sources, tmp_path, codec):
    f = _reparsed(_annotated(sources[codec]))
    trak = f.find("moov/trak")
    entry = amd1.sample_entries(trak)[0]
    samples = bmff.tracks.samples(trak)
    rebuilt = list(amd1.reconstruct_track(f, trak))
    raw = tmp_path / "stream.bin"
    raw.write_bytes(annexb(amd1.parameter_sets(entry)) + b"".join(annexb(nals) for nals in rebuilt))
    assert _frame_hashes(raw, "h264" if codec == "avc" else "hevc") == _frame_hashes(sources[codec])
    for s, nals in zip(samples, rebuilt):
        has = NNPFC_PAYLOAD_TYPE in sei_payload_types(codec, nals)
        assert has == (s.sync or s.number == 1), s.number
        if has:
            msgs = [m for n in nals for m in _sei(codec, n) if m.payload_type == NNPFC_PAYLOAD_TYPE]
            assert len(msgs) == 1 and msgs[0].payload.endswith(BITSTREAM)


def _sei(codec, nal):
    try:
        return parse_sei_nal(codec, nal)
    except bmff.BmffError:
        return []


# --------------------------------------------------------------------------------------------- rule breakers


def _entry(f):
    return f.find("moov/trak/mdia/minf/stbl/stsd").boxes[0]


def _stbl(f):
    return f.find("moov/trak/mdia/minf/stbl")


def _nfcs_entry(f):
    return amd1.sgpd_entries(f.find("moov/trak"), "nfcs")[0]


def _sbgp(f):
    return amd1.sbgps(f.find("moov/trak"), "nfcs")[0]


def _seii_in_entry(f):
    _entry(f).children.append(SeiInformationBox([NNPFC_PAYLOAD_TYPE], []))


def _no_seii(f):
    schi = _entry(f).find("rinf/schi")
    schi.children.clear()


def _sbgp_v0(f):
    sbgp = _sbgp(f)
    sbgp.version, sbgp.grouping_type_parameter = 0, 0


def _two_sbgps(f):
    sbgp = _sbgp(f)
    _stbl(f).children.append(type(sbgp)(sbgp.grouping_type, sbgp.grouping_type_parameter, list(sbgp.sample_count),
                                        list(sbgp.group_description_index), version=1))


def _update_without_base(f):
    _sbgp(f).grouping_type_parameter = NfcsGroupingParameter(1, 1).to_int()
    _nfcs_entry(f).nnpfc_sei_data_byte = nnpfc_sei(1, b"", nnpfc_base_flag=0)


def _id_mismatch(f):
    _nfcs_entry(f).nnpfc_sei_data_byte = nnpfc_sei(7, b"")


def _two_items(f):
    _nfcs_entry(f).item_id.append(1)


def _item_not_nnr1(f):
    next(e for e in f.find("meta/iinf").boxes if isinstance(e, ItemInfoEntry)).item_type = "mime"


def _payload_included(f):
    _nfcs_entry(f).nnpfc_sei_data_byte = nnpfc_sei(1, BITSTREAM)


def _wrong_payload_type(f):
    e = _nfcs_entry(f)
    e.nnpfc_sei_data_byte = SeiMessage(211, b"\x80").to_bytes()


def _ndu_in_nnrc(f):
    prop = next(p for p in amd1.properties(f.find("meta")) if isinstance(p, NNRConfigurationItemProperty))
    agg = NnrUnit(NNR_AGG, body=b"\x00")  # a unit type the item data does not hold, so only this rule breaks
    prop.arrays.append(NnrUnitArray(NNR_AGG, [agg]))


def _str_in_item_data(f):
    idat = f.find("meta/idat")
    extra = StartUnit(general_profile_idc=0).to_bytes()
    idat.data = extra + bytes(idat.data)
    f.find("meta/iloc").items[0].extents[0].extent_length += len(extra)


def _pred_to_mime(f):
    meta = f.find("meta")
    other = amd1.add_item(meta, "mime", b"{}", "config", content_type="application/json")
    amd1.add_reference(meta, "pred", 1, [other])


BREAKERS = {
    "seii-in-sample-entry-not-required": _seii_in_entry,
    "aSEI-seii-mandatory": _no_seii,
    "nfcs-sbgp-parameter": _sbgp_v0,
    "nfcs-sbgp-unique": _two_sbgps,
    "nfcs-update-needs-base": _update_without_base,
    "nfcs-parameter-matches-sei": _id_mismatch,
    "nfcs-num-items": _two_items,
    "nfcs-item-is-nnr1": _item_not_nnr1,
    "nfcs-item-payload-excluded": _payload_included,
    "nfcs-one-nnpfc-message": _wrong_payload_type,
    "nnrC-unit-types": _ndu_in_nnrc,
    "nnr1-data-unit-types": _str_in_item_data,
    "nnr1-pred-references-nnr1": _pred_to_mime,
    "nfcs-reaches-samples": lambda f: setattr(_sbgp(f), "group_description_index", [0]),
}


@pytest.mark.parametrize("rule", BREAKERS)
def test_each_rule_has_a_file_that_breaks_exactly_it(sources, rule):
    f = _annotated(sources["avc"])
    assert _failing(f) == set()
    BREAKERS[rule](f)
    assert _failing(f) == {rule}


def _with_hvcc_sei(f, payload_type: int, payload: bytes) -> None:
    """Append one prefix SEI NAL unit holding one message to the HEVC entry's hvcC NAL unit arrays."""
    hvcc = _entry(f).find("hvcC")
    sei_nal = b"\x4e\x01" + SeiMessage(payload_type, payload).to_bytes() + b"\x80"
    data = bytearray(hvcc.data)
    data[22] += 1
    data += bytes([39]) + (1).to_bytes(2, "big") + len(sei_nal).to_bytes(2, "big") + sei_nal
    hvcc.data = bytes(data)


def _manifest(*entries) -> bytes:
    return len(entries).to_bytes(2, "big") + b"".join(t.to_bytes(2, "big") + bytes([d]) for t, d in entries)


HEVC_BREAKERS = {
    "nfcs-no-nnpfc-in-track": (NNPFC_PAYLOAD_TYPE, nnpfc_sei(1, b"")[2:]),
    # declares NNPFC and NNPFA necessary while 'seii' requires NNPFC only
    "aSEI-manifest-consistency": (200, _manifest((NNPFC_PAYLOAD_TYPE, 1), (211, 1))),
    # consistent with 'seii', but NNPFC is listed without an NNPFA entry
    "manifest-nnpfa-entry": (200, _manifest((NNPFC_PAYLOAD_TYPE, 1))),
    # prefix_sei_payload_type 210, one indication of 8 bits (less than nnpfc_purpose), alignment ones
    "prefix-indication-nnpfc-purpose": (201, bytes([0, 210, 0, 0, 7, 0xAB])),
}


@pytest.mark.parametrize("rule", HEVC_BREAKERS)
def test_sample_entry_sei_rules(sources, rule):
    f = _annotated(sources["hevc"])
    _with_hvcc_sei(f, *HEVC_BREAKERS[rule])
    assert _failing(f) == {rule}


def test_consistent_manifest_passes(sources):
    f = _annotated(sources["hevc"])
    _with_hvcc_sei(f, 200, _manifest((NNPFC_PAYLOAD_TYPE, 1), (211, 0)))
    assert _failing(f) == set()


# --------------------------------------------------------------------------------------------- carriers


def _ffmpeg(path, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "0.5",
                    *args, str(path)], check=True)
    return path


def test_a_track_that_cannot_carry_nnpfc_sei_is_refused_and_left_as_it_was(tmp_path):
    path = _ffmpeg(tmp_path / "mp4v.mp4", "-c:v", "mpeg4")
    f = bmff.parse(path)
    with pytest.raises(bmff.BmffError, match=r"track 1 cannot carry NNPFC SEI: its sample entries are \['mp4v'\]"):
        amd1.add_post_filter(f, BITSTREAM)
    assert f.to_bytes() == path.read_bytes()


def test_the_refusal_is_one_user_error_line_in_spritejax_export(tmp_path):
    from spritejax import config, export
    from spritejax.errors import UserError

    f = bmff.parse(_ffmpeg(tmp_path / "mp4v.mp4", "-c:v", "mpeg4"))
    with pytest.raises(UserError, match="^cannot add the model: track 1 cannot carry NNPFC SEI") as e:
        export._add_model(f, BITSTREAM, config.load("tiny"), embedded=True)
    assert "\n" not in str(e.value)


def test_an_encrypted_avc_track_is_restricted_inside_its_protection(tmp_path):
    key = "00112233445566778899aabbccddeeff"
    path = _ffmpeg(tmp_path / "encv.mp4", "-c:v", "libx264", "-encryption_scheme", "cenc-aes-ctr",
                   "-encryption_key", key, "-encryption_kid", key)
    f = bmff.parse(path)
    amd1.add_post_filter(f, BITSTREAM)
    g = _reparsed(f)
    entry = _entry(g)
    assert (entry.type, entry.find("sinf/frma").data_format, entry.find("rinf/frma").data_format) == \
        ("encv", "resv", "avc1")
    assert amd1.entry_codec(entry) == "avc"
    assert entry.find("rinf/schi/seii").requiredSEI_ID == [NNPFC_PAYLOAD_TYPE]
    amd1.unwrap_restricted(entry)
    assert entry.find("sinf/frma").data_format == "avc1" and entry.find("rinf") is None


# --------------------------------------------------------------------------------------------- fragmented


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory):
    """H.264 in four movie fragments behind an empty 'moov' (ffmpeg frag_keyframe+empty_moov), 20 samples."""
    return _ffmpeg(tmp_path_factory.mktemp("frag") / "frag.mp4", "-t", "2", "-c:v", "libx264", "-g", "5",
                   "-movflags", "frag_keyframe+empty_moov")


def test_post_filter_on_a_fragmented_file_maps_every_fragment_sample(fragmented, tmp_path):
    out = tmp_path / "out.mp4"
    f = bmff.parse(fragmented)
    base = amd1.add_post_filter(f, BITSTREAM)
    amd1.add_post_filter(f, BITSTREAM, base_item=base)
    edit.write_with_fixed_offsets(f, out)
    g = bmff.parse(out)
    assert [str(x) for x in validate.run_checks(g) if x.severity == "error"] == []
    trak = g.find("moov/trak")
    assert amd1.sbgps(trak, "nfcs") == [] and len(amd1.track_fragments(g, trak)) == 4
    for traf, n in amd1.track_fragments(g, trak):  # each fragment's own sgpd, indices 0x10000 + i (8.9.4)
        assert [(amd1.grouping_parameter(b), list(b.sample_count), list(b.group_description_index))
                for b in amd1.sbgps(traf, "nfcs")] == [(NfcsGroupingParameter(0, 1), [n], [0x10001]),
                                                       (NfcsGroupingParameter(1, 1), [n], [0x10002])]
        assert [e.item_id for e in amd1.sgpd_entries(traf, "nfcs")] == [[1], [2]]
    groups = amd1.nfcs_groups(g, trak)
    assert groups[NfcsGroupingParameter(0, 1)] == [1] * 5 + [3] * 5 + [5] * 5 + [7] * 5
    # ffprobe finds the same packets behind the grown 'moof's; with 'resv' undone they decode to the same frames
    assert [(p["size"], p["key"]) for p in ffprobe_packets(out, 0)] == \
        [(p["size"], p["key"]) for p in ffprobe_packets(fragmented, 0)]
    amd1.unwrap_restricted(amd1.sample_entries(trak)[0])
    plain = tmp_path / "plain.mp4"
    edit.write_with_fixed_offsets(g, plain)  # the smaller sample entry moves every fragment
    assert _frame_hashes(plain) == _frame_hashes(fragmented)


def test_fragmented_reconstruction_puts_nnpfc_on_every_fragment_sync_sample(fragmented, tmp_path):
    f = _reparsed(_annotated(fragmented))
    trak = f.find("moov/trak")
    samples = amd1.track_samples(f, trak)
    rebuilt = list(amd1.reconstruct_track(f, trak))
    assert len(rebuilt) == len(samples) == 20
    raw = tmp_path / "stream.h264"
    raw.write_bytes(annexb(amd1.parameter_sets(amd1.sample_entries(trak)[0])) + b"".join(annexb(n) for n in rebuilt))
    assert _frame_hashes(raw, "h264") == _frame_hashes(fragmented)
    with_sei = [s.number for s, nals in zip(samples, rebuilt) if NNPFC_PAYLOAD_TYPE in sei_payload_types("avc", nals)]
    assert with_sei == [s.number for s in samples if s.sync] == [1, 6, 11, 16]


def test_a_post_filter_that_reaches_no_sample_is_an_error(fragmented):
    """What add_post_filter used to write for a fragmented file: an 'nfcs' group in the empty moov only."""
    f = bmff.parse(fragmented)
    amd1.add_post_filter(f, BITSTREAM)
    trak = f.find("moov/trak")
    for traf, _ in amd1.track_fragments(f, trak):
        traf.children[:] = [b for b in traf.children if b.type not in ("sbgp", "sgpd")]
    entry = NnpfcSeiSampleGroupEntry("nnet", [1], nnpfc_sei(1, b""))
    amd1.add_nfcs_group(trak, entry, NfcsGroupingParameter(0, 1))
    findings = [x for x in validate.run_checks(_reparsed(f)) if x.severity == "error"]
    assert [x.check for x in findings] == ["nfcs-reaches-samples"]
    assert "'nfcs' entry 1 is mapped to no sample (counting the movie's 'sgpd', then" in findings[0].message
