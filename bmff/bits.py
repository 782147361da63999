"""MSB-first bit reader and writer: the u(n) / ue(k) / se / st(v) descriptors of the video and NNR standards.

One implementation serves both ISO/IEC 15938-17 (k-th order Exp-Golomb `ue(k)`, `ie(k)`) and the SEI syntax of
H.264/H.265/H.266 (`ue(v)` = order 0). Every read is bounds-checked and raises BmffError, never IndexError.
"""

from __future__ import annotations

from .box import BmffError

MAX_EXP_GOLOMB_ZEROS = 32  # longer zero prefixes cannot come from a conforming writer: treat as corrupt


class BitReader:
    """Reads bits from bytes, most significant bit first."""

    def __init__(self, data: bytes, byte_pos: int = 0, end: int | None = None):
        self.data = bytes(data)
        self.pos = byte_pos * 8  # in bits
        self.end = (len(self.data) if end is None else end) * 8

    def bits_left(self) -> int:
        return self.end - self.pos

    def byte_aligned(self) -> bool:
        return self.pos % 8 == 0

    def u(self, n: int) -> int:
        if n == 0:
            return 0
        if n < 0 or n > self.bits_left():
            raise BmffError(f"needs {n} bits, {self.bits_left()} left")
        first, last = self.pos // 8, (self.pos + n - 1) // 8
        chunk = int.from_bytes(self.data[first : last + 1], "big")
        shift = (last + 1) * 8 - (self.pos + n)
        self.pos += n
        return (chunk >> shift) & ((1 << n) - 1)

    def flag(self) -> int:
        return self.u(1)

    def i(self, n: int) -> int:
        """Two's complement signed integer of n bits."""
        v = self.u(n)
        return v - (1 << n) if v >> (n - 1) else v

    def ue(self, k: int = 0) -> int:
        """k-th order Exp-Golomb: n leading zeros, a one, then k+n bits; value = 2^k (2^n - 1) + suffix."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > MAX_EXP_GOLOMB_ZEROS:
                raise BmffError("Exp-Golomb code with too many leading zeros")
        return ((1 << k) * ((1 << zeros) - 1)) + self.u(k + zeros)

    def se(self, k: int = 0) -> int:
        """Signed Exp-Golomb (`se(v)` in video, `ie(k)` in NNR): 1, 2, 3, 4 ... map to 1, -1, 2, -2 ..."""
        x = self.ue(k)
        return (x + 1) >> 1 if x & 1 else -(x >> 1)

    def align_bits(self) -> tuple[int, int]:
        """The bits up to the next byte boundary, as (value, count) so a caller can check their pattern."""
        n = (-self.pos) % 8
        return self.u(n), n

    def read_bytes(self, n: int) -> bytes:
        if not self.byte_aligned():
            raise BmffError("byte read at an unaligned bit position")
        if n < 0 or n * 8 > self.bits_left():
            raise BmffError(f"needs {n} bytes, {self.bits_left() // 8} left")
        start = self.pos // 8
        self.pos += n * 8
        return self.data[start : start + n]

    def rest_bytes(self) -> bytes:
        return self.read_bytes(self.bits_left() // 8)

    def st(self) -> str:
        """A byte-aligned NUL-terminated UTF-8 string (`st(v)`)."""
        if not self.byte_aligned():
            raise BmffError("string at an unaligned bit position")
        start, stop = self.pos // 8, self.end // 8
        nul = self.data.find(b"\0", start, stop)
        if nul < 0:
            raise BmffError("string without NUL terminator")
        self.pos = (nul + 1) * 8
        try:
            return self.data[start:nul].decode("utf-8")
        except UnicodeDecodeError as e:
            raise BmffError(f"string is not UTF-8: {e.reason}") from None

    def tail(self) -> tuple[int, int]:
        """All remaining bits as (value, count): for syntax we carry without understanding it."""
        n = self.bits_left()
        return self.u(n), n


class BitWriter:
    """Writes bits MSB first; the mirror of BitReader."""

    def __init__(self) -> None:
        self._acc = 0  # pending bits not yet a whole byte
        self._nacc = 0
        self.buf = bytearray()

    @property
    def bit_length(self) -> int:
        return len(self.buf) * 8 + self._nacc

    def byte_aligned(self) -> bool:
        return self._nacc == 0

    def u(self, n: int, v: int) -> None:
        if n == 0:
            return
        if v < 0 or v >> n:
            raise BmffError(f"value {v} does not fit in {n} bits")
        acc, nacc = (self._acc << n) | v, self._nacc + n
        whole = nacc // 8
        if whole:
            rem = nacc - whole * 8
            self.buf += (acc >> rem).to_bytes(whole, "big")
            acc &= (1 << rem) - 1
            nacc = rem
        self._acc, self._nacc = acc, nacc

    def flag(self, v: int | bool) -> None:
        self.u(1, int(bool(v)))

    def i(self, n: int, v: int) -> None:
        if not -(1 << (n - 1)) <= v < (1 << (n - 1)):
            raise BmffError(f"value {v} does not fit in {n} signed bits")
        self.u(n, v & ((1 << n) - 1))

    def ue(self, v: int, k: int = 0) -> None:
        if v < 0:
            raise BmffError(f"Exp-Golomb value {v} is negative")
        zeros = 0
        while v >= (1 << k) * ((1 << (zeros + 1)) - 1):  # n zeros code [2^k(2^n - 1), 2^k(2^(n+1) - 1))
            zeros += 1
        suffix = v - (1 << k) * ((1 << zeros) - 1)
        self.u(zeros + 1, 1)
        self.u(k + zeros, suffix)

    def se(self, v: int, k: int = 0) -> None:
        self.ue(2 * v - 1 if v > 0 else -2 * v, k)

    def align(self, bit: int) -> None:
        """Pad to the byte boundary with `bit`s (reserved-zero alignment)."""
        n = (-self._nacc) % 8
        self.u(n, ((1 << n) - 1) if bit else 0)

    def byte_alignment(self) -> None:
        """One 1 bit, then zeros to the boundary: NNR byte_alignment(), rbsp_trailing_bits(), SEI payload end."""
        self.u(1, 1)
        self.align(0)

    def write_bytes(self, data: bytes) -> None:
        if not self.byte_aligned():
            raise BmffError("byte write at an unaligned bit position")
        self.buf += data

    def st(self, v: str) -> None:
        raw = v.encode("utf-8")
        if b"\0" in raw:
            raise BmffError(f"string {v!r} contains a NUL character")
        self.write_bytes(raw + b"\0")

    def tail(self, value: int, nbits: int) -> None:
        self.u(nbits, value)

    def to_bytes(self) -> bytes:
        if not self.byte_aligned():
            raise BmffError(f"bitstream ends {self._nacc} bits past a byte boundary")
        return bytes(self.buf)
