"""Column tables shared by the entry-list boxes (elst, stts, stsc, sbgp, ...): parallel lists named as the spec's
per-entry fields, read in one bounded read and written in one pack, so million-entry tables stay fast."""

from __future__ import annotations

import struct

from ..box import BmffError, Reader, Writer


def read_columns(r: Reader, fmt: str, count: int) -> list[list[int]]:
    """`count` records of struct format `fmt` (big-endian), returned as one list per field."""
    size = struct.calcsize(">" + fmt)
    r.check_count(count, size)
    flat = struct.unpack(f">{fmt * count}", r.read(count * size))
    return [list(flat[i :: len(fmt)]) for i in range(len(fmt))]


def write_columns(w: Writer, fmt: str, columns: list[list[int]], box: str) -> None:
    """Interleave equal-length columns back into records; unequal lengths are a caller error."""
    count = len(columns[0])
    if any(len(c) != count for c in columns):
        raise BmffError(f"'{box}' entry columns differ in length: {[len(c) for c in columns]}")
    flat: list[int] = [0] * (count * len(fmt))
    for i, column in enumerate(columns):
        flat[i :: len(fmt)] = column
    try:
        w.write(struct.pack(f">{fmt * count}", *flat))
    except struct.error as e:
        raise BmffError(f"'{box}' entry value out of range: {e}") from None


def read_long(r: Reader, version: int) -> int:
    """Time and duration fields: 32 bits in version 0, 64 bits in version 1."""
    return r.u64() if version == 1 else r.u32()


def write_long(w: Writer, version: int, value: int) -> None:
    (w.u64 if version == 1 else w.u32)(value)


def fixed_bytes(w: Writer, data: bytes, size: int, name: str) -> None:
    """Reserved/pre_defined runs kept verbatim (QuickTime stores values there); their length is fixed."""
    if len(data) != size:
        raise BmffError(f"{name} must be {size} bytes, got {len(data)}")
    w.write(bytes(data))
