"""Item boxes (ISO/IEC 14496-12 §8.11): meta, pitm, iloc, iinf/infe, iref, iprp/ipco/ipma, idat.

HEIF images and the NNR items of Amd 1 live here. `item_data` resolves an item's bytes through iloc's three
construction methods (file offset, 'idat', other items) with a guard against reference cycles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..box import (
    BmffError,
    Box,
    ContainerBox,
    Context,
    FullBox,
    Reader,
    Source,
    Writer,
    build_boxes,
    is_fourcc,
    parse_box,
    parse_boxes,
    payload_bytes,
    register,
)
from ..fields import ITEM_ID, FieldList, put_int
from .file import MediaDataBox
from .tables import NestedRows, Record, record_field, sub_rows_field


def _id_size(wide: bool) -> int:
    return 4 if wide else 2


def _optional_cstring(r: Reader) -> str | None:
    """A string the syntax marks optional: present exactly when bytes remain."""
    return r.cstring() if r.remaining() else None


# --------------------------------------------------------------------------------------------- meta


@register()
@dataclass
class MetaBox(Box):
    """'meta': a FullBox container in ISO files; QuickTime writes it without version/flags.

    Not a FullBox subclass because the version/flags word is only there in the ISO form: `quicktime` records
    which form was read (the body starts with a child box header) so it is written back the same way.
    """

    TYPE = "meta"
    children: list[Box] = field(default_factory=list)
    version: int = field(default=0, kw_only=True)
    flags: int = field(default=0, kw_only=True)
    quicktime: bool = field(default=False, kw_only=True)

    @staticmethod
    def _looks_like_box(head: bytes, remaining: int) -> bool:
        """A QuickTime body starts with u32 size + printable 4CC; an ISO body starts with version 0 + flags."""
        if len(head) < 8:
            return False
        return 8 <= int.from_bytes(head[:4], "big") <= remaining and is_fourcc(head[4:8])

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "MetaBox":
        if cls._looks_like_box(r.source.read_at(r.pos, 8), r.remaining()):
            return cls(children=parse_boxes(r, ctx), quicktime=True)
        version, flags = r.u8(), r.u24()
        return cls(children=parse_boxes(r, ctx), version=version, flags=flags)

    def build_body(self, w: Writer) -> None:
        if not self.quicktime:
            w.u8(self.version)
            w.u24(self.flags)
        build_boxes(w, self.children)


# --------------------------------------------------------------------------------------------- pitm


@register()
@dataclass
class PrimaryItemBox(FieldList, FullBox):
    TYPE = "pitm"
    VERSIONS = (0, 1)
    item_ID: int = 0
    FIELDS = (("item_ID", ITEM_ID),)


# --------------------------------------------------------------------------------------------- iloc


class ItemLocationExtent(Record):
    """One extent of an item: a view of a row of its 'iloc' extent columns, or standalone when built."""

    __slots__ = ()
    FIELDS = ("extent_offset", "extent_length", "extent_index")  # extent_index: versions 1/2 with index_size > 0
    extent_offset = record_field("extent_offset")
    extent_length = record_field("extent_length")
    extent_index = record_field("extent_index")

    def __init__(self, extent_offset: int = 0, extent_length: int = 0, extent_index: int = 0):
        self._own_row(extent_offset, extent_length, extent_index)


_ITEM_COLUMNS = ("item_ID", "construction_method", "data_reference_index", "base_offset", "reserved")


class ItemLocation(Record):
    """One item of 'iloc': a view of a row of the box's item columns, or standalone when built.

    construction_method: 0 file offset, 1 'idat' offset, 2 item offset (versions 1/2 only); data_reference_index
    0: this file; reserved: the 12 bits before construction_method, kept so odd files write back as read.
    """

    __slots__ = ()
    FIELDS = ("item_ID", "construction_method", "data_reference_index", "base_offset", "extents", "reserved")
    item_ID = record_field("item_ID")
    construction_method = record_field("construction_method")
    data_reference_index = record_field("data_reference_index")
    base_offset = record_field("base_offset")
    reserved = record_field("reserved")

    def __init__(self, item_ID: int = 0, construction_method: int = 0, data_reference_index: int = 0,
                 base_offset: int = 0, extents=(), reserved: int = 0):
        table = ItemLocations()
        table.add(dict(zip(_ITEM_COLUMNS, (item_ID, construction_method, data_reference_index, base_offset,
                                           reserved))), extents)
        self._bind(table, 0)

    extents = sub_rows_field()  # a SubRows view of this row's extents


class ItemLocations(NestedRows):
    """The items of an 'iloc' box as columns: an item costs a few bytes, not objects, and so does each of its
    extents (16 items of 65,535 zero-width extents fit in 1 MB of box). Indexing gives ItemLocation views;
    an appended ItemLocation becomes a view of its new row, so changes to it reach the box."""

    __slots__ = ()
    COLUMNS, SUBS, SUB_RECORD = _ITEM_COLUMNS, "extents", ItemLocationExtent
    RECORD = ItemLocation


@register()
@dataclass
class ItemLocationBox(FullBox):
    """'iloc': where each item's bytes are. Field widths are per box, in bytes (0, 4 or 8).

    `items` is an ItemLocations table; a list of ItemLocation assigned to it is copied in.
    """

    TYPE = "iloc"
    VERSIONS = (0, 1, 2)
    offset_size: int = 4
    length_size: int = 4
    base_offset_size: int = 0
    index_size: int = 0  # a reserved nibble in version 0, kept as read
    items: ItemLocations = field(default_factory=ItemLocations)

    def __setattr__(self, name, value):
        if name == "items" and not isinstance(value, ItemLocations):
            value = ItemLocations(value)
        super().__setattr__(name, value)

    def _index_size(self) -> int:
        return self.index_size if self.version else 0

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ItemLocationBox":
        v = ctx.version
        b0, b1 = r.u8(), r.u8()
        box = cls(b0 >> 4, b0 & 15, b1 >> 4, b1 & 15)
        id_size = _id_size(v == 2)
        item_count = r.uint(id_size)
        r.check_count(item_count, id_size + (2 if v else 0) + 2 + box.base_offset_size + 2)
        widths = [box.index_size if v else 0, box.offset_size, box.length_size]
        extent_size = sum(widths)
        table = ItemLocations(widths=dict(zip(_ITEM_COLUMNS, (id_size, 1, 2, box.base_offset_size, 2))),
                              sub_widths=dict(zip(ItemLocationExtent.FIELDS, widths[1:] + widths[:1])))
        zero_width_budget = r.remaining()  # extents of 0 bytes each cost no input: bound them by the box size
        for row in range(item_count):
            item_ID, reserved, method = r.uint(id_size), 0, 0
            if v:
                word = r.u16()
                reserved, method = word >> 4, word & 15
            table.items.insert(row, {"item_ID": item_ID, "construction_method": method,
                                     "data_reference_index": r.u16(), "base_offset": r.uint(box.base_offset_size),
                                     "reserved": reserved})
            extent_count = r.u16()
            if extent_size:
                r.check_count(extent_count, extent_size)
                block = memoryview(r.read(extent_count * extent_size))
                columns, at = {}, 0
                for name, width in zip(("extent_index", "extent_offset", "extent_length"), widths):
                    columns[name] = [int.from_bytes(block[k + at : k + at + width], "big")
                                     for k in range(0, len(block), extent_size)]
                    at += width
                for name, values in columns.items():
                    table.subs.cols[name].extend(values)
            else:
                zero_width_budget -= extent_count
                if zero_width_budget < 0:
                    raise r.error("iloc promises more zero-width extents than its size allows")
                table.subs.extend_zeros(extent_count)
            table.first.append(table.first[-1] + extent_count)
        box.items = table
        return box

    def build_body(self, w: Writer) -> None:
        v = self.version
        for nibble in (self.offset_size, self.length_size, self.base_offset_size, self.index_size):
            if not 0 <= nibble <= 15:  # the standard uses 0, 4, 8; any nibble read is written back as read
                raise BmffError(f"iloc field size {nibble} does not fit its 4 bits")
        w.u8(self.offset_size << 4 | self.length_size)
        w.u8(self.base_offset_size << 4 | self.index_size)
        id_size = _id_size(v == 2)
        put_int(w, len(self.items), id_size, "iloc item_count")
        fields = [("extent_index", self._index_size()), ("extent_offset", self.offset_size),
                  ("extent_length", self.length_size)]
        table = self.items
        for i, item in enumerate(table):
            put_int(w, item.item_ID, id_size, "iloc item_ID")
            if v:
                put_int(w, item.reserved << 4 | item.construction_method, 2, "iloc construction_method")
            put_int(w, item.data_reference_index, 2, "iloc data_reference_index")
            put_int(w, item.base_offset, self.base_offset_size, "iloc base_offset")
            start, stop = table.first[i], table.first[i + 1]
            put_int(w, stop - start, 2, "iloc extent_count")
            columns = [(name, table.subs.cols[name][start:stop], width) for name, width in fields]
            for name, values, width in columns:
                if not width and any(values):  # a 0-byte field holds only zeros: checked per column, not per value
                    put_int(w, next(x for x in values if x), 0, f"iloc {name}")
            coded = [(values, width, name) for name, values, width in columns if width]
            for k in range(stop - start if coded else 0):
                for values, width, name in coded:
                    put_int(w, values[k], width, f"iloc {name}")

    def item(self, item_ID: int) -> ItemLocation | None:
        return next((i for i in self.items if i.item_ID == item_ID), None)


# --------------------------------------------------------------------------------------------- iinf / infe


@register()
@dataclass
class ItemInfoBox(FullBox):
    """'iinf': entry_count (u16 in version 0, u32 in version 1) 'infe' boxes; `children` are the item_infos."""

    TYPE = "iinf"
    VERSIONS = (0, 1)
    children: list[Box] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ItemInfoBox":
        entry_count = r.check_count(r.uint(_id_size(ctx.version == 1)), 8)
        return cls([parse_box(r, ctx) for _ in range(entry_count)])

    def build_body(self, w: Writer) -> None:
        put_int(w, len(self.children), _id_size(self.version == 1), "iinf entry_count")
        build_boxes(w, self.children)


@register()
@dataclass
class ItemInfoEntry(FullBox):
    """'infe'. Versions 2/3 carry item_type (u16/u32 item_ID); 0/1 carry MIME-like strings only.

    Optional strings are None when absent (content_encoding after content_type; extension_type in v1,
    whose ItemInfoExtension body stays in `trailing`). Editing item_type is allowed: strings its type does not
    code are not written, and a required string left None is written empty.
    """

    TYPE = "infe"
    VERSIONS = (0, 1, 2, 3)
    version: int = field(default=2, kw_only=True)
    item_ID: int = 0
    item_protection_index: int = 0
    item_type: str = "mime"
    item_name: str = ""
    content_type: str | None = None  # 'mime' items (v2/3) and every v0/1 entry
    content_encoding: str | None = None
    item_uri_type: str | None = None  # 'uri ' items
    extension_type: int | None = None  # v1 only

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ItemInfoEntry":
        v = ctx.version
        if v < 2:
            box = cls(r.u16(), r.u16(), "", r.cstring(), r.cstring(), _optional_cstring(r))
            if v == 1 and r.remaining() >= 4:
                box.extension_type = r.u32()
            return box
        box = cls(r.uint(_id_size(v == 3)), r.u16(), r.fourcc(), r.cstring())
        if box.item_type == "mime":
            box.content_type, box.content_encoding = r.cstring(), _optional_cstring(r)
        elif box.item_type == "uri ":
            box.item_uri_type = r.cstring()
        return box

    def build_body(self, w: Writer) -> None:
        v = self.version
        put_int(w, self.item_ID, _id_size(v == 3), "infe item_ID")
        put_int(w, self.item_protection_index, 2, "infe item_protection_index")
        if v >= 2:
            w.fourcc(self.item_type)
        w.cstring(self.item_name)
        if v < 2 or self.item_type == "mime":
            w.cstring(self.content_type or "")
            if self.content_encoding is not None:
                w.cstring(self.content_encoding)
        elif self.item_type == "uri ":
            w.cstring(self.item_uri_type or "")
        if v == 1 and self.extension_type is not None:
            if self.content_encoding is None:
                raise BmffError("infe v1 extension_type needs a content_encoding before it")
            put_int(w, self.extension_type, 4, "infe extension_type")


# --------------------------------------------------------------------------------------------- iref


@dataclass
class SingleItemTypeReferenceBox(Box):
    """A child of 'iref': its box type is the reference type ('dimg', 'thmb', 'cdsc', 'pred', 'iloc', ...).

    Item IDs are u16 under iref version 0 and u32 under version 1 (the "Large" variant); the parent decides.
    """

    reference_type: str = "cdsc"
    from_item_ID: int = 0
    to_item_ID: list[int] = field(default_factory=list)
    large: bool = False

    @property
    def type(self) -> str:
        return self.reference_type

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SingleItemTypeReferenceBox":
        large = ctx.extra.get("iref_version") == 1
        size = _id_size(large)
        from_id = r.uint(size)
        count = r.check_count(r.u16(), size)
        return cls(ctx.path[-1], from_id, [r.uint(size) for _ in range(count)], large)

    def build_body(self, w: Writer) -> None:
        size = _id_size(self.large)
        put_int(w, self.from_item_ID, size, "iref from_item_ID")
        put_int(w, len(self.to_item_ID), 2, "iref reference_count")
        for i in self.to_item_ID:
            put_int(w, i, size, "iref to_item_ID")


register("iref", default_in=("iref",))(SingleItemTypeReferenceBox)


@register()
@dataclass
class ItemReferenceBox(FullBox):
    """'iref': typed references between items; every child uses the ID width set by this box's version."""

    TYPE = "iref"
    VERSIONS = (0, 1)
    children: list[Box] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ItemReferenceBox":
        sub = dataclasses.replace(ctx, extra={**ctx.extra, "iref_version": ctx.version})
        return cls(parse_boxes(r, sub))

    def build_body(self, w: Writer) -> None:
        large = self.version == 1
        build_boxes(w, [dataclasses.replace(c, large=large) if isinstance(c, SingleItemTypeReferenceBox) else c
                        for c in self.children])

    def references(self, reference_type: str, from_item_ID: int) -> list[int]:
        """The to_item_IDs of every reference of a type from an item, in file order."""
        return [i for c in self.children if isinstance(c, SingleItemTypeReferenceBox)
                and c.reference_type == reference_type and c.from_item_ID == from_item_ID for i in c.to_item_ID]


# --------------------------------------------------------------------------------------------- properties


@register()
@dataclass
class ItemPropertiesBox(ContainerBox):
    """'iprp': one 'ipco' then 'ipma' boxes."""

    TYPE = "iprp"


@register()
@dataclass
class ItemPropertyContainerBox(ContainerBox):
    """'ipco': the properties, addressed 1-based by ipma; unknown properties stay as bytes (UnknownBox)."""

    TYPE = "ipco"


class ItemPropertyAssociation(Record):
    """One association of 'ipma': a view of a row of its association columns, or standalone when built.
    property_index is 1-based into 'ipco'; 0 means "no property"."""

    __slots__ = ()
    FIELDS = ("essential", "property_index")
    property_index = record_field("property_index")

    def __init__(self, essential: bool = False, property_index: int = 0):
        self._own_row(int(bool(essential)), property_index)

    @property
    def essential(self) -> bool:
        return bool(self._rows.get("essential", self._row))

    @essential.setter
    def essential(self, value: bool) -> None:
        self._rows.set("essential", self._row, int(bool(value)))


class ItemPropertyAssociationEntry(Record):
    """One item of 'ipma' and its associations: a view of a row of the box's columns, or standalone when built."""

    __slots__ = ()
    FIELDS = ("item_ID", "associations")
    item_ID = record_field("item_ID")

    def __init__(self, item_ID: int = 0, associations=()):
        table = ItemPropertyAssociations()
        table.add({"item_ID": item_ID}, associations)
        self._bind(table, 0)

    associations = sub_rows_field()  # a SubRows view of this row's associations


class ItemPropertyAssociations(NestedRows):
    """The entries of an 'ipma' box as columns: an entry (3 bytes in the file at least) and an association (1
    byte) cost a few bytes each, not objects. Indexing gives ItemPropertyAssociationEntry views."""

    __slots__ = ()
    COLUMNS, SUBS, SUB_RECORD = ("item_ID",), "associations", ItemPropertyAssociation
    RECORD = ItemPropertyAssociationEntry


_HIGH_BIT = bytes(b >> 7 for b in range(256))  # bytes.translate tables splitting a 1-byte association
_LOW_7_BITS = bytes(b & 127 for b in range(256))


@register()
@dataclass
class ItemPropertyAssociationBox(FullBox):
    """'ipma': item_ID u16 (v0) or u32 (v1); property_index 7 bits, or 15 bits when flags & 1.

    `entries` is an ItemPropertyAssociations table; a list of ItemPropertyAssociationEntry assigned to it is
    copied in."""

    TYPE = "ipma"
    VERSIONS = (0, 1)
    entries: ItemPropertyAssociations = field(default_factory=ItemPropertyAssociations)

    def __setattr__(self, name, value):
        if name == "entries" and not isinstance(value, ItemPropertyAssociations):
            value = ItemPropertyAssociations(value)
        super().__setattr__(name, value)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ItemPropertyAssociationBox":
        id_size, wide = _id_size(ctx.version >= 1), bool(ctx.flags & 1)
        entry_count = r.check_count(r.u32(), id_size + 1)
        table = ItemPropertyAssociations(widths={"item_ID": id_size},
                                         sub_widths={"essential": 1, "property_index": 2 if wide else 1})
        ids, first = table.items.cols["item_ID"], table.first
        essential, index = table.subs.cols["essential"], table.subs.cols["property_index"]
        for _ in range(entry_count):
            ids.append(r.uint(id_size))
            count = r.check_count(r.u8(), 2 if wide else 1)
            raw = bytes(r.read(count * (2 if wide else 1)))
            if wide:
                words = [int.from_bytes(raw[k : k + 2], "big") for k in range(0, len(raw), 2)]
                essential.extend(word >> 15 for word in words)
                index.extend(word & 0x7FFF for word in words)
            else:
                essential.frombytes(raw.translate(_HIGH_BIT))
                index.frombytes(raw.translate(_LOW_7_BITS))
            first.append(first[-1] + count)
        return cls(table)

    def build_body(self, w: Writer) -> None:
        id_size, wide = _id_size(self.version >= 1), bool(self.flags & 1)
        bits = 15 if wide else 7
        table = self.entries
        essential, index = table.subs.cols["essential"], table.subs.cols["property_index"]
        put_int(w, len(table), 4, "ipma entry_count")
        for i in range(len(table)):
            put_int(w, table.get("item_ID", i), id_size, "ipma item_ID")
            start, stop = table.first[i], table.first[i + 1]
            put_int(w, stop - start, 1, "ipma association_count")
            for bit, property_index in zip(essential[start:stop], index[start:stop]):
                if not 0 <= property_index < 1 << bits:
                    raise BmffError(f"ipma property_index {property_index} needs {bits} bits (set flags & 1)")
                put_int(w, int(bool(bit)) << bits | property_index, 2 if wide else 1, "ipma association")

    def properties_of(self, item_ID: int) -> list[ItemPropertyAssociation]:
        return [a for i, x in enumerate(self.entries.items.cols["item_ID"]) if x == item_ID
                for a in self.entries.sub_rows(i)]


@register()
@dataclass
class ItemDataBox(MediaDataBox):
    """'idat': item bytes addressed by iloc construction_method 1; a lazy byte range like 'mdat'."""

    TYPE = "idat"


# --------------------------------------------------------------------------------------------- item data


MAX_ITEM_NESTING = 64  # construction_method 2 chains deeper than this are refused, not recursed into


def item_data(meta: MetaBox, item_ID: int, source: Source | None = None, max_size: int = 1 << 31) -> bytes:
    """The bytes of one item, resolved through iloc (file offsets need the file's `source`).

    Construction method 2 follows 'iloc' references to other items. Each item is resolved once (so shared
    references cannot blow up exponentially); a cycle, a chain deeper than MAX_ITEM_NESTING, or an item larger
    than max_size raises BmffError instead of hanging or exhausting memory.
    """
    iloc = next((b for b in meta.children if isinstance(b, ItemLocationBox)), None)
    if iloc is None:
        raise BmffError("meta has no 'iloc' box")
    idat = next((b for b in meta.children if isinstance(b, ItemDataBox)), None)
    iref = next((b for b in meta.children if isinstance(b, ItemReferenceBox)), None)
    return _ItemResolver(iloc, idat, iref, source, max_size).resolve(item_ID, ())


class _ItemResolver:
    def __init__(self, iloc: ItemLocationBox, idat: ItemDataBox | None, iref: ItemReferenceBox | None,
                 source: Source | None, max_size: int):
        self.locations = {item.item_ID: item for item in reversed(iloc.items)}  # the first entry wins
        self.idat, self.iref, self.source, self.max_size = idat, iref, source, max_size
        self.done: dict[int, bytes] = {}
        self._idat_bytes: bytes | None = None

    def resolve(self, item_ID: int, visiting: tuple[int, ...]) -> bytes:
        if item_ID in self.done:
            return self.done[item_ID]
        if item_ID in visiting:
            raise BmffError(f"item {item_ID} is built from itself (iloc reference cycle {visiting + (item_ID,)})")
        if len(visiting) >= MAX_ITEM_NESTING:
            raise BmffError(f"item {item_ID} is built through more than {MAX_ITEM_NESTING} nested items")
        loc = self.locations.get(item_ID)
        if loc is None:
            raise BmffError(f"item {item_ID} has no location in 'iloc'")
        if loc.data_reference_index != 0:
            raise BmffError(f"item {item_ID} lives in another file (data_reference_index {loc.data_reference_index})")
        out = bytearray()
        for e in loc.extents:
            whole, what = self._extent_source(loc, e, visiting)
            start = loc.base_offset + e.extent_offset
            total = self.source.size if whole is None else len(whole)
            length = e.extent_length or total - start  # 0: to the end of the source
            if length < 0 or start + length > total:
                raise BmffError(f"item {item_ID} extent [{start}, {start + length}) runs past its {what}")
            if len(out) + length > self.max_size:
                raise BmffError(f"item {item_ID} is larger than {self.max_size} bytes")
            out += self.source.read_at(start, length) if whole is None else whole[start:start + length]
        self.done[item_ID] = bytes(out)
        return self.done[item_ID]

    def _extent_source(self, loc: ItemLocation, e: ItemLocationExtent,
                       visiting: tuple[int, ...]) -> tuple[bytes | None, str]:
        """The bytes an extent is cut from (None: the file itself) and their name for messages."""
        if loc.construction_method == 0:
            if self.source is None:
                raise BmffError(f"item {loc.item_ID} is stored at a file offset: pass the file's source")
            return None, "file"
        if loc.construction_method == 1:
            if self.idat is None:
                raise BmffError(f"item {loc.item_ID} is stored in 'idat' but meta has none")
            if self._idat_bytes is None:
                self._idat_bytes = payload_bytes(self.idat.data)
            return self._idat_bytes, "idat"
        if loc.construction_method == 2:
            targets = self.iref.references("iloc", loc.item_ID) if self.iref else []
            k = max(e.extent_index, 1)  # extent_index is 1-based; absent (index_size 0) means the first
            if k > len(targets):
                raise BmffError(f"item {loc.item_ID} extent_index {k} has no 'iloc' reference")
            return self.resolve(targets[k - 1], visiting + (loc.item_ID,)), f"item {targets[k - 1]}"
        raise BmffError(f"item {loc.item_ID} has unknown construction_method {loc.construction_method}")
