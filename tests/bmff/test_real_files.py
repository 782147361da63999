"""Real files from ffmpeg and heif-enc: byte-exact round trips, clean validation, and dumped fields that agree
with what ffprobe and mediainfo print for the same file. Skipped cleanly where a tool is not installed."""

import json
import shutil
import subprocess
from fractions import Fraction

import pytest

import bmff
from bmff import tracks
from bmff.dump import file_json
from bmff.validate import has_errors, run_checks

VIDEO = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"]
H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5"]
REAL_FILES = {  # name -> ffmpeg arguments (the HEIF images are made by heif-enc from PNGs: HEIF_FILES)
    "h264.mp4": VIDEO + AUDIO + H264 + ["-c:a", "aac", "-shortest"],
    "hevc.mp4": VIDEO + ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1",
                         "-pix_fmt", "yuv420p"],
    "faststart.mp4": VIDEO + H264 + ["-movflags", "+faststart"],
    "frag.mp4": VIDEO + H264 + ["-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    # two trafs per moof, explicit base_data_offset in tfhd
    "frag_av.mp4": VIDEO + AUDIO + H264 + ["-c:a", "aac", "-shortest", "-movflags", "frag_keyframe+empty_moov"],
    "q.mov": VIDEO + AUDIO + H264 + ["-c:a", "aac", "-shortest"],
}
VIDEO_FILES = sorted(REAL_FILES)
HEIF_FILES = {  # name -> (PNG size, heif-enc options); an encoder the local libheif lacks is skipped
    "img.heic": (64, []),
    "thumb.heic": (256, ["-t", "64"]),  # a thumbnail item with a 'thmb' reference
    "img.avif": (64, ["-A"]),
}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """name -> path of every real file this machine can make."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("real")
    paths = {}
    for name, args in REAL_FILES.items():
        paths[name] = folder / name
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-t", "1", str(paths[name])], check=True)
    if shutil.which("heif-enc"):
        for name, (size, options) in HEIF_FILES.items():
            png = folder / f"{size}.png"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}x{size}",
                            "-frames:v", "1", str(png)], check=True)
            made = subprocess.run(["heif-enc", "-q", "50", *options, str(png), "-o", str(folder / name)],
                                  capture_output=True)
            if made.returncode == 0:
                paths[name] = folder / name
    return paths


def path_of(real, name):
    if name not in real:
        pytest.skip(f"{name} could not be made here (tool missing)")
    return real[name]


def ffprobe(path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def mediainfo(path):
    if shutil.which("mediainfo") is None:
        pytest.skip("mediainfo is not installed")
    out = subprocess.run(["mediainfo", "--Output=JSON", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["media"]["track"]


def nodes(doc, box_type=None):
    """Every box node (of a type) in a `bmff dump --json` document, depth first."""
    found = []

    def visit(value):
        if isinstance(value, dict):
            if "fields" in value and box_type in (None, value.get("type")):
                found.append(value)
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    visit(doc)
    return found


def dumped_tracks(doc):
    """Per 'trak' node of the dump: the nodes of its boxes by type (first of each)."""
    out = []
    for trak in nodes(doc, "trak"):
        out.append({t: (nodes(trak, t) or [None])[0]
                    for t in ("tkhd", "elst", "mdhd", "hdlr", "stsd", "stsz", "stts")})
    return out


# --------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", VIDEO_FILES + sorted(HEIF_FILES))
def test_round_trip_byte_exact(real, name, tmp_path):
    path = path_of(real, name)
    raw = path.read_bytes()
    f = bmff.parse(path)
    assert f.to_bytes() == raw
    f.write(tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == raw
    with open(path, "rb") as fp:  # a file object parses the same as a path and as bytes
        assert bmff.parse(fp) == f == bmff.parse(raw)


@pytest.mark.parametrize("name", VIDEO_FILES + sorted(HEIF_FILES))
def test_real_files_validate_clean_and_dump(real, name):
    f = bmff.parse(path_of(real, name))
    findings = run_checks(f)
    assert not has_errors(findings), [str(x) for x in findings]
    doc = json.loads(json.dumps(file_json(f)))
    assert [b["type"] for b in doc["boxes"]] == [b.type for b in f.boxes]
    assert [n["type"] for n in nodes(doc)] == [b.type for b in f.walk()]  # every box is in the dump


# --------------------------------------------------------------------------------------------- ffprobe


@pytest.mark.parametrize("name", VIDEO_FILES)
def test_streams_agree_with_ffprobe(real, name):
    path = path_of(real, name)
    probe = ffprobe(path)
    f = bmff.parse(path)
    doc = file_json(f)
    dumped = dumped_tracks(doc)
    assert len(dumped) == len(probe["streams"]) == int(probe["format"]["nb_streams"])
    assert int(probe["format"]["size"]) == sum(b["size"] for b in doc["boxes"])
    (mvhd,) = nodes(doc, "mvhd")
    movie_timescale = mvhd["fields"]["timescale"]
    assert float(probe["format"]["duration"]) == pytest.approx(mvhd["fields"]["duration"] / movie_timescale,
                                                               abs=1e-3) or mvhd["fields"]["duration"] == 0
    for stream, t in zip(probe["streams"], dumped):
        tkhd, mdhd, hdlr = t["tkhd"]["fields"], t["mdhd"]["fields"], t["hdlr"]["fields"]
        assert int(stream["id"], 16) == tkhd["track_ID"]
        assert Fraction(stream["time_base"]) == Fraction(1, mdhd["timescale"])
        assert stream["codec_type"] == {"vide": "video", "soun": "audio"}[hdlr["handler_type"]]
        if hdlr["name"] is not None:  # None: the box holds no name (QuickTime's counted string is read too)
            assert stream["tags"]["handler_name"] == hdlr["name"]
        (entry,) = t["stsd"]["fields"]["children"]
        assert stream["codec_tag_string"] == entry["type"]
        if stream["codec_type"] == "video":
            assert (stream["width"], stream["height"]) == (tkhd["width"] >> 16, tkhd["height"] >> 16)
            assert (stream["width"], stream["height"]) == (entry["fields"]["width"], entry["fields"]["height"])
        else:
            assert int(stream["sample_rate"]) == entry["fields"]["samplerate"] >> 16
            if f.boxes[0].major_brand == "qt  ":  # ffmpeg's ISO files keep the template value 2 here
                assert stream["channels"] == entry["fields"]["channelcount"]
        track_ID = tkhd["track_ID"]
        fragmented = list(tracks.fragment_samples(f, track_ID))
        if fragmented:  # ffprobe sums the fragments' durations; the empty moov says 0
            assert mdhd["duration"] == 0 and t["stsz"]["fields"]["sample_count"] == 0
            assert stream["duration_ts"] == sum(_fragment_durations(f, track_ID))
        else:
            assert int(stream["nb_frames"]) == t["stsz"]["fields"]["sample_count"]
            stts = t["stts"]["fields"]
            assert mdhd["duration"] == sum(c * d for c, d in zip(stts["sample_count"], stts["sample_delta"]))
            if t["elst"] is None:
                assert stream["duration_ts"] == mdhd["duration"]
            else:  # the edit list (in movie time units) is what ffprobe reports
                edits = sum(t["elst"]["fields"]["segment_duration"])
                assert stream["duration_ts"] == edits * mdhd["timescale"] // movie_timescale


def _fragment_durations(f, track_ID):
    times = [s.decode_time for s in tracks.fragment_samples(f, track_ID)]
    last_run = [r for r in tracks.runs(f, track_ID)][-1]
    last = last_run.trun.sample_duration[-1] if last_run.trun.sample_duration else \
        last_run.traf.find("tfhd").default_sample_duration
    return [b - a for a, b in zip(times, times[1:])] + [last]


def ffprobe_packets(path):
    """(stream index, pos, size, keyframe) of every packet, in file order per stream."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pos,size,flags", "-of",
                          "json", str(path)], check=True, capture_output=True, text=True).stdout
    return [(p["stream_index"], int(p["pos"]), int(p["size"]), "K" in p["flags"])
            for p in json.loads(out)["packets"]]


@pytest.mark.parametrize("name", VIDEO_FILES)
def test_samples_agree_with_ffprobe_packets(real, name):
    """Every sample's offset, size and sync flag from the sample tables (or fragments) is ffprobe's packet."""
    path = path_of(real, name)
    ffprobe(path)
    f = bmff.parse(path)
    packets = ffprobe_packets(path)
    for index, t in enumerate(tracks.tracks(f)):
        mine = list(tracks.samples(t.trak)) + list(tracks.fragment_samples(f, t.track_ID))
        theirs = [p[1:] for p in packets if p[0] == index]
        assert [(s.offset, s.size, s.sync) for s in mine] == theirs
        first = tracks.read_sample(f, mine[0])
        assert len(first) == mine[0].size and first == path.read_bytes()[mine[0].offset:][:mine[0].size]


# --------------------------------------------------------------------------------------------- mediainfo


@pytest.mark.parametrize("name", ["h264.mp4", "hevc.mp4", "faststart.mp4"])
def test_layout_agrees_with_mediainfo(real, name):
    """mediainfo's header/data/footer split is where 'mdat' starts and ends; StreamSize sums a track's samples."""
    path = path_of(real, name)
    info = mediainfo(path)
    general = info[0]
    f = bmff.parse(path)
    (mdat,) = [b for b in f.boxes if b.type == "mdat"]
    assert int(general["HeaderSize"]) == mdat.header.offset
    assert int(general["DataSize"]) == mdat.header.size
    assert int(general["FooterSize"]) == f.source.size - mdat.header.end
    video = next(t for t in info if t["@type"] == "Video")
    (trak,) = [t for t in tracks.tracks(f) if t.handler_type == "vide"]
    assert int(video["ID"]) == trak.track_ID
    assert int(video["StreamSize"]) == sum(s.size for s in tracks.samples(trak.trak))
    assert int(video["FrameCount"]) == tracks.sample_count(trak.trak)
    assert video["CodecID"] == tracks.sample_entries(trak.trak)[0].type


def test_heif_items_agree_with_mediainfo(real):
    path = path_of(real, "img.heic")
    general, image = mediainfo(path)[:2]
    doc = file_json(bmff.parse(path))
    (pitm,), (infe,), (iloc,) = nodes(doc, "pitm"), nodes(doc, "infe"), nodes(doc, "iloc")
    assert int(image["ID"]) == pitm["fields"]["item_ID"] == infe["fields"]["item_ID"]
    assert image["CodecID"] == infe["fields"]["item_type"]
    (item,) = iloc["fields"]["items"]
    assert int(image["StreamSize"]) == sum(e["extent_length"] for e in item["extents"])
    (meta,) = nodes(doc, "meta")
    assert int(general["HeaderSize"]) == meta["offset"] + meta["size"]
