"""Column tables shared by the entry-list boxes (elst, stts, stsc, sbgp, ...): parallel lists named as the spec's
per-entry fields, read in one bounded read and written in one pack, so million-entry tables stay fast."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence

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


# --------------------------------------------------------------------------------------------- row tables
# Records that a box can hold by the million for a few bytes each (iloc's extents are 0 bytes wide when its
# field sizes are 0) are rows of parallel arrays, and the objects a caller sees are views of one row.

_TYPECODES = "BHIQ"  # unsigned array types, narrowest first


def column(nbytes: int) -> array | list:
    """Storage for a field coded in nbytes: the narrowest unsigned array that holds it, a list beyond 64 bits."""
    code = next((c for c in _TYPECODES if array(c).itemsize >= nbytes), None)
    return array(code) if code else []


def _wider(col: array | list, value) -> array | list:
    """col in storage that also takes value: 64-bit array for a larger unsigned int, else a list."""
    if isinstance(col, array) and isinstance(value, int) and 0 <= value < 1 << 64 and col.typecode != "Q":
        return array("Q", col)
    return list(col)


class Columns:
    """Parallel columns named as a record's fields; a value too wide for its column widens the column."""

    __slots__ = ("cols",)

    def __init__(self, widths: dict[str, int]):
        self.cols = {name: column(n) for name, n in widths.items()}

    def __len__(self) -> int:
        return len(next(iter(self.cols.values())))

    def get(self, name: str, row: int):
        return self.cols[name][row]

    def _fit(self, name: str, value) -> array | list:
        """The column of name, widened first when value does not fit it."""
        col = self.cols[name]
        if isinstance(col, array) and not (isinstance(value, int) and 0 <= value < 1 << 8 * col.itemsize):
            self.cols[name] = col = _wider(col, value)
        return col

    def set(self, name: str, row: int, value) -> None:
        self._fit(name, value)[row] = value

    def insert(self, row: int, values: dict) -> None:
        for name, value in values.items():
            self._fit(name, value).insert(row, value)

    def extend_zeros(self, n: int) -> None:
        for col in self.cols.values():
            if isinstance(col, array):
                col.frombytes(bytes(n * col.itemsize))
            else:
                col.extend([0] * n)

    def delete(self, start: int, stop: int) -> None:
        for col in self.cols.values():
            del col[start:stop]


class Record:
    """A record with the spec's field names (FIELDS), stored as one row of a Columns table: the row of a box's
    table, or, built standalone, the only row of its own. Equal to any record of the same class and values."""

    __slots__ = ("_rows", "_row")
    FIELDS: tuple[str, ...] = ()

    def _bind(self, rows, row: int) -> None:
        self._rows, self._row = rows, row

    def _own_row(self, *values) -> None:
        """Bind a record built standalone to the only row of a table of its own (values in FIELDS order)."""
        rows = Columns(dict.fromkeys(self.FIELDS, 1))
        rows.insert(0, dict(zip(self.FIELDS, values)))
        self._bind(rows, 0)

    @classmethod
    def view(cls, rows, row: int) -> "Record":
        rec = cls.__new__(cls)
        rec._bind(rows, row)
        return rec

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self.values() == other.values()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.FIELDS)})"


def record_field(name: str) -> property:
    """A Record attribute that reads and writes its row's column."""
    return property(lambda self: self._rows.get(name, self._row),
                    lambda self, value: self._rows.set(name, self._row, value))


def sub_rows_field() -> property:
    """A NestedRows record's attribute that is its run of sub-rows (a SubRows view); assigning replaces them."""
    return property(lambda self: self._rows.sub_rows(self._row),
                    lambda self, subs: self._rows.set_subs(self._row, subs))


class Rows(Sequence):
    """A list-like run of Record views (len, index, slice, iterate, compare with any sequence of records).

    Subclasses give `_view(i)` and `column(name)`, one field over all rows (a copy), for whole-table reads
    that a million views would make slow.
    """

    RECORD: type[Record] = Record

    def __iter__(self):
        for i in range(len(self)):
            yield self._view(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self._view(i % n)

    def __repr__(self) -> str:
        return repr(list(self))


class NestedRows(Rows):
    """Rows that each own a run of sub-rows ('iloc' items and their extents, 'ipma' entries and their
    associations): the row fields COLUMNS in `items`, the SUB_RECORD fields in `subs`, and `first`, the sub-row
    where each row's run starts (first[-1]: the sub-row count). A row costs a few bytes, not objects, and so does
    each sub-row. Indexing gives RECORD views whose attribute SUBS is the run (SubRows); an appended record
    becomes a view of its new row, so changes to it reach the table."""

    __slots__ = ("items", "first", "subs")
    COLUMNS: tuple[str, ...] = ()
    SUBS = ""
    SUB_RECORD: type[Record] = Record

    def __init__(self, rows=(), widths: dict[str, int] | None = None, sub_widths: dict[str, int] | None = None):
        self.items = Columns(widths or dict.fromkeys(self.COLUMNS, 1))
        self.first = array("Q", [0])
        self.subs = Columns(sub_widths or dict.fromkeys(self.SUB_RECORD.FIELDS, 1))
        for row in rows:
            self.append(row)

    def __len__(self) -> int:
        return len(self.first) - 1

    def _view(self, i: int) -> Record:
        return self.RECORD.view(self, i)

    def column(self, name: str) -> array | list:
        return self.items.cols[name][:]

    def get(self, name: str, row: int):
        return self.items.get(name, row)

    def set(self, name: str, row: int, value) -> None:
        self.items.set(name, row, value)

    def add(self, values: dict, subs=()) -> None:
        """A new last row from its column values and its sub-rows (records or tuples in SUB_RECORD.FIELDS order)."""
        self.items.insert(len(self), values)
        self.first.append(self.first[-1])
        self.set_subs(len(self) - 1, subs)

    def append(self, record: Record) -> None:
        self.add({name: getattr(record, name) for name in self.COLUMNS}, getattr(record, self.SUBS))
        record._bind(self, len(self) - 1)

    def sub_rows(self, i: int) -> "SubRows":
        return SubRows(self, i)

    def set_subs(self, i: int, subs) -> None:
        """Replace row i's sub-rows."""
        rows = [s.values() if isinstance(s, Record) else tuple(s) for s in subs]
        start, stop = self.first[i], self.first[i + 1]
        self.subs.delete(start, stop)
        for k, values in enumerate(rows):
            self.subs.insert(start + k, dict(zip(self.SUB_RECORD.FIELDS, values)))
        shift = len(rows) - (stop - start)
        if shift:
            for j in range(i + 1, len(self.first)):
                self.first[j] += shift


class SubRows(Rows):
    """The sub-rows of one row of a NestedRows: rows first[i] .. first[i+1] of its `subs` columns."""

    __slots__ = ("_table", "_row")

    def __init__(self, table: NestedRows, row: int):
        self._table, self._row = table, row

    @property
    def RECORD(self) -> type[Record]:  # noqa: N802 (Rows' class attribute, per table here)
        return self._table.SUB_RECORD

    def __len__(self) -> int:
        return self._table.first[self._row + 1] - self._table.first[self._row]

    def _view(self, i: int) -> Record:
        return self._table.SUB_RECORD.view(self._table.subs, self._table.first[self._row] + i)

    def column(self, name: str) -> array | list:
        return self._table.subs.cols[name][self._table.first[self._row] : self._table.first[self._row + 1]]

    def append(self, record: Record) -> None:
        self._table.set_subs(self._row, [*self, record])
