"""Streaming parse of a whole file and writing it back: metadata in memory, media payloads lazy."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from .box import BmffError, Box, Context, Payload, Reader, Source, parse_boxes


@dataclass
class File:
    """A parsed file: its top-level boxes plus any bytes after the last whole box."""

    boxes: list[Box] = field(default_factory=list)
    trailing: bytes = b""
    source: Source | None = field(default=None, compare=False, repr=False)

    def find(self, path: str) -> Box | None:
        found = self.find_all(path)
        return found[0] if found else None

    def find_all(self, path: str) -> list[Box]:
        head, _, rest = path.strip("/").partition("/")
        level = [b for b in self.boxes if b.type == head]
        return [x for b in level for x in b.find_all(rest)] if rest else level

    def walk(self) -> Iterator[Box]:
        for b in self.boxes:
            yield from b.walk()

    def chunks(self) -> Iterator[bytes]:
        """The serialized file piece by piece; lazy top-level payloads are streamed, never loaded whole."""
        for b in self.boxes:
            data = getattr(b, "data", None)
            if isinstance(data, Payload) and not b.trailing:
                head = b.to_header()
                yield head
                yield from data.chunks()
            else:
                yield b.to_bytes()
        yield self.trailing

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())

    def write(self, path: str | os.PathLike) -> None:
        with open(path, "wb") as fp:
            for chunk in self.chunks():
                fp.write(chunk)


def open_source(src: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO) -> Source:
    """A Source over a path, a bytes-like object or a seekable binary file object.

    A path is kept open for the lazy payloads' lifetime (the File holds the handle through its Source).
    """
    if isinstance(src, (str, os.PathLike)):
        try:
            fp: BinaryIO = open(src, "rb")
        except OSError as e:
            raise BmffError(f"cannot open {os.fspath(src)}: {e.strerror}") from None
        source = Source(fp)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        source = Source(src)
    elif isinstance(src, io.IOBase) or hasattr(src, "read"):
        source = Source(src)
    else:
        raise TypeError(f"cannot parse a {type(src).__name__}")
    return source


def parse(src: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO, **ctx_options) -> File:
    """Parse a path, a bytes-like object or a seekable binary file object into a File."""
    source = open_source(src)
    r = Reader(source, 0, source.size)
    boxes = parse_boxes(r, Context(**ctx_options))
    return File(boxes=boxes, trailing=r.rest(), source=source)
