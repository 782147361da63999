"""The shall-statements of ISO/IEC 14496-15 Amd 1 as named checks of `bmff validate`, registered on import.

Each check is a generator over a parsed File yielding one message per violation; the message names the track
or item, says what is wrong and what the amendment requires.
"""

from __future__ import annotations

from typing import Iterator

from ..box import BmffError, Box
from ..io import File
from ..nnr_units import CONFIG_UNIT_TYPES, UNIT_TYPE_NAMES, parse_units
from ..validate import CheckContext
from ..validate import check as amd1_check
from . import carriage as ta
from .boxes import NfcsGroupingParameter, NnpfcSeiSampleGroupEntry, NNRConfigurationItemProperty, SeiInformationBox
from .sei import (
    NNPFA_PAYLOAD_TYPE,
    NNPFC_PAYLOAD_TYPE,
    SEI_MANIFEST_PAYLOAD_TYPE,
    SEI_PREFIX_INDICATION_PAYLOAD_TYPE,
    Nnpfc,
    nnpfc_prefix_has_purpose,
    parse_sei_manifest,
    parse_sei_message,
    parse_sei_prefix_indication,
)

# --------------------------------------------------------------------------------------------- SEI information


def _visual_entries(f: File) -> Iterator[tuple[str, Box]]:
    for tname, trak in ta.tracks(f):
        for i, entry in enumerate(ta.sample_entries(trak), 1):
            yield f"{tname} sample entry {i} '{entry.type}'", entry


@amd1_check("seii-in-sample-entry-not-required")
def _seii_entry_required(ctx: CheckContext) -> Iterator[str]:
    for where, entry in _visual_entries(ctx.file):
        seiis = [b for b in entry.boxes if isinstance(b, SeiInformationBox)]
        if len(seiis) > 1:
            yield f"{where}: {len(seiis)} 'seii' boxes; a VisualSampleEntry holds zero or one (4.10.1)"
        for s in seiis:
            if s.numRequiredSEIs:
                yield (f"{where}: 'seii' lists required SEI types {s.requiredSEI_ID}; in a VisualSampleEntry "
                       "numRequiredSEIs shall be 0 (4.10.1) — required types go in 'schi' under the 'aSEI' scheme")


@amd1_check("aSEI-seii-mandatory")
def _asei_seii(ctx: CheckContext) -> Iterator[str]:
    for where, entry in _visual_entries(ctx.file):
        schm = entry.find("rinf/schm")
        if schm is None or getattr(schm, "scheme_type", None) != "aSEI":
            continue
        seiis = [b for b in entry.find_all("rinf/schi/seii") if isinstance(b, SeiInformationBox)]
        if len(seiis) != 1:
            yield (f"{where}: 'aSEI' scheme with {len(seiis)} 'seii' boxes in 'schi'; the SeiInformationBox is "
                   "mandatory there, exactly one (4.11.2)")


@amd1_check("aSEI-manifest-consistency")
def _manifest_consistency(ctx: CheckContext) -> Iterator[str]:
    for where, entry in _visual_entries(ctx.file):
        manifests = [m for m in ta.sample_entry_sei(entry) if m.payload_type == SEI_MANIFEST_PAYLOAD_TYPE]
        seii = entry.find("rinf/schi/seii")
        if not manifests or not isinstance(seii, SeiInformationBox):
            continue
        for m in manifests:
            try:
                necessary = {t for t, d in parse_sei_manifest(m.payload) if d == 1}
            except BmffError as e:
                yield f"{where}: unreadable SEI manifest in the sample entry: {e.message}"
                continue
            if necessary != set(seii.requiredSEI_ID):
                yield (f"{where}: the SEI manifest declares {sorted(necessary)} necessary but 'seii' requires "
                       f"{sorted(seii.requiredSEI_ID)}; both shall declare the same types (4.11.1)")


@amd1_check("manifest-nnpfa-entry")
def _manifest_nnpfa(ctx: CheckContext) -> Iterator[str]:
    for where, entry in _visual_entries(ctx.file):
        for m in ta.sample_entry_sei(entry):
            if m.payload_type != SEI_MANIFEST_PAYLOAD_TYPE:
                continue
            try:
                types = [t for t, _ in parse_sei_manifest(m.payload)]
            except BmffError:
                continue  # reported by aSEI-manifest-consistency when it matters
            if NNPFC_PAYLOAD_TYPE in types and NNPFA_PAYLOAD_TYPE not in types:
                yield (f"{where}: the SEI manifest lists NNPFC (210) without an entry for NNPFA (211); "
                       "it shall have one (4.19.6)")


@amd1_check("prefix-indication-nnpfc-purpose")
def _prefix_indication(ctx: CheckContext) -> Iterator[str]:
    for where, entry in _visual_entries(ctx.file):
        for m in ta.sample_entry_sei(entry):
            if m.payload_type != SEI_PREFIX_INDICATION_PAYLOAD_TYPE:
                continue
            try:
                ptype, prefixes = parse_sei_prefix_indication(m.payload)
            except BmffError as e:
                yield f"{where}: unreadable SEI prefix indication: {e.message}"
                continue
            if ptype != NNPFC_PAYLOAD_TYPE:
                continue
            for value, nbits in prefixes:
                if not nnpfc_prefix_has_purpose(value, nbits):
                    yield (f"{where}: an SEI prefix indication for NNPFC carries {nbits} bits, not all of "
                           "nnpfc_purpose; it shall include at least those bits (4.19.6)")


# --------------------------------------------------------------------------------------------- NNPFC groups


def _group_containers(f: File) -> Iterator[tuple[str, Box]]:
    """('track N' or 'track N fragment k', box) for every place a track's sample groups can be."""
    for tname, trak in ta.tracks(f):
        for suffix, box in ta.group_containers(f, trak):
            yield tname + suffix, box


@amd1_check("nfcs-sbgp-parameter")
def _nfcs_parameter(ctx: CheckContext) -> Iterator[str]:
    for tname, box in _group_containers(ctx.file):
        for i, sbgp in enumerate(ta.sbgps(box, "nfcs"), 1):
            if ta.grouping_parameter(sbgp) is None:
                yield (f"{tname}: 'nfcs' SampleToGroupBox {i} has no grouping_type_parameter (version 0); all "
                       "NNPFC SampleToGroupBoxes shall include it (4.19.1)")


@amd1_check("nfcs-sbgp-unique")
def _nfcs_unique(ctx: CheckContext) -> Iterator[str]:
    for tname, box in _group_containers(ctx.file):
        seen: dict[NfcsGroupingParameter, int] = {}
        for sbgp in ta.sbgps(box, "nfcs"):
            p = ta.grouping_parameter(sbgp)
            if p is not None:
                seen[p] = seen.get(p, 0) + 1
        for p, n in seen.items():
            if n > 1:
                yield (f"{tname}: {n} 'nfcs' SampleToGroupBoxes for filter_update_flag {p.filter_update_flag}, "
                       f"filter_id {p.filter_id}; filters of one id and kind are given in one box (4.19.1)")


@amd1_check("nfcs-update-needs-base")
def _nfcs_update_base(ctx: CheckContext) -> Iterator[str]:
    for tname, trak in ta.tracks(ctx.file):
        groups = ta.nfcs_groups(ctx.file, trak)
        for p, indices in groups.items():
            if not p.filter_update_flag:
                continue
            base = groups.get(NfcsGroupingParameter(0, p.filter_id), [0] * len(indices))
            orphans = [i + 1 for i, (u, b) in enumerate(zip(indices, base)) if u and not b]
            if orphans:
                yield (f"{tname}: samples {_ranges(orphans)} are mapped to an NNPFC update of filter_id "
                       f"{p.filter_id} but not to a base filter of that id (4.19.1)")


@amd1_check("nfcs-parameter-matches-sei")
def _nfcs_parameter_matches(ctx: CheckContext) -> Iterator[str]:
    for tname, trak in ta.tracks(ctx.file):
        entries = ta.nfcs_entries(ctx.file, trak)
        for p, indices in ta.nfcs_groups(ctx.file, trak).items():
            for idx in sorted({g for g in indices if g}):
                nnpfc = _entry_nnpfc(entries, idx)
                if nnpfc is None:
                    continue
                if nnpfc.nnpfc_id != p.filter_id or nnpfc.nnpfc_base_flag != 1 - p.filter_update_flag:
                    yield (f"{tname}: 'nfcs' entry {idx} (nnpfc_id {nnpfc.nnpfc_id}, nnpfc_base_flag "
                           f"{nnpfc.nnpfc_base_flag}) is mapped by the SampleToGroupBox for filter_id {p.filter_id}, "
                           f"filter_update_flag {p.filter_update_flag}; they shall agree (4.19.1)")


@amd1_check("nfcs-reaches-samples")
def _nfcs_reaches(ctx: CheckContext) -> Iterator[str]:
    for tname, trak in ta.tracks(ctx.file):
        entries = ta.nfcs_entries(ctx.file, trak)
        containers = [box for _, box in ta.group_containers(ctx.file, trak)]
        if not entries or any(ta.grouping_parameter(b) is None for c in containers for b in ta.sbgps(c, "nfcs")):
            continue  # a box without its parameter is reported by nfcs-sbgp-parameter
        mapped = {g for indices in ta.nfcs_groups(ctx.file, trak).values() for g in indices}
        idle = [i for i in range(1, len(entries) + 1) if i not in mapped]
        if idle:
            where = " (counting the movie's 'sgpd', then each fragment's)" if ta.track_fragments(ctx.file, trak) else ""
            what = f"entry {idle[0]} is" if len(idle) == 1 else f"entries {_ranges(idle)} are"
            yield (f"{tname}: 'nfcs' {what} mapped to no sample{where}: such a post-filter reaches no sample "
                   "(a fragmented file maps its samples in each 'traf', 14496-12 8.9.4)")


def _entry_nnpfc(entries: list, idx: int) -> Nnpfc | None:
    if not 1 <= idx <= len(entries) or not isinstance(entries[idx - 1], NnpfcSeiSampleGroupEntry):
        return None
    try:
        msg, _ = parse_sei_message(entries[idx - 1].nnpfc_sei_data_byte)
        return Nnpfc.parse(msg.payload) if msg.payload_type == NNPFC_PAYLOAD_TYPE else None
    except BmffError:
        return None


def _nfcs_entries(f: File) -> Iterator[tuple[str, Box, NnpfcSeiSampleGroupEntry]]:
    for tname, trak in ta.tracks(f):
        for i, e in enumerate(ta.nfcs_entries(f, trak), 1):
            if isinstance(e, NnpfcSeiSampleGroupEntry):
                yield f"{tname} 'nfcs' entry {i}", trak, e


@amd1_check("nfcs-num-items")
def _nfcs_num_items(ctx: CheckContext) -> Iterator[str]:
    for where, _, e in _nfcs_entries(ctx.file):
        if e.num_items not in (0, 1):
            yield f"{where}: num_items is {e.num_items}; it shall be 0 or 1 (4.19.3)"


@amd1_check("nfcs-one-nnpfc-message")
def _nfcs_message(ctx: CheckContext) -> Iterator[str]:
    for where, _, e in _nfcs_entries(ctx.file):
        try:
            msg, end = parse_sei_message(e.nnpfc_sei_data_byte)
        except BmffError as err:
            yield f"{where}: nnpfc_sei_data_byte is not a complete sei_message(): {err.message} (4.19.3)"
            continue
        if end != len(e.nnpfc_sei_data_byte):
            yield (f"{where}: nnpfc_sei_data_byte holds {len(e.nnpfc_sei_data_byte) - end} bytes after its "
                   "sei_message(); it shall contain exactly one (4.19.3)")
        if msg.payload_type != NNPFC_PAYLOAD_TYPE:
            yield f"{where}: the SEI message has payloadType {msg.payload_type}; it shall be 210, NNPFC (4.19.3)"
        else:
            try:
                Nnpfc.parse(msg.payload)
            except BmffError as err:
                yield f"{where}: unreadable nn_post_filter_characteristics(): {err.message}"


@amd1_check("nfcs-item-is-nnr1")
def _nfcs_item(ctx: CheckContext) -> Iterator[str]:
    for where, trak, e in _nfcs_entries(ctx.file):
        if e.num_items != 1:
            continue
        meta = ta.meta_with_handler(ctx.file, trak, e.meta_box_handler_type)
        if meta is None:
            yield f"{where}: no MetaBox with handler '{e.meta_box_handler_type}' holds item {e.item_id[0]} (4.19.3)"
            continue
        item_type = ta.item_types(meta).get(e.item_id[0])
        if item_type != "nnr1":
            found = "no such item" if item_type is None else f"item_type '{item_type}'"
            yield f"{where}: item {e.item_id[0]} has {found}; it shall be an 'nnr1' item (4.19.3)"


@amd1_check("nfcs-item-payload-excluded")
def _nfcs_payload_excluded(ctx: CheckContext) -> Iterator[str]:
    for where, _, e in _nfcs_entries(ctx.file):
        if e.num_items != 1:
            continue
        try:
            msg, _ = parse_sei_message(e.nnpfc_sei_data_byte)
            nnpfc = Nnpfc.parse(msg.payload)
        except BmffError:
            continue  # reported by nfcs-one-nnpfc-message
        if nnpfc.nnpfc_mode_idc != 0:
            yield f"{where}: num_items is 1 but nnpfc_mode_idc is {nnpfc.nnpfc_mode_idc}; it shall be 0 (4.19.3)"
        elif nnpfc.nnpfc_payload_byte:
            yield (f"{where}: num_items is 1 but the SEI message carries {len(nnpfc.nnpfc_payload_byte)} "
                   "nnpfc_payload_byte; they shall be left out and stored as the 'nnr1' item (4.19.3)")


@amd1_check("nfcs-no-nnpfc-in-track")
def _no_nnpfc_in_track(ctx: CheckContext) -> Iterator[str]:
    for tname, trak in ta.tracks(ctx.file):
        containers = [box for _, box in ta.group_containers(ctx.file, trak)]
        if not any(ta.sbgps(box, "nfcs") or ta.sgpd_entries(box, "nfcs") for box in containers):
            continue
        for i, entry in enumerate(ta.sample_entries(trak), 1):
            if any(m.payload_type == NNPFC_PAYLOAD_TYPE for m in ta.sample_entry_sei(entry)):
                yield (f"{tname}: sample entry {i} carries an NNPFC SEI message; a track with an NNPFC sample "
                       "group shall have none in its samples or sample entries (4.19.1)")
        hits = [n for n, types in ta.sample_sei_types(ctx.file, trak) if NNPFC_PAYLOAD_TYPE in types]
        if hits:
            yield (f"{tname}: samples {_ranges(hits)} carry NNPFC SEI messages; a track with an NNPFC sample "
                   "group shall have none in its samples or sample entries (4.19.1)")


# --------------------------------------------------------------------------------------------- NNR items


def _nnr_items(ctx: CheckContext) -> Iterator[tuple[str, Box, int]]:
    for mname, meta in ctx.metas:
        for item_id, item_type in ta.item_types(meta).items():
            if item_type == "nnr1":
                yield f"{mname} item {item_id}", meta, item_id


@amd1_check("nnrC-unit-types")
def _nnrc_types(ctx: CheckContext) -> Iterator[str]:
    for mname, meta in ctx.metas:
        for i, prop in enumerate(ta.properties(meta), 1):
            if not isinstance(prop, NNRConfigurationItemProperty):
                continue
            where = f"{mname} 'nnrC' property {i}"
            if not prop.arrays:
                yield f"{where}: num_of_arrays is 0; it shall be greater than 0 (4.19.5.3)"
            for a in prop.arrays:
                if a.nnr_unit_type not in CONFIG_UNIT_TYPES:
                    yield (f"{where}: an array of nnr_unit_type {_unit_name(a.nnr_unit_type)}; only NNR_STR, "
                           "NNR_MPS, NNR_LPS, NNR_TPL and NNR_QNT are allowed (4.19.5)")
                wrong = {u.nnr_unit_type for u in a.nnr_units} - {a.nnr_unit_type}
                if wrong:
                    yield (f"{where}: the array of {_unit_name(a.nnr_unit_type)} holds units of type "
                           f"{', '.join(_unit_name(t) for t in sorted(wrong))}; all shall be of the array's type")


@amd1_check("nnr1-data-unit-types")
def _nnr1_data(ctx: CheckContext) -> Iterator[str]:
    for where, meta, item_id in _nnr_items(ctx):
        config = next((p for p in ta.item_properties(meta, item_id)
                       if isinstance(p, NNRConfigurationItemProperty)), None)
        try:
            data = ta.item_data(ctx.file, meta, item_id)
            units = parse_units(data, config.parse_state() if config else None)
        except BmffError as e:
            yield f"{where}: the item data is not a sequence of NNR units: {e.message} (4.19.4.3)"
            continue
        banned = {a.nnr_unit_type for a in config.arrays} if config else set()
        clash = sorted({u.nnr_unit_type for u in units} & banned)
        if clash:
            yield (f"{where}: the item data holds {', '.join(_unit_name(t) for t in clash)} units that its 'nnrC' "
                   "property already carries; it shall not (4.19.4.1)")


@amd1_check("nnr1-pred-references-nnr1")
def _pred(ctx: CheckContext) -> Iterator[str]:
    for mname, meta in ctx.metas:
        types = ta.item_types(meta)
        for from_id, to_ids in ta.references(meta, "pred"):
            if types.get(from_id) != "nnr1":
                continue
            for to_id in to_ids:
                if types.get(to_id) != "nnr1":
                    found = "no such item" if to_id not in types else f"item_type '{types[to_id]}'"
                    yield (f"{mname} item {from_id}: its 'pred' reference points to item {to_id} with {found}; an "
                           "incremental NNR update references another NNR item (4.19.4.1)")


def _unit_name(t: int) -> str:
    return UNIT_TYPE_NAMES.get(t, f"type {t}")


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 7 -> '1-3, 7': short messages for long sample lists."""
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)
