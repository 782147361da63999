"""ISO/IEC 14496-15 Amd 1 in one place: its boxes, SEI and NAL syntax, carriage, 4.19.7 insertion and rules.

  boxes.py     'seii', 'nnrC', 'hdlp', the 'stmi' / 'nfcs' / 'nfas' sample group entries (registered on import)
  nal.py       NAL unit headers, emulation prevention, length-prefixed samples, Annex B
  sei.py       sei_message() framing and the payloads the amendment reads: NNPFC (210), manifest, prefix indication
  carriage.py  reading and writing those structures in a parsed File (the functions re-exported here)
  insert.py    4.19.7: the NNPFC SEI NAL units a sample gets from its 'nfcs' sample groups
  rules.py     the amendment's shall-statements as named checks of `bmff validate`

The NNR unit framing itself (ISO/IEC 15938-17) is another standard's syntax and stays in `bmff.nnr_units`.
"""

# the reading and writing API, as `bmff.amd1.<name>`
from .carriage import (
                       add_fragment_nfcs_groups,
                       add_item,
                       add_nfcs_group,
                       add_post_filter,
                       add_reference,
                       entry_codec,
                       file_meta,
                       find_file_meta,
                       group_containers,
                       grouping_parameter,
                       handler_of,
                       item_data,
                       item_properties,
                       item_types,
                       length_size,
                       meta_with_handler,
                       metas,
                       movie_sample_count,
                       new_meta,
                       nfcs_entries,
                       nfcs_groups,
                       nfcs_sample_groups,
                       nnr_bitstream,
                       nnr_item,
                       original_format,
                       parameter_sets,
                       properties,
                       reconstruct_track,
                       references,
                       sample_entries,
                       sample_entry_sei,
                       sample_sei_types,
                       sbgps,
                       sgpd_entries,
                       track_fragments,
                       track_samples,  # noqa: F401
                       tracks,
                       unwrap_restricted,
                       wrap_restricted,
)
