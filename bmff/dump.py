"""Every field of every box, as an indented text tree or a nested JSON-ready structure.

Generic over the box dataclasses: whatever fields a box class declares are shown, so new box types need no
code here. Lazy payloads are shown as (offset, size) and never read; bytes are shown as hex cut to a limit
with their full length, so dumping a multi-GB file stays fast and small. `json_chunks` writes the JSON a piece
at a time, so a table of a million records (iloc extents) streams instead of being built.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
from array import array
from typing import Any, Iterator

from .box import Box, FullBox, Payload, UnknownBox, lookup, printable
from .boxes.tables import Record, Rows
from .io import File

HIDDEN_FIELDS = ("header", "trailing")  # shown as the node's header line / only when non-empty


def box_fields(box: Box) -> list[tuple[str, Any]]:
    """(name, value) of the box's dataclass fields in declaration order, header bookkeeping left out."""
    out = [(f.name, getattr(box, f.name)) for f in dataclasses.fields(box) if f.name not in HIDDEN_FIELDS]
    if box.trailing:
        out.append(("trailing", box.trailing))
    return out


def unparsed_version(box: Box, parent: str | None) -> int | None:
    """The version of a FullBox the registry knows but whose version it could not read (kept as UnknownBox)."""
    if type(box) is not UnknownBox or not box.data:
        return None
    cls = lookup(box.type, parent)
    if cls is UnknownBox or not issubclass(cls, FullBox):
        return None
    first = box.data.source.read_at(box.data.offset, 1) if isinstance(box.data, Payload) else box.data[:1]
    return first[0] if first else None


def box_info(box: Box, parent: str | None) -> dict[str, Any]:
    """Where the box sits and how its header was coded (offset None for boxes built in memory)."""
    hdr = box.header
    info: dict[str, Any] = {"type": box.type, "class": type(box).__name__,
                            "offset": hdr.offset if hdr else None,
                            "size": hdr.size if hdr else len(box.to_bytes())}
    if hdr and hdr.form != "compact":
        info["header_form"] = hdr.form
    if hdr and hdr.usertype is not None:
        info["usertype"] = hdr.usertype.hex()
    version = unparsed_version(box, parent)
    if version is not None:
        info["unparsed_version"] = version
    return info


def _is_box_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Box) for v in value)


def record_fields(value: Any) -> list[tuple[str, Any]] | None:
    """(name, value) of a nested record (a dataclass, or a Record row of a column table); None otherwise."""
    if isinstance(value, Record):
        return [(name, getattr(value, name)) for name in value.FIELDS]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    return None


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, Rows))


def _is_record_list(value: Any) -> bool:
    if isinstance(value, Rows):
        return len(value) > 0
    return isinstance(value, list) and bool(value) and all(record_fields(v) is not None for v in value)


# --------------------------------------------------------------------------------------------- JSON


def to_json(value: Any, max_bytes: int = 32, parent: str | None = None) -> Any:
    """A JSON-ready form of a field value: boxes as nodes, bytes as {length, hex}, lazy ranges as {offset, size}."""
    if isinstance(value, Box):
        return box_json(value, parent, max_bytes)
    if isinstance(value, Payload):
        return {"lazy": True, "offset": value.offset, "size": value.size}
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"length": len(raw), "hex": (raw if max_bytes <= 0 else raw[:max_bytes]).hex()}
    if isinstance(value, enum.Enum):
        return value.name
    fields = record_fields(value)
    if fields is not None:
        return {"class": type(value).__name__, **{name: to_json(v, max_bytes, parent) for name, v in fields}}
    if _is_list(value):
        return [to_json(v, max_bytes, parent) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v, max_bytes, parent) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def box_json(box: Box, parent: str | None = None, max_bytes: int = 32) -> dict[str, Any]:
    node = box_info(box, parent)
    node["fields"] = {name: to_json(value, max_bytes, box.type) for name, value in box_fields(box)}
    return node


def file_json(f: File, max_bytes: int = 32) -> dict[str, Any]:
    return {"boxes": [box_json(b, None, max_bytes) for b in f.boxes],
            "trailing": to_json(f.trailing, max_bytes)}


def json_chunks(value: Any, max_bytes: int = 32, parent: str | None = None) -> Iterator[str]:
    """The JSON text of to_json(value) (json.dumps' default separators), boxes, records and lists walked
    instead of built: memory stays that of one leaf value whatever the table sizes."""
    if isinstance(value, Box):
        yield json.dumps(box_info(value, parent))[:-1] + ', "fields": '
        yield from _json_object(box_fields(value), max_bytes, value.type)
        yield "}"
    elif not isinstance(value, Payload) and (fields := record_fields(value)) is not None:
        yield from _json_object([("class", type(value).__name__), *fields], max_bytes, parent)
    elif isinstance(value, dict):
        yield from _json_object(value.items(), max_bytes, parent)
    elif isinstance(value, Rows) and (table := _int_table(value)) is not None:
        yield from table
    elif _is_list(value):
        yield "["
        for k, v in enumerate(value):
            if k:
                yield ", "
            if _small_record(v):  # one encoder call: a generator per field would cost 20 times more
                yield json.dumps(to_json(v, max_bytes, parent))
            else:
                yield from json_chunks(v, max_bytes, parent)
        yield "]"
    else:
        yield json.dumps(to_json(value, max_bytes, parent))


def _small_record(value: Any, most: int = 256) -> bool:
    """A record holding no table of more than `most` rows: cheap to build whole before writing."""
    fields = None if isinstance(value, (Box, Payload)) else record_fields(value)
    return fields is not None and all(not isinstance(v, Rows) or len(v) <= most for _, v in fields)


def _int_table(rows: Rows, per_chunk: int = 4096) -> Iterator[str] | None:
    """The JSON of a table whose fields are all int columns, formatted by column a few thousand rows per piece
    (a million record views would take a minute); None when a field is no int column."""
    fields = rows.RECORD.FIELDS
    try:
        cols = [rows.column(name) for name in fields]
    except KeyError:
        return None
    if not all(isinstance(c, array) for c in cols):
        return None
    template = "{" + ", ".join([f'"class": {json.dumps(rows.RECORD.__name__)}',
                                *(f"{json.dumps(name)}: %d" for name in fields)]) + "}"

    def pieces() -> Iterator[str]:
        records = zip(*cols)
        yield "["
        for start in range(0, len(rows), per_chunk):
            yield (", " if start else "") + ", ".join(template % r for r in itertools.islice(records, per_chunk))
        yield "]"

    return pieces()


def _json_object(pairs, max_bytes: int, parent: str | None) -> Iterator[str]:
    yield "{"
    for k, (name, v) in enumerate(pairs):
        yield f'{", " if k else ""}{json.dumps(str(name))}: '
        yield from json_chunks(v, max_bytes, parent)
    yield "}"


def file_json_chunks(f: File, max_bytes: int = 32) -> Iterator[str]:
    """file_json(f) as JSON text, streamed."""
    return json_chunks({"boxes": f.boxes, "trailing": f.trailing}, max_bytes)


# --------------------------------------------------------------------------------------------- text


def format_value(value: Any, max_items: int = 16, max_bytes: int = 32) -> str:
    """One-line text of a non-box field value, long lists and byte strings cut with their full length."""
    if isinstance(value, Payload):
        return f"<lazy offset={value.offset} size={value.size}>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        shown = raw if max_bytes <= 0 else raw[:max_bytes]
        return f"<{len(raw)} bytes: {shown.hex(' ')}{' …' if len(shown) < len(raw) else ''}>"
    if isinstance(value, enum.Enum):
        return value.name
    fields = record_fields(value)
    if fields is not None:
        inner = ", ".join(f"{name}={format_value(v, max_items, max_bytes)}" for name, v in fields)
        return f"{type(value).__name__}({inner})"
    if _is_list(value):
        shown = value if max_items <= 0 else value[:max_items]
        inner = ", ".join(format_value(v, max_items, max_bytes) for v in shown)
        more = f", … ({len(value)} items)" if len(shown) < len(value) else ""
        return f"[{inner}{more}]"
    return repr(value)


def _header_line(info: dict[str, Any]) -> str:
    parts = [f"[{printable(info['type'])}]", info["class"]]
    parts.append(f"offset={info['offset']}" if info["offset"] is not None else "offset=-")
    parts.append(f"size={info['size']}")
    for key in ("header_form", "usertype", "unparsed_version"):
        if key in info:
            parts.append(f"{key}={info[key]}")
    return " ".join(parts)


def box_lines(box: Box, parent: str | None = None, indent: int = 0, max_items: int = 16,
              max_bytes: int = 32) -> Iterator[str]:
    pad = "  " * indent
    yield pad + _header_line(box_info(box, parent))
    for name, value in box_fields(box):
        if _is_box_list(value) or isinstance(value, Box):
            if name != "children":
                yield f"{pad}  {name}:"
            for child in value if isinstance(value, list) else [value]:
                yield from box_lines(child, box.type, indent + (1 if name == "children" else 2), max_items,
                                     max_bytes)
        elif _is_record_list(value):
            yield f"{pad}  {name}: {len(value)} entries"
            shown = value if max_items <= 0 else value[:max_items]
            for i, v in enumerate(shown, 1):
                yield f"{pad}    {i}: {format_value(v, max_items, max_bytes)}"
            if len(shown) < len(value):
                yield f"{pad}    … ({len(value) - len(shown)} more)"
        else:
            yield f"{pad}  {name} = {format_value(value, max_items, max_bytes)}"


def file_lines(f: File, max_items: int = 16, max_bytes: int = 32) -> Iterator[str]:
    for b in f.boxes:
        yield from box_lines(b, None, 0, max_items, max_bytes)
    if f.trailing:
        yield f"trailing = {format_value(f.trailing, max_items, max_bytes)}"
