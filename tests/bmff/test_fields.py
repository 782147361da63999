"""Boxes declared by field lists (bmff.fields): the list covers the dataclass, and parse and build agree."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bmff
from bmff import fields
from bmff.box import _REGISTRY, BmffError, Context, Reader, Source, parse_box

PARENT = {cls: parent for (parent, _), cls in _REGISTRY.items() if issubclass(cls, fields.FieldList)}
DECLARED = sorted(PARENT, key=lambda c: c.TYPE)
HEADER_FIELDS = {"trailing", "header", "version", "flags"}  # the box header's, not the body's


def test_the_regular_boxes_are_declared():
    assert {c.TYPE for c in DECLARED} >= {"mvhd", "tkhd", "vmhd", "smhd", "mehd", "trex", "mfhd", "tfdt", "mfro",
                                          "pitm", "frma", "pasp", "btrt", "clap", "hdlp"}


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.TYPE)
def test_the_field_list_names_every_body_field_once_in_declaration_order(cls):
    body = [f.name for f in dataclasses.fields(cls) if f.name not in HEADER_FIELDS]
    assert [name for name, _ in cls.FIELDS] == body


# the range of each integer kind, for version 1 where the width depends on it
RANGES = {fields.U8: (0, 1 << 8), fields.U16: (0, 1 << 16), fields.U32: (0, 1 << 32), fields.U64: (0, 1 << 64),
          fields.I16: (-(1 << 15), 1 << 15), fields.I32: (-(1 << 31), 1 << 31), fields.LONG: (0, 1 << 64),
          fields.ITEM_ID: (0, 1 << 32)}


@st.composite
def declared_box(draw):
    cls = draw(st.sampled_from(DECLARED))
    box = cls(version=1) if issubclass(cls, bmff.FullBox) and 1 in (cls.VERSIONS or ()) else cls()
    for name, kind in cls.FIELDS:
        current = getattr(box, name)
        if kind in RANGES:
            low, high = RANGES[kind]
            setattr(box, name, draw(st.integers(low, high - 1)))
        elif isinstance(current, bytes):
            setattr(box, name, draw(st.binary(min_size=len(current), max_size=len(current))))
        elif kind.element is not None:
            low, high = RANGES[kind.element]
            setattr(box, name, draw(st.lists(st.integers(low, high - 1), min_size=kind.count, max_size=kind.count)))
        else:
            assert isinstance(current, (bytes, str)), (cls, name)  # verbatim runs and four-character codes
            if isinstance(current, str):
                setattr(box, name, draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789 ", min_size=4, max_size=4)))
    return box


@settings(max_examples=300, deadline=None)
@given(declared_box())
def test_build_then_parse_gives_the_box_back(box):
    data = box.to_bytes()
    parent = PARENT[type(box)]
    back = parse_box(Reader(Source(data), 0, len(data)), Context(path=(parent,) if parent else ()))
    assert back == box
    assert back.to_bytes() == data


WITH_INTS = [c for c in DECLARED if any(kind in RANGES for _, kind in c.FIELDS)]


@pytest.mark.parametrize("cls", WITH_INTS, ids=lambda c: c.TYPE)
def test_a_value_too_wide_for_its_field_is_a_bmff_error_naming_it(cls):
    for name in [name for name, kind in cls.FIELDS if kind in RANGES]:
        for bad in (1 << 64, -(1 << 63) - 1):
            with pytest.raises(BmffError, match=f"{cls.TYPE} {name}"):
                cls(**{name: bad}).to_bytes()


def test_versioned_widths():
    mvhd = bmff.boxes.movie.MovieHeaderBox(duration=1 << 40, version=1).to_bytes()
    assert len(mvhd) == 120 and mvhd[-4:] == (1).to_bytes(4, "big")  # v1: 3 × 64-bit times; next_track_ID last
    with pytest.raises(BmffError, match="mvhd duration"):
        bmff.boxes.movie.MovieHeaderBox(duration=1 << 40, version=0).to_bytes()
    pitm = bmff.boxes.meta.PrimaryItemBox
    assert len(pitm(item_ID=7).to_bytes()) == 14 and len(pitm(item_ID=7, version=1).to_bytes()) == 16
