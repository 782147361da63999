"""Box and FullBox bases, the 4CC registry, and the one header reader and one header writer.

Every box class is a dataclass whose fields are named as in ISO/IEC 14496-12 and whose `parse_body` /
`build_body` sit next to each other. Anything a parser does not understand stays as bytes, so a file always
writes back the same bytes it was read from.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar, Iterator

MAX_DEPTH = 64  # nesting deeper than this is treated as an attack or a corrupt file
_CHUNK = 1 << 16  # window of the file source's read cache, and of streamed payload copies


def printable(text: str) -> str:
    """text with each non-printable character as its Python escape (\\x00, \\r, \\n): 4CCs and strings read
    from a file ('\\x00\\x10JF' from a JPEG) then cannot put control bytes or line breaks into a message."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_fourcc(raw: bytes) -> bool:
    """Four printable ASCII bytes, as every registered box type is."""
    return len(raw) == 4 and all(0x20 <= c <= 0x7E for c in raw)


class BmffError(Exception):
    """A malformed or unsupported file: carries the absolute byte offset and the box path.

    `message` and `path` are kept as read; the text of the error has them `printable`.
    """

    def __init__(self, message: str, offset: int | None = None, path: str = ""):
        self.message, self.offset, self.path = message, offset, path
        where = []
        if path:
            where.append(path)
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(printable(f"{message} ({', '.join(where)})" if where else message))


# --------------------------------------------------------------------------------------------- sources


class Source:
    """Random access to the bytes of a file: an in-memory buffer or a seekable binary file object."""

    def __init__(self, data: bytes | bytearray | memoryview | BinaryIO):
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._mem: memoryview | None = memoryview(data).cast("B")
            self._fp = None
            self.size = len(self._mem)
        else:
            self._mem, self._fp = None, data
            data.seek(0, 2)
            self.size = data.tell()
            self._win_start, self._win = 0, b""

    def read_at(self, offset: int, n: int) -> bytes:
        """Exactly the bytes [offset, offset+n) clipped to the end of the source."""
        if n <= 0 or offset >= self.size:
            return b""
        if self._mem is not None:
            return bytes(self._mem[offset : offset + n])
        ws = self._win_start
        if ws <= offset and offset + n <= ws + len(self._win):
            return self._win[offset - ws : offset - ws + n]
        self._fp.seek(offset)
        if n >= _CHUNK:
            return self._fp.read(n)
        self._win_start, self._win = offset, self._fp.read(_CHUNK)
        return self._win[:n]


@dataclass(eq=False)
class Payload:
    """A lazy byte range of a source: media data is never read unless asked for."""

    source: Source
    offset: int
    size: int

    def read(self) -> bytes:
        return self.source.read_at(self.offset, self.size)

    def chunks(self) -> Iterator[bytes]:
        for start in range(self.offset, self.offset + self.size, _CHUNK * 16):
            yield self.source.read_at(start, min(_CHUNK * 16, self.offset + self.size - start))

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Payload):
            return self.size == other.size and all(a == b for a, b in zip(self.chunks(), other.chunks()))
        if isinstance(other, (bytes, bytearray)):
            return self.size == len(other) and self.read() == bytes(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Payload(offset={self.offset}, size={self.size})"


def payload_bytes(data: bytes | Payload) -> bytes:
    return data.read() if isinstance(data, Payload) else bytes(data)


# --------------------------------------------------------------------------------------------- reader


class Reader:
    """Big-endian reads bounded by [pos, end) of a source; every read is checked before it happens."""

    def __init__(self, source: Source, pos: int, end: int, path: str = ""):
        self.source, self.pos, self.end, self.path = source, pos, end, path

    def remaining(self) -> int:
        return self.end - self.pos

    def error(self, message: str, offset: int | None = None) -> BmffError:
        return BmffError(message, self.pos if offset is None else offset, self.path)

    def read(self, n: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise self.error(f"needs {n} bytes, {self.end - self.pos} left")
        data = self.source.read_at(self.pos, n)
        if len(data) != n:
            raise self.error(f"file truncated: needs {n} bytes")
        self.pos += n
        return data

    def rest(self) -> bytes:
        return self.read(self.end - self.pos)

    def _unpack(self, fmt: str, n: int) -> int:
        return struct.unpack(fmt, self.read(n))[0]

    def u8(self) -> int:
        return self.read(1)[0]

    def u16(self) -> int:
        return self._unpack(">H", 2)

    def u24(self) -> int:
        return int.from_bytes(self.read(3), "big")

    def u32(self) -> int:
        return self._unpack(">I", 4)

    def u64(self) -> int:
        return self._unpack(">Q", 8)

    def i16(self) -> int:
        return self._unpack(">h", 2)

    def i32(self) -> int:
        return self._unpack(">i", 4)

    def i64(self) -> int:
        return self._unpack(">q", 8)

    def uint(self, nbytes: int) -> int:
        """An unsigned integer of 0..8 bytes (iloc-style variable field sizes)."""
        return int.from_bytes(self.read(nbytes), "big") if nbytes else 0

    def fourcc(self) -> str:
        return self.read(4).decode("latin-1")

    def cstring(self) -> str:
        """A NUL-terminated UTF-8 string; a missing NUL at the end of the box is tolerated."""
        out = bytearray()
        while self.pos < self.end:
            b = self.u8()
            if b == 0:
                return out.decode("utf-8", "surrogateescape")
            out.append(b)
        raise self.error("string without NUL terminator")

    def array(self, fmt: str, count: int) -> list[int]:
        """`count` fixed-size big-endian values in one read (sample tables can hold millions)."""
        size = struct.calcsize(">" + fmt)
        self.check_count(count, size)
        return list(struct.unpack(f">{count}{fmt}", self.read(count * size))) if count else []

    def check_count(self, count: int, item_size: int) -> int:
        """An entry count may never promise more bytes than remain: no allocation beyond the file."""
        if count * max(item_size, 1) > self.remaining():
            raise self.error(f"entry count {count} needs {count * item_size} bytes, {self.remaining()} left")
        return count


class Writer:
    """Big-endian writes into a growing buffer; the mirror of Reader."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data

    def u8(self, v: int) -> None:
        self.buf += struct.pack(">B", v)

    def u16(self, v: int) -> None:
        self.buf += struct.pack(">H", v)

    def u24(self, v: int) -> None:
        self.buf += v.to_bytes(3, "big")

    def u32(self, v: int) -> None:
        self.buf += struct.pack(">I", v)

    def u64(self, v: int) -> None:
        self.buf += struct.pack(">Q", v)

    def i16(self, v: int) -> None:
        self.buf += struct.pack(">h", v)

    def i32(self, v: int) -> None:
        self.buf += struct.pack(">i", v)

    def i64(self, v: int) -> None:
        self.buf += struct.pack(">q", v)

    def uint(self, v: int, nbytes: int) -> None:
        if nbytes:
            self.buf += v.to_bytes(nbytes, "big")

    def fourcc(self, v: str) -> None:
        raw = v.encode("latin-1")
        if len(raw) != 4:
            raise BmffError(f"four-character code {v!r} is not 4 bytes")
        self.buf += raw

    def cstring(self, v: str) -> None:
        self.buf += v.encode("utf-8", "surrogateescape") + b"\0"

    def array(self, fmt: str, values: list[int]) -> None:
        self.buf += struct.pack(f">{len(values)}{fmt}", *values)


# --------------------------------------------------------------------------------------------- headers


def plausible_header(head: bytes) -> bool:
    """Whether bytes can start a box: a size of 0, 1 or at least 8, then a printable 4CC. A JPEG or PNG fails
    here, so a reader can say "not an ISO BMFF file" before reading its first bytes as a box size."""
    size = int.from_bytes(head[:4], "big")
    return len(head) >= 8 and (size in (0, 1) or size >= 8) and is_fourcc(head[4:8])


@dataclass
class Header:
    """What a box header said, so the writer can keep its form (largesize, size 0) on the way back out."""

    type: str
    offset: int  # absolute offset of the first header byte
    header_size: int
    size: int  # whole box, header included (for size 0: up to the end of the parent/file)
    form: str = "compact"  # "compact" (32-bit size), "large" (size==1 + 64-bit), "to_end" (size==0)
    usertype: bytes | None = None

    @property
    def body_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def end(self) -> int:
        return self.offset + self.size


def read_header(source: Source, offset: int, limit: int, path: str = "") -> Header:
    """THE header reader: 32-bit size, 64-bit largesize, size 0 (to the end of the parent), 'uuid' usertype."""
    raw = source.read_at(offset, 8)
    if len(raw) < 8 or offset + 8 > limit:
        raise BmffError("truncated box header", offset, path)
    size, = struct.unpack(">I", raw[:4])
    box_type = raw[4:].decode("latin-1")
    header_size, form = 8, "compact"
    if size == 1:
        ext = source.read_at(offset + 8, 8)
        if len(ext) < 8 or offset + 16 > limit:
            raise BmffError(f"truncated largesize of '{box_type}'", offset, path)
        size, header_size, form = struct.unpack(">Q", ext)[0], 16, "large"
    elif size == 0:
        size, form = limit - offset, "to_end"
    usertype = None
    if box_type == "uuid":
        usertype = source.read_at(offset + header_size, 16)
        if len(usertype) < 16 or offset + header_size + 16 > limit:
            raise BmffError("truncated uuid usertype", offset, path)
        header_size += 16
    if size < header_size:
        raise BmffError(f"box '{box_type}' size {size} is smaller than its header", offset, path)
    if offset + size > limit:
        raise BmffError(f"box '{box_type}' of size {size} overflows its parent (ends at {limit})", offset, path)
    return Header(box_type, offset, header_size, size, form, usertype)


def write_header(box_type: str, body_size: int, form: str = "compact", usertype: bytes | None = None) -> bytes:
    """THE header writer: keeps a requested form, switching to largesize only when 32 bits cannot hold it."""
    type_raw = box_type.encode("latin-1")
    if len(type_raw) != 4:
        raise BmffError(f"box type {box_type!r} is not 4 bytes")
    extra = b""
    if box_type == "uuid":
        if usertype is None or len(usertype) != 16:
            raise BmffError("a 'uuid' box needs a 16-byte usertype")
        extra = bytes(usertype)
    size = 8 + len(extra) + body_size
    if form == "to_end":
        return struct.pack(">I", 0) + type_raw + extra
    if form == "large" or size > 0xFFFFFFFF:
        return struct.pack(">I", 1) + type_raw + struct.pack(">Q", size + 8) + extra
    return struct.pack(">I", size) + type_raw + extra


# --------------------------------------------------------------------------------------------- registry


# (parent 4CC or None, child 4CC) -> class. Parent-specific entries win: a 4CC can mean different things
# in different places (sample entries in 'stsd', reference types in 'iref').
_REGISTRY: dict[tuple[str | None, str], type["Box"]] = {}
# parent 4CC -> class used for any child 4CC not registered for it (e.g. every child of 'iref').
_PARENT_DEFAULT: dict[str, type["Box"]] = {}


def register(*parents: str | None, default_in: tuple[str, ...] = ()):
    """Class decorator: register a box class by its TYPE, globally or only inside the given parents.

    Users extend the parser the same way: `@register()` on their own Box subclass.
    """

    def deco(cls: type[Box]) -> type[Box]:
        for parent in parents or (None,):
            _REGISTRY[(parent, cls.TYPE)] = cls
        for parent in default_in:
            _PARENT_DEFAULT[parent] = cls
        return cls

    return deco


def lookup(box_type: str, parent: str | None) -> type["Box"]:
    cls = _REGISTRY.get((parent, box_type))
    if cls is None and parent is not None:
        cls = _PARENT_DEFAULT.get(parent)
    if cls is None:
        cls = _REGISTRY.get((None, box_type), UnknownBox)
    return cls


# --------------------------------------------------------------------------------------------- context


@dataclass
class Context:
    """State that flows down the tree while parsing: the path, depth, and facts earlier siblings told us."""

    path: tuple[str, ...] = ()
    handler_type: str | None = None  # set by 'hdlr' so later sample entries know video from audio
    lazy_threshold: int = 1 << 20  # unknown leaves larger than this stay lazy
    version: int = 0  # of the FullBox being parsed (parse_body reads it here)
    flags: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path_str(self) -> str:
        return "/".join(self.path)

    @property
    def parent(self) -> str | None:
        return self.path[-1] if self.path else None


# --------------------------------------------------------------------------------------------- boxes


@dataclass
class Box:
    """Base of every box. Subclasses set TYPE and implement parse_body/build_body as a symmetric pair.

    `trailing` keeps bytes after what the parser understood; `header` remembers the original header form
    (not part of equality: two boxes with equal content are equal however their sizes were coded).
    """

    TYPE: ClassVar[str] = ""
    LAZY: ClassVar[bool] = False  # body kept as a Payload, never read while parsing

    trailing: bytes = field(default=b"", kw_only=True)
    header: Header | None = field(default=None, kw_only=True, compare=False, repr=False)

    @property
    def type(self) -> str:
        return self.TYPE

    # -- body, overridden per box type (FullBox handles version/flags before calling these)
    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "Box":
        return cls()

    def build_body(self, w: Writer) -> None:
        pass

    # -- whole box
    def to_bytes(self) -> bytes:
        w = Writer()
        if isinstance(self, FullBox):
            w.u8(self.version)
            w.u24(self.flags)
        self.build_body(w)
        w.write(self.trailing)
        return self.to_header(len(w.buf)) + bytes(w.buf)

    def to_header(self, body_size: int | None = None) -> bytes:
        """This box's header for a body of body_size bytes (default: the lazy payload's size)."""
        if body_size is None:
            body_size = len(getattr(self, "data"))
        form = self.header.form if self.header else "compact"
        usertype = getattr(self, "usertype", None) or (self.header.usertype if self.header else None)
        return write_header(self.type, body_size, form, usertype)

    # -- tree helpers (containers override `children`)
    @property
    def boxes(self) -> list["Box"]:
        return getattr(self, "children", [])

    def find(self, path: str) -> "Box | None":
        """First box at a slash-separated 4CC path below this one, e.g. 'trak/mdia/minf/stbl/stsd'."""
        found = self.find_all(path)
        return found[0] if found else None

    def find_all(self, path: str) -> list["Box"]:
        level: list[Box] = [self]
        for part in path.strip("/").split("/"):
            level = [c for b in level for c in b.boxes if c.type == part]
        return level

    def walk(self) -> Iterator["Box"]:
        yield self
        for child in self.boxes:
            yield from child.walk()


@dataclass
class FullBox(Box):
    """A box whose body starts with version u8 and flags u24."""

    version: int = field(default=0, kw_only=True)
    flags: int = field(default=0, kw_only=True)
    VERSIONS: ClassVar[tuple[int, ...] | None] = None  # versions the body syntax is known for


@dataclass
class UnknownBox(Box):
    """A box no parser is registered for: kept whole (lazy when large) so it writes back byte-exact."""

    box_type: str = "    "
    data: bytes | Payload = b""
    usertype: bytes | None = None

    @property
    def type(self) -> str:
        return self.box_type

    def build_body(self, w: Writer) -> None:
        w.write(payload_bytes(self.data))


@dataclass
class ContainerBox(Box):
    """A box that is nothing but child boxes ('moov', 'trak', 'mdia', ...)."""

    children: list[Box] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ContainerBox":
        return cls(children=parse_boxes(r, ctx))

    def build_body(self, w: Writer) -> None:
        build_boxes(w, self.children)


@dataclass
class FullContainerBox(FullBox):
    """A FullBox followed by child boxes ('meta', 'iref' children, ...)."""

    children: list[Box] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "FullContainerBox":
        return cls(children=parse_boxes(r, ctx))

    def build_body(self, w: Writer) -> None:
        build_boxes(w, self.children)


# --------------------------------------------------------------------------------------------- tree io


def parse_box(r: Reader, ctx: Context) -> Box:
    """Parse the box at r.pos (header from THE header reader), advancing r past it."""
    if len(ctx.path) >= MAX_DEPTH:
        raise r.error(f"boxes nested deeper than {MAX_DEPTH}")
    hdr = read_header(r.source, r.pos, r.end, ctx.path_str)
    cls = lookup(hdr.type, ctx.parent)
    sub_ctx = dataclasses.replace(ctx, path=ctx.path + (hdr.type,))
    body = Reader(r.source, hdr.body_offset, hdr.end, sub_ctx.path_str)
    if cls is UnknownBox or cls.LAZY:
        size = hdr.end - hdr.body_offset
        lazy = cls.LAZY or size > ctx.lazy_threshold
        data = Payload(r.source, hdr.body_offset, size) if lazy else body.rest()
        box = cls(box_type=hdr.type, data=data, usertype=hdr.usertype) if cls is UnknownBox else cls(data=data)
    else:
        box = _parse_known(cls, body, sub_ctx)
    box.header = hdr
    r.pos = hdr.end
    return box


def _parse_known(cls: type[Box], body: Reader, ctx: Context) -> Box:
    version = flags = None
    if issubclass(cls, FullBox):
        version, flags = body.u8(), body.u24()
        if cls.VERSIONS is not None and version not in cls.VERSIONS:
            # A version we cannot read: keep the whole body so nothing is lost.
            return UnknownBox(box_type=ctx.path[-1], data=_rewind(body, 4))
        ctx.version, ctx.flags = version, flags
    box = cls.parse_body(body, ctx)
    if version is not None:
        box.version, box.flags = version, flags
    box.trailing = body.rest()
    return box


def _rewind(body: Reader, n: int) -> bytes:
    body.pos -= n
    return body.rest()


def parse_boxes(r: Reader, ctx: Context) -> list[Box]:
    """Every box from r.pos to r.end. Bytes too few to be a header stay as the caller's trailing bytes."""
    out = []
    while r.remaining() >= 8:
        out.append(parse_box(r, ctx))
    return out


def build_boxes(w: Writer, boxes: list[Box]) -> None:
    for b in boxes:
        w.write(b.to_bytes())
