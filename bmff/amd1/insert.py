"""ISO/IEC 14496-15 4.19.7: insert NNPFC SEI NAL units from the 'nfcs' sample groups into the samples.

`plan_insertions` decides, from sync samples, sample-entry runs and the 'nfcs' sample-to-group mappings alone,
which NNPFC messages each sample gets; `insert_into_sample` places them; `carriage.reconstruct_track` does both for a
track of a parsed file. Reading of the clause, where it leaves room:
  * A sample mapped to a base entry that is a sync sample, the first of a sample-entry run, or the first of a
    run of one base entry for some filter_id gets one SEI NAL unit per filter_id mapped to a base entry:
    the base message, then the update message of that filter_id if the sample is mapped to one.
  * Otherwise a sample that starts a run of one update entry (and is not a sync sample nor the first of a
    sample-entry run) gets one SEI NAL unit per such filter_id with the update message.
  * HEVC/VVC: one prefix SEI NAL unit per layer with a coded picture in the sample, carrying that layer's
    nuh_layer_id and TemporalId, placed right before the first VCL NAL unit of the layer; AVC: right before
    the first VCL NAL unit. Filters are ordered by filter_id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from ..box import BmffError
from .boxes import NfcsGroupingParameter, NnpfcSeiSampleGroupEntry
from .nal import AVC, SEI_NAL_TYPES, NalHeader, build_nal_header, escape_rbsp, is_vcl, parse_nal_header, split_sample
from .sei import SeiMessage, parse_sei_message, sei_rbsp


@dataclass(frozen=True)
class Insertion:
    """One SEI NAL unit to insert: its filter_id and the (filter_update_flag, group_description_index) of each
    NNPFC message it carries, in order."""

    filter_id: int
    messages: tuple[tuple[int, int], ...]


def _run_start(indices: list[int], i: int) -> bool:
    return bool(indices[i]) and (i == 0 or indices[i - 1] != indices[i])


def plan_insertions(sync: list[bool], sample_description_index: list[int],
                    groups: dict[NfcsGroupingParameter, list[int]]) -> list[list[Insertion]]:
    """Per sample, the SEI NAL units 4.19.7 inserts. groups maps each 'nfcs' grouping parameter to the
    group_description_index of every sample (0: not mapped)."""
    n = len(sync)
    if len(sample_description_index) != n or any(len(v) != n for v in groups.values()):
        raise BmffError("sync, sample-entry and group lists must all have one value per sample")
    filter_ids = sorted({p.filter_id for p in groups})
    empty = [0] * n
    base = {f: groups.get(NfcsGroupingParameter(0, f), empty) for f in filter_ids}
    update = {f: groups.get(NfcsGroupingParameter(1, f), empty) for f in filter_ids}
    plan = []
    for i in range(n):
        first_of_entry = i == 0 or sample_description_index[i] != sample_description_index[i - 1]
        mapped = [f for f in filter_ids if base[f][i]]
        if mapped and (sync[i] or first_of_entry or any(_run_start(base[f], i) for f in mapped)):
            plan.append([Insertion(f, ((0, base[f][i]),) + (((1, update[f][i]),) if update[f][i] else ()))
                         for f in mapped])
        elif not sync[i] and not first_of_entry:
            plan.append([Insertion(f, ((1, update[f][i]),)) for f in filter_ids if _run_start(update[f], i)])
        else:
            plan.append([])
    return plan


def complete_message(entry: NnpfcSeiSampleGroupEntry, nnr_bitstream: bytes | None) -> SeiMessage:
    """The NNPFC sei_message() of an entry; with num_items == 1 its NNR bitstream (the 'nnr1' item, nnrC units
    first) becomes the nnpfc_payload_byte[] the stored message leaves out."""
    msg, end = parse_sei_message(entry.nnpfc_sei_data_byte)
    if end != len(entry.nnpfc_sei_data_byte):
        raise BmffError(f"'nfcs' entry holds {len(entry.nnpfc_sei_data_byte) - end} bytes after its sei_message()")
    if entry.num_items == 1:
        if nnr_bitstream is None:
            raise BmffError(f"'nfcs' entry refers to item {entry.item_id[0]} but its data was not found")
        msg = SeiMessage(msg.payload_type, msg.payload + nnr_bitstream)
    return msg


def insert_into_sample(codec: str, nals: list[bytes], sei_payloads: list[list[SeiMessage]]) -> list[bytes]:
    """nals with one prefix SEI NAL unit per message list inserted before the first VCL NAL unit (per layer
    for HEVC/VVC). A sample without VCL NAL units gets them at its end, for layer 0."""
    if not sei_payloads:
        return list(nals)
    headers = [parse_nal_header(codec, n) for n in nals]
    first_vcl: dict[int, int] = {}
    for pos, h in enumerate(headers):
        if is_vcl(codec, h.nal_unit_type):
            first_vcl.setdefault(0 if codec == AVC else h.layer_id, pos)
    if not first_vcl:
        first_vcl = {0: len(nals)}
    inserts: dict[int, list[bytes]] = {}
    for layer, pos in first_vcl.items():
        tid = headers[pos].temporal_id if pos < len(nals) and codec != AVC else 0
        header = build_nal_header(codec, NalHeader(SEI_NAL_TYPES[codec][0], layer, tid))
        inserts[pos] = [header + escape_rbsp(sei_rbsp(msgs)) for msgs in sei_payloads]
    out: list[bytes] = []
    for pos in range(len(nals) + 1):
        out += inserts.get(pos, [])
        if pos < len(nals):
            out.append(nals[pos])
    return out


def reconstruct_samples(codec: str, samples: Iterable[bytes], length_size: int, sync: list[bool],
                        sample_description_index: list[int], groups: dict[NfcsGroupingParameter, list[int]],
                        entries: list[NnpfcSeiSampleGroupEntry],
                        nnr_bitstream: Callable[[NnpfcSeiSampleGroupEntry], bytes | None]) -> Iterator[list[bytes]]:
    """Each sample's NAL units with the 4.19.7 SEI NAL units inserted; entries are the 'nfcs' sgpd entries
    (group_description_index i is entries[i-1]), nnr_bitstream resolves an entry's 'nnr1' item."""
    plan = plan_insertions(sync, sample_description_index, groups)
    messages: dict[int, SeiMessage] = {}

    def message(index: int) -> SeiMessage:
        if index not in messages:
            if not 1 <= index <= len(entries):
                raise BmffError(f"'nfcs' group_description_index {index} has no entry ({len(entries)} entries)")
            entry = entries[index - 1]
            if not isinstance(entry, NnpfcSeiSampleGroupEntry):  # kept as bytes: its syntax could not be read
                raise BmffError(f"'nfcs' entry {index} could not be read: "
                                f"{getattr(entry, 'parse_error', None) or 'not an NNPFC entry'}")
            messages[index] = complete_message(entry, nnr_bitstream(entry) if entry.num_items == 1 else None)
        return messages[index]

    for data, insertions in zip(samples, plan):
        nals = split_sample(data, length_size)
        yield insert_into_sample(codec, nals, [[message(g) for _, g in ins.messages] for ins in insertions])
