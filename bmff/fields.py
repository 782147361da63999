"""Declared bodies: a regular box's syntax as one field list, from which its parser and its writer both follow.

A box whose body is a fixed sequence of fields lists them in the standard's order,

    FIELDS = (("creation_time", LONG), ("modification_time", LONG), ("timescale", U32), ...)

and puts `FieldList` before its base class. Parse reads each field in turn; build writes each one back, checking
that it fits its width (a BmffError naming the box and field, never a struct.error). Boxes whose syntax branches
on flags, counts or the bytes left (trun, iloc, sample entries, sgpd, ...) keep hand-written bodies.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from .box import BmffError, Context, Reader, Writer


@dataclass(frozen=True)
class Kind:
    """How one field is coded: read(reader, version) -> value; write(writer, value, version, label). An array
    also says what it holds (element, count)."""

    read: Callable[[Reader, int], Any]
    write: Callable[[Writer, Any, int, str], None]
    element: Kind | None = None
    count: int = 0


def put_int(w: Writer, value, nbytes: int, label: str, signed: bool = False) -> None:
    """Write `value` in exactly nbytes, big-endian; a value that is no integer or does not fit is a BmffError
    naming `label` (never a struct.error or OverflowError). Every checked integer write of the box writers."""
    try:
        value = operator.index(value)
    except TypeError:
        raise BmffError(f"{label} = {value!r} is not an integer") from None
    bits = 8 * nbytes
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed and bits else (0, 1 << bits)
    if not low <= value < high:
        raise BmffError(f"{label} = {value} does not fit in {nbytes} {'signed ' * signed}bytes")
    w.write(value.to_bytes(nbytes, "big", signed=signed))


def integer(nbytes: int, signed: bool = False) -> Kind:
    return Kind(lambda r, v: int.from_bytes(r.read(nbytes), "big", signed=signed),
                lambda w, x, v, label: put_int(w, x, nbytes, label, signed))


def by_version(v0_bytes: int, v1_bytes: int) -> Kind:
    """An unsigned integer v0_bytes wide in version 0 and v1_bytes wide in version 1 (times, item IDs)."""
    width = lambda version: v1_bytes if version == 1 else v0_bytes
    return Kind(lambda r, v: r.uint(width(v)), lambda w, x, v, label: put_int(w, x, width(v), label))


def verbatim(nbytes: int) -> Kind:
    """A reserved / pre_defined run kept verbatim (QuickTime stores values there); its length is fixed."""

    def write(w: Writer, data, version: int, label: str) -> None:
        if len(data) != nbytes:
            raise BmffError(f"{label} must be {nbytes} bytes, got {len(data)}")
        w.write(bytes(data))

    return Kind(lambda r, v: r.read(nbytes), write)


def array(element: Kind, count: int) -> Kind:
    """`count` values of one kind, as a list."""

    def write(w: Writer, values, version: int, label: str) -> None:
        if len(values) != count:
            raise BmffError(f"{label} has {count} values, got {len(values)}")
        for x in values:
            element.write(w, x, version, label)

    return Kind(lambda r, v: [element.read(r, v) for _ in range(count)], write, element, count)


U8, U16, U32, U64 = (integer(n) for n in (1, 2, 4, 8))
I16, I32 = integer(2, signed=True), integer(4, signed=True)
LONG = by_version(4, 8)  # times and durations: 32 bits in version 0, 64 in version 1
ITEM_ID = by_version(2, 4)  # item IDs: 16 bits in version 0, 32 in version 1
FOURCC = Kind(lambda r, v: r.fourcc(), lambda w, x, v, label: w.fourcc(x))


class FieldList:
    """Mixin: parse_body and build_body from the class's FIELDS ((name, Kind), ...)."""

    FIELDS: ClassVar[tuple[tuple[str, Kind], ...]] = ()

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context):
        return cls(**{name: kind.read(r, ctx.version) for name, kind in cls.FIELDS})

    def build_body(self, w: Writer) -> None:
        version = getattr(self, "version", 0)
        for name, kind in self.FIELDS:
            kind.write(w, getattr(self, name), version, f"{self.TYPE} {name}")
