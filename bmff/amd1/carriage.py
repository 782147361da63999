"""Reading and writing the ISO/IEC 14496-15 Amd 1 structures of a parsed File.

Readers (used by the `bmff validate` rules and by the 4.19.7 sample reconstruction): sample groups of a
track, the SEI messages a sample entry or a sample carries, NNR items and their properties. Writers (used by
`spritejax export`): wrap a visual sample entry into 'resv' with the 'aSEI' scheme and back, add an NNPFC
sample group to a track, add 'nnr1' items to a MetaBox.
"""

from __future__ import annotations

import copy
from typing import Iterator, Sequence

from .. import tracks as tr
from ..box import BmffError, Box, UnknownBox, payload_bytes
from ..boxes.meta import (
    ItemDataBox,
    ItemInfoBox,
    ItemInfoEntry,
    ItemLocation,
    ItemLocationBox,
    ItemLocationExtent,
    ItemPropertiesBox,
    ItemPropertyAssociation,
    ItemPropertyAssociationBox,
    ItemPropertyAssociationEntry,
    ItemPropertyContainerBox,
    ItemReferenceBox,
    MetaBox,
    SingleItemTypeReferenceBox,
)
from ..boxes.meta import item_data as _item_data
from ..boxes.movie import HandlerBox
from ..boxes.restricted import OriginalFormatBox, RestrictedSchemeInfoBox, SchemeInformationBox, SchemeTypeBox
from ..boxes.sample_groups import SampleGroupDescriptionBox, SampleToGroupBox
from ..boxes.sample_table import VisualSampleEntry
from ..io import File
from ..tracks import sample_entries  # noqa: F401  (part of this module's reading API)
from ..validate import metas  # noqa: F401  (part of this module's reading API)
from .boxes import NfcsGroupingParameter, NnpfcSeiSampleGroupEntry, SeiInformationBox
from .nal import codec_of, is_sei, split_sample
from .sei import SeiMessage, parse_sei_nal, sei_payload_types

NAL_ARRAY_OFFSET = {"hvcC": 22}  # byte index of numOfArrays in the decoder configuration record


# --------------------------------------------------------------------------------------------- tracks


def tracks(f: File) -> Iterator[tuple[str, Box]]:
    for t in tr.tracks(f):
        yield t.name, t.trak


def _stbl(trak: Box) -> Box | None:
    return trak.find("mdia/minf/stbl")


def _group_boxes(container: Box) -> list[Box]:
    """Where sample group boxes live: a 'trak''s 'stbl', or a 'traf' itself."""
    if container.type == "traf":
        return container.boxes
    stbl = _stbl(container)
    return stbl.boxes if stbl else []


def sbgps(container: Box, grouping_type: str) -> list[SampleToGroupBox]:
    """The SampleToGroupBoxes of a grouping type in a 'trak' (its 'stbl') or a 'traf'."""
    return [b for b in _group_boxes(container) if isinstance(b, SampleToGroupBox) and b.grouping_type == grouping_type]


def sgpd_entries(container: Box, grouping_type: str) -> list:
    """The sample group description entries of a grouping type in a 'trak' (its 'stbl') or a 'traf'."""
    return [e for b in _group_boxes(container) if isinstance(b, SampleGroupDescriptionBox)
            and b.grouping_type == grouping_type for e in b.entries]


def grouping_parameter(sbgp: SampleToGroupBox) -> NfcsGroupingParameter | None:
    """The typed 'nfcs' grouping_type_parameter; None for a version-0 box, which has none."""
    return NfcsGroupingParameter.from_int(sbgp.grouping_type_parameter) if sbgp.version == 1 else None


def _first_by_parameter(container: Box) -> dict[NfcsGroupingParameter, SampleToGroupBox]:
    """The 'nfcs' SampleToGroupBox of each grouping parameter (the first, where 'nfcs-sbgp-unique' fails)."""
    out = {}
    for sbgp in sbgps(container, "nfcs"):
        p = grouping_parameter(sbgp)
        if p is not None:
            out.setdefault(p, sbgp)
    return out


def nfcs_sample_groups(trak: Box, f: File | None = None) -> dict[NfcsGroupingParameter, list[int]]:
    """group_description_index per sample of the movie's own sample tables, for each (filter_update_flag,
    filter_id) of the track (nfcs_groups adds the movie fragments). Given the file, its size bounds the count."""
    boxes = _first_by_parameter(trak)
    n = movie_sample_count(trak, f) if boxes else 0
    return {p: sbgp.indices(n) for p, sbgp in boxes.items()}


def movie_sample_count(trak: Box, f: File | None = None) -> int:
    """The sample count of the movie's tables, for a view with a value per sample: BmffError unless 'stts'
    covers the same count and (given the file) it is no more than the file's bytes, since a 20-byte
    constant-size 'stsz' claims 2^24 samples."""
    st = tr.sample_table(trak)
    st.decode_time_iter()  # raises when 'stts' covers another count
    return _bounded(st.sample_count, f, "the sample tables")


def _bounded(count: int, f: File | None, what: str) -> int:
    if f is not None and f.source is not None and count > f.source.size:
        raise BmffError(f"{what} claim {count} samples, more than the file's {f.source.size} bytes")
    return count


def track_fragments(f: File, trak: Box, per_sample: bool = False) -> list[tuple[Box, int]]:
    """(traf, number of samples) of each fragment of the track, in file order. per_sample: for a view with an
    entry per sample, so BmffError when they claim more samples than the file has bytes (a 'trun' with a
    default size claims billions for 4 bytes): such a view is refused, not built."""
    track_ID = tr.track_id(trak)
    fragments = tr.track_fragments(f, track_ID) if track_ID is not None else []
    if per_sample:
        _bounded(sum(n for _, n in fragments), f, f"the fragments of track {track_ID}")
    return fragments


def group_containers(f: File, trak: Box) -> list[tuple[str, Box]]:
    """('' or ' fragment k', box) for the track's 'trak' and each of its 'traf's: where its sample groups are."""
    return [("", trak)] + [(f" fragment {k}", traf) for k, (traf, _) in enumerate(track_fragments(f, trak), 1)]


def nfcs_entries(f: File, trak: Box) -> list:
    """Every 'nfcs' entry of the track: the movie's 'sgpd', then each 'traf''s (the numbering nfcs_groups uses)."""
    return [e for _, box in group_containers(f, trak) for e in sgpd_entries(box, "nfcs")]


def nfcs_groups(f: File, trak: Box) -> dict[NfcsGroupingParameter, list[int]]:
    """For each (filter_update_flag, filter_id): the nfcs_entries number (1-based, 0 none) of every sample, the
    movie's own samples first, then each fragment's. In a 'traf' (14496-12 8.9.4) index 1..0xFFFF is an entry
    of the movie's 'sgpd' and 0x10000 + i the i-th of the fragment's own; an index that names no entry becomes
    -1."""
    fragments = track_fragments(f, trak)
    if not any(sbgps(box, "nfcs") for box in [trak] + [traf for traf, _ in fragments]):
        return {}
    fragments = track_fragments(f, trak, per_sample=True)
    groups = nfcs_sample_groups(trak, f)
    movie_entries = len(sgpd_entries(trak, "nfcs"))
    total, offset = movie_sample_count(trak, f), movie_entries
    for traf, n in fragments:
        local = len(sgpd_entries(traf, "nfcs"))
        for p, sbgp in _first_by_parameter(traf).items():
            mapped = groups.setdefault(p, [0] * total)
            mapped += [g if g <= movie_entries else offset + g - 0x10000 if 0 < g - 0x10000 <= local else -1
                       for g in sbgp.indices(n)]
        total, offset = total + n, offset + local
        for mapped in groups.values():
            mapped += [0] * (total - len(mapped))
    return groups


def track_samples(f: File, trak: Box) -> Sequence[tr.Sample]:
    """The samples of the movie's sample tables, then those of the track's fragments."""
    samples = tr.samples(trak)
    if track_fragments(f, trak, per_sample=True):
        return [*samples, *tr.fragment_samples(f, tr.track_id(trak))]
    return samples


def length_size(entry: Box) -> int:
    config = next((c for c in getattr(entry, "children", []) if c.type in ("avcC", "hvcC", "vvcC")), None)
    if config is None:
        raise BmffError(f"sample entry '{entry.type}' has no avcC/hvcC/vvcC to give the NAL unit length size")
    return config.length_size


WRAPPERS = {"encv": "sinf/frma", "resv": "rinf/frma"}  # protected, restricted: where the original type is


def original_format(entry: Box) -> str:
    """The coding format under 'encv' and 'resv' (either or both: 'encv' -> sinf 'resv' -> rinf 'avc1')."""
    fmt = entry.type
    for wrapper, path in WRAPPERS.items():
        frma = entry.find(path)
        if fmt == wrapper and isinstance(frma, OriginalFormatBox):
            fmt = frma.data_format
    return fmt


def entry_codec(entry: Box) -> str | None:
    """AVC/HEVC/VVC of a sample entry, looking through 'encv' and 'resv' to the original format."""
    return codec_of(original_format(entry))


def _hvcc_nal_units(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(NAL_unit_type, NAL unit) of every NAL unit in an hvcC record's arrays, bounds-checked."""
    start = NAL_ARRAY_OFFSET["hvcC"]
    if len(data) <= start:
        raise BmffError(f"'hvcC' record of {len(data)} bytes has no NAL unit arrays")
    pos = start + 1
    for _ in range(data[start]):
        if pos + 3 > len(data):
            raise BmffError("'hvcC' NAL unit array runs past the record")
        nal_type, n = data[pos] & 0x3F, int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(n):
            size = int.from_bytes(data[pos : pos + 2], "big")
            nal = data[pos + 2 : pos + 2 + size]
            if len(nal) != size:
                raise BmffError(f"'hvcC' NAL unit of {size} bytes runs past the record")
            pos += 2 + size
            yield nal_type, nal


def _hvcc(entry: Box) -> bytes | None:
    config = next((c for c in getattr(entry, "children", []) if c.type == "hvcC"), None)
    return None if config is None or isinstance(config, UnknownBox) else bytes(config.data)


def sample_entry_sei(entry: Box) -> list[SeiMessage]:
    """SEI messages in the decoder configuration record's NAL unit arrays (hvcC; avcC has no SEI arrays)."""
    codec, data = entry_codec(entry), _hvcc(entry)
    if codec is None or data is None:
        return []
    return [m for nal_type, nal in _hvcc_nal_units(data) if is_sei(codec, nal_type) for m in parse_sei_nal(codec, nal)]


def sample_sei_types(f: File, trak: Box) -> Iterator[tuple[int, set[int]]]:
    """(sample number, SEI payload types in it) for every sample that carries SEI NAL units."""
    entries = sample_entries(trak)
    for s in track_samples(f, trak):
        if not 1 <= s.sample_description_index <= len(entries):
            continue
        entry = entries[s.sample_description_index - 1]
        codec = entry_codec(entry)
        if codec is None:
            continue
        types = set(sei_payload_types(codec, split_sample(tr.read_sample(f, s), length_size(entry))))
        if types:
            yield s.number, types


# --------------------------------------------------------------------------------------------- items


def handler_of(meta: Box) -> str | None:
    hdlr = next((c for c in meta.boxes if isinstance(c, HandlerBox)), None)
    return hdlr.handler_type if hdlr else None


def meta_with_handler(f: File, trak: Box, handler_type: str) -> Box | None:
    """The MetaBox an 'stmi'/'nfcs' entry refers to: track level first, then movie, then file level."""
    for meta in (trak.find("meta"), f.find("moov/meta"), f.find("meta")):
        if meta is not None and handler_of(meta) == handler_type:
            return meta
    return None


def item_types(meta: Box) -> dict[int, str]:
    iinf = next((c for c in meta.boxes if isinstance(c, ItemInfoBox)), None)
    return {e.item_ID: e.item_type for e in (iinf.boxes if iinf else []) if isinstance(e, ItemInfoEntry)}


def properties(meta: Box) -> list[Box]:
    ipco = meta.find("iprp/ipco")
    return list(ipco.boxes) if ipco is not None else []


def item_properties(meta: Box, item_id: int) -> list[Box]:
    props, ipma = properties(meta), meta.find("iprp/ipma")
    if not isinstance(ipma, ItemPropertyAssociationBox):
        return []
    return [props[a.property_index - 1] for a in ipma.properties_of(item_id) if 1 <= a.property_index <= len(props)]


def item_data(f: File, meta: Box, item_id: int) -> bytes:
    return _item_data(meta, item_id, f.source)


def references(meta: Box, reference_type: str) -> Iterator[tuple[int, list[int]]]:
    iref = next((c for c in meta.boxes if isinstance(c, ItemReferenceBox)), None)
    for ref in iref.boxes if iref else []:
        if isinstance(ref, SingleItemTypeReferenceBox) and ref.type == reference_type:
            yield ref.from_item_ID, list(ref.to_item_ID)


# --------------------------------------------------------------------------------------------- writers


def _protected_frma(entry: VisualSampleEntry) -> OriginalFormatBox | None:
    """The 'sinf/frma' of an 'encv' entry: it, not the entry's own type, is what 'resv' replaces."""
    frma = entry.find("sinf/frma")
    return frma if entry.format == "encv" and isinstance(frma, OriginalFormatBox) else None


def _restricted_format(entry: VisualSampleEntry) -> str:
    """The type that is 'resv' when the entry is restricted: its own, or under 'encv' the protected one."""
    protected = _protected_frma(entry)
    return protected.data_format if protected else entry.format


def _set_restricted_format(entry: VisualSampleEntry, fmt: str) -> None:
    protected = _protected_frma(entry)
    if protected:
        protected.data_format = fmt
    else:
        entry.format = fmt


def wrap_restricted(entry: VisualSampleEntry, required: list[int], not_required: list[int] = ()) -> None:
    """Hide a visual sample entry behind 'resv' with the 'aSEI' scheme requiring the given SEI types (inside
    the protection of an 'encv' entry: 'encv' -> sinf/frma 'resv' -> rinf/frma original, 14496-12 8.15.4)."""
    fmt = _restricted_format(entry)
    if fmt == "resv":
        raise BmffError("the sample entry is already 'resv'")
    schi = SchemeInformationBox(children=[SeiInformationBox(list(required), list(not_required))])
    entry.children.append(RestrictedSchemeInfoBox(children=[OriginalFormatBox(fmt), SchemeTypeBox("aSEI", 0), schi]))
    _set_restricted_format(entry, "resv")


def unwrap_restricted(entry: VisualSampleEntry) -> None:
    """Undo wrap_restricted: the original format comes back and 'rinf' goes."""
    rinf = next((c for c in entry.children if isinstance(c, RestrictedSchemeInfoBox)), None)
    frma = rinf.find("frma") if rinf else None
    if _restricted_format(entry) != "resv" or not isinstance(frma, OriginalFormatBox):
        raise BmffError("the sample entry is not a 'resv' entry with 'rinf/frma'")
    entry.children.remove(rinf)
    _set_restricted_format(entry, frma.data_format)


def _check_free(container: Box, parameter: NfcsGroupingParameter) -> None:
    if parameter in _first_by_parameter(container):
        raise BmffError(f"the track already has an 'nfcs' SampleToGroupBox for {parameter}"
                        + (" in a fragment" if container.type == "traf" else ""))


def _add_group(container: Box, total: int, entry: NnpfcSeiSampleGroupEntry, parameter: NfcsGroupingParameter,
               sample_ranges: list[tuple[int, int]] | None) -> int:
    """The 'sgpd' entry and 'sbgp' of add_nfcs_group in a 'trak''s 'stbl' or a 'traf' of `total` samples."""
    _check_free(container, parameter)
    counts, runs, pos = [], [], 1  # runs: True for a run of the new entry, False for unmapped samples
    for first, count in sample_ranges or [(1, total)]:
        if first < pos or first + count - 1 > total:
            raise BmffError(f"sample range ({first}, {count}) is out of order or past the {total} samples")
        if first > pos:
            counts.append(first - pos)
            runs.append(False)
        counts.append(count)
        runs.append(True)
        pos = first + count
    boxes = _group_boxes(container)
    sgpd = next((b for b in boxes if isinstance(b, SampleGroupDescriptionBox) and b.grouping_type == "nfcs"), None)
    if sgpd is None:
        sgpd = SampleGroupDescriptionBox("nfcs")
        boxes.append(sgpd)
    sgpd.entries.append(entry)
    index = len(sgpd.entries) + (0x10000 if container.type == "traf" else 0)  # 14496-12 8.9.4: fragment-local
    boxes.append(SampleToGroupBox("nfcs", parameter.to_int(), counts, [index if r else 0 for r in runs], version=1))
    return index


def add_nfcs_group(trak: Box, entry: NnpfcSeiSampleGroupEntry, parameter: NfcsGroupingParameter,
                   sample_ranges: list[tuple[int, int]] | None = None) -> int:
    """Map samples of the movie's sample tables (default: all) to a new 'nfcs' entry; returns its
    group_description_index. sample_ranges are (first sample, count) pairs, 1-based; samples outside them map
    to index 0. Fragments get theirs with add_fragment_nfcs_groups."""
    if _stbl(trak) is None:
        raise BmffError("the track has no 'stbl'")
    return _add_group(trak, tr.sample_count(trak), entry, parameter, sample_ranges)


def add_fragment_nfcs_groups(f: File, trak: Box, entry: NnpfcSeiSampleGroupEntry,
                             parameter: NfcsGroupingParameter) -> int:
    """Map every sample of every fragment of the track to a copy of the entry in the fragment's own 'sgpd'
    ('sbgp' index 0x10000 + i); returns the number of fragments. Nothing changes when one cannot take it."""
    fragments = track_fragments(f, trak)
    for traf, _ in fragments:
        _check_free(traf, parameter)
    for traf, n in fragments:
        _add_group(traf, n, copy.deepcopy(entry), parameter, None)
    return len(fragments)


def new_meta(handler_type: str = "nnet") -> MetaBox:
    """An empty MetaBox ready for items: hdlr, iinf, iloc, iprp {ipco, ipma}, idat ('iref' comes with the first
    reference: an empty one is legal but useless)."""
    return MetaBox(children=[HandlerBox(handler_type=handler_type), ItemInfoBox(), ItemLocationBox(version=1),
                             ItemPropertiesBox(children=[ItemPropertyContainerBox(), ItemPropertyAssociationBox()]),
                             ItemDataBox(b"")])


def add_item(meta: MetaBox, item_type: str, data: bytes, name: str = "", properties: list[Box] = (),
             content_type: str | None = None, essential: bool = False) -> int:
    """Append an item stored in 'idat' (construction_method 1); returns its item_ID.

    A property identical to one already in 'ipco' is shared rather than stored twice (an update item's 'nnrC').
    A 'mime' item gets an empty content_encoding: legal to leave out, but mp4box.js then reads past the box.
    """
    iinf = next(c for c in meta.boxes if isinstance(c, ItemInfoBox))
    iloc = next(c for c in meta.boxes if isinstance(c, ItemLocationBox))
    idat = next(c for c in meta.boxes if isinstance(c, ItemDataBox))
    item_id = max([e.item_ID for e in iinf.boxes if isinstance(e, ItemInfoEntry)], default=0) + 1
    infe = ItemInfoEntry(item_ID=item_id, item_type=item_type, item_name=name, content_type=content_type,
                         content_encoding="" if item_type == "mime" else None, version=2)
    iinf.children.append(infe)
    old = payload_bytes(idat.data)
    idat.data = old + bytes(data)
    iloc.items.append(ItemLocation(item_ID=item_id, construction_method=1,
                                   extents=[ItemLocationExtent(extent_offset=len(old), extent_length=len(data))]))
    ipco, ipma = meta.find("iprp/ipco"), meta.find("iprp/ipma")
    if properties:
        assoc = []
        for prop in properties:
            raw = prop.to_bytes()
            index = next((i for i, p in enumerate(ipco.children, 1) if p.to_bytes() == raw), None)
            if index is None:
                ipco.children.append(prop)
                index = len(ipco.children)
            assoc.append(ItemPropertyAssociation(essential=essential, property_index=index))
        ipma.entries.append(ItemPropertyAssociationEntry(item_ID=item_id, associations=assoc))
    return item_id


def add_reference(meta: MetaBox, reference_type: str, from_item: int, to_items: list[int]) -> None:
    """Add a typed reference between items; the 'iref' box is created after 'iloc' when missing."""
    iref = next((c for c in meta.boxes if isinstance(c, ItemReferenceBox)), None)
    if iref is None:
        iref = ItemReferenceBox()
        at = next((i + 1 for i, c in enumerate(meta.children) if isinstance(c, ItemLocationBox)), len(meta.children))
        meta.children.insert(at, iref)
    iref.children.append(SingleItemTypeReferenceBox(reference_type, from_item, list(to_items)))


def nnr_item(meta: MetaBox, bitstream: bytes, name: str = "model") -> int:
    """Add an 'nnr1' item: STR/MPS/LPS/TPL/QNT units go to its 'nnrC' property, the rest to its data."""
    from ..nnr_units import parse_units, split_config_units, units_to_bytes
    from .boxes import NNRConfigurationItemProperty

    config, data = split_config_units(parse_units(bitstream))
    if not config:
        raise BmffError("the NNR bitstream has no start unit / parameter set for the 'nnrC' property")
    return add_item(meta, "nnr1", units_to_bytes(data), name,
                    [NNRConfigurationItemProperty.from_units(config)], essential=True)


def find_file_meta(f: File, handler_type: str = "nnet") -> MetaBox | None:
    """The file-level MetaBox with this handler, if any."""
    return next((b for b in f.boxes if isinstance(b, MetaBox) and handler_of(b) == handler_type), None)


def file_meta(f: File, handler_type: str = "nnet") -> MetaBox:
    """The file-level MetaBox with this handler, created after 'ftyp' when missing."""
    meta = find_file_meta(f, handler_type)
    if meta is None:
        meta = new_meta(handler_type)
        at = next((i + 1 for i, b in enumerate(f.boxes) if b.type == "ftyp"), 0)
        f.boxes.insert(at, meta)
    return meta


def add_post_filter(f: File, bitstream: bytes, *, filter_id: int = 1, base_item: int | None = None,
                    track_ID: int | None = None, name: str = "model", nnpfc_purpose: int = 0) -> int:
    """Announce an NNR-coded post-filter on a video track (4.19): the bitstream becomes an 'nnr1' item of the
    file-level 'nnet' MetaBox, the track becomes 'resv'/'aSEI' requiring NNPFC, and an 'nfcs' group maps
    every sample to an entry whose NNPFC SEI message (mode 0, payload left out) points at the item: the
    samples of the movie's tables through its 'stbl', those of each movie fragment through the 'traf''s own
    'sgpd'/'sbgp' (a fragmented file with an empty 'moov' gets no 'stbl' group).

    With base_item the item is an incremental update: a 'pred' reference to the base and a group with
    filter_update_flag 1. Returns the new item_ID. Offsets are not fixed here: write with
    bmff.edit.write_with_fixed_offsets.
    """
    from .sei import NNPFC_PAYLOAD_TYPE, nnpfc_sei

    video = [t for t in tr.tracks(f) if t.handler_type == "vide" and (track_ID is None or t.track_ID == track_ID)]
    if not video:
        raise BmffError("no video track to attach the post-filter to" if track_ID is None
                        else f"no video track with track_ID {track_ID}")
    trak = video[0].trak
    entries = sample_entries(trak)
    refused = [e.type for e in entries if entry_codec(e) is None] or ([] if entries else ["none"])
    if refused:  # checked before anything changes: a refused file is left as it was
        raise BmffError(f"{video[0].name} cannot carry NNPFC SEI: its sample entries are {refused}, "
                        f"post-filters need AVC, HEVC or VVC (avc1/avc3, hvc1/hev1, vvc1/vvi1)")
    update = base_item is not None
    if update and item_types(find_file_meta(f) or new_meta()).get(base_item) != "nnr1":
        raise BmffError(f"base item {base_item} is not an 'nnr1' item")
    parameter = NfcsGroupingParameter(int(update), filter_id)
    for _, container in group_containers(f, trak):
        _check_free(container, parameter)
    meta = file_meta(f)
    item_id = nnr_item(meta, bitstream, name)
    if update:
        add_reference(meta, "pred", item_id, [base_item])
    for entry in entries:
        seii = entry.find("rinf/schi/seii")
        if isinstance(entry, VisualSampleEntry) and _restricted_format(entry) == "resv":
            if isinstance(seii, SeiInformationBox) and NNPFC_PAYLOAD_TYPE not in seii.requiredSEI_ID:
                seii.requiredSEI_ID.append(NNPFC_PAYLOAD_TYPE)
        elif isinstance(entry, VisualSampleEntry):
            wrap_restricted(entry, [NNPFC_PAYLOAD_TYPE])
    message = nnpfc_sei(filter_id, b"", nnpfc_purpose=nnpfc_purpose, nnpfc_base_flag=0 if update else 1)
    entry = NnpfcSeiSampleGroupEntry("nnet", [item_id], message)
    if tr.sample_count(trak) or not track_fragments(f, trak):
        add_nfcs_group(trak, entry, parameter)
    add_fragment_nfcs_groups(f, trak, entry, parameter)
    return item_id


def nnr_bitstream(f: File, meta: Box, item_id: int) -> bytes:
    """An 'nnr1' item's complete NNR bitstream: its 'nnrC' units, then the item data."""
    from ..nnr_units import units_to_bytes
    from .boxes import NNRConfigurationItemProperty

    config = next((p for p in item_properties(meta, item_id) if isinstance(p, NNRConfigurationItemProperty)), None)
    head = units_to_bytes(config.units()) if config else b""
    return head + item_data(f, meta, item_id)


def parameter_sets(entry: Box) -> list[bytes]:
    """The parameter-set NAL units of an avcC or hvcC record (what a raw bitstream must start with)."""
    for config in getattr(entry, "children", []):
        data = bytes(getattr(config, "data", b""))
        if config.type == "avcC" and len(data) >= 6:
            out, pos = [], 5
            for mask in (0x1F, 0xFF):  # numOfSequenceParameterSets (5 bits), numOfPictureParameterSets
                count, pos = data[pos] & mask, pos + 1
                for _ in range(count):
                    size = int.from_bytes(data[pos : pos + 2], "big")
                    out.append(data[pos + 2 : pos + 2 + size])
                    pos += 2 + size
            return out
        if config.type == "hvcC":
            return [nal for nal_type, nal in _hvcc_nal_units(data) if nal_type in (32, 33, 34)]  # VPS, SPS, PPS
    return []


def reconstruct_track(f: File, trak: Box) -> Iterator[list[bytes]]:
    """4.19.7: every sample's NAL units (the movie's tables, then its fragments) with the NNPFC SEI NAL units
    of the track's 'nfcs' groups inserted."""
    from .insert import reconstruct_samples

    entries = sample_entries(trak)
    if not entries:
        raise BmffError("the track has no sample entries")
    codec = entry_codec(entries[0])
    if codec is None:
        raise BmffError(f"sample entry '{entries[0].type}' is not AVC, HEVC or VVC")
    samples = track_samples(f, trak)
    nfcs = nfcs_entries(f, trak)

    def bitstream(entry: NnpfcSeiSampleGroupEntry) -> bytes | None:
        meta = meta_with_handler(f, trak, entry.meta_box_handler_type)
        return nnr_bitstream(f, meta, entry.item_id[0]) if meta is not None else None

    return reconstruct_samples(codec, (tr.read_sample(f, s) for s in samples), length_size(entries[0]),
                               [s.sync for s in samples], [s.sample_description_index for s in samples],
                               nfcs_groups(f, trak), nfcs, bitstream)
