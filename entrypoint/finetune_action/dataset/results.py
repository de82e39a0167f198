"""Per-example results remembered by content, so a review costs what the change costs.

A line's scan (validation problems, token counts, features, whatever `validate.scan_lines`
finds) depends only on its raw bytes and on the rules it is checked against, so it is kept
under sha256(fingerprint of the rules and of the scanning code, the raw line). A line seen
before, in this run (the base after the head) or in an earlier one (the cache file), is not
scanned again; its result is copied in. The record is generic: every field of the Scan a
single line produces is stored, by type, so whatever the scan learns to report is cached too.
A scanned file's blob also keeps its whole Scan and its Outline (runs of common lines, hashed
in chunks), so the other side of a review is read against it chunk by chunk, not line by line.

The cache file (FINETUNE_CACHE) comes from an earlier run, restored by actions/cache: it is
untrusted input. A truncated, corrupt or stale file (another format, another version of the
code) is ignored with a notice, and a record that does not decode is scanned again. A path
holding anything else (a device, a directory, another tool's file) is neither read nor replaced.
The file is bounded (FINETUNE_CACHE_MAX_MB, 100 by default): when it would grow past it, only
what this run used is kept.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import itertools
import os
import re
import stat
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import blake3
import orjson

import finetune_action
from finetune_action.dataset import read
from finetune_action.dataset import validate

ENV = "FINETUNE_CACHE"
MAX_MB_ENV = "FINETUNE_CACHE_MAX_MB"
DEFAULT_MAX_MB = 100
MAGIC = b"finetune-action results cache\n"
FORMAT = 2  # 2: the checksum is BLAKE3 (sha256 took 26 ms of each 45 MB load, BLAKE3 10 ms)
KEY_BYTES = 16
_HEADER = struct.Struct("<I32sQQ32s")  # format, code fingerprint, slots, store bytes, BLAKE3 of the rest
_ENTRY = struct.Struct("<I")  # record length, after the key
_EXAMPLE, _SPARSE = 1, 2

Log = Callable[[str], None]


class Table:
    """An open-addressing hash table in two flat buffers: lookups copy nothing and forked
    workers share it without touching its pages (a dict of 400k records would cost each process
    60 MB)."""

    def __init__(self, slots: array | None = None, store: bytearray | None = None) -> None:
        self.slots = slots if slots is not None else array("q", [-1]) * 1024  # offset into store, -1 empty
        self.store = store if store is not None else bytearray()  # key, record length, record; ...
        self.used = len(self.slots) - self.slots.count(-1)
        # A bit per record used or added in this run (what a bounded save keeps), at its offset in
        # 16-byte units: no record is shorter, and 383k keys of 16 bytes would take 6 MB a side.
        self.marks = bytearray()

    def find(self, key: bytes) -> tuple[int, int] | None:
        """Where the record of `key` lies in the store (start, end), without copying it."""
        slots, store = self.slots, self.store
        mask = len(slots) - 1
        index = int.from_bytes(key[:8], "little") & mask
        while True:
            offset = slots[index]
            if offset < 0:
                return None
            if store[offset : offset + KEY_BYTES] == key:
                start = offset + KEY_BYTES + 4
                (length,) = _ENTRY.unpack_from(store, offset + KEY_BYTES)
                return start, start + length
            index = (index + 1) & mask

    def put(self, key: bytes, record: bytes) -> int:
        return self.put_parts(key, (record,))

    def put_parts(self, key: bytes, parts: Sequence[bytes | memoryview]) -> int:
        """Store the record made of `parts`, each appended as it is (a big record is never joined
        first); return its offset (the one already stored under `key`, if any)."""
        found = self.find(key)
        if found is not None:
            return found[0] - KEY_BYTES - 4
        if (self.used + 1) * 2 > len(self.slots):
            self._grow()
        offset = len(self.store)
        self.store += key
        self.store += _ENTRY.pack(sum(memoryview(part).nbytes for part in parts))
        for part in parts:
            self.store += part
        self._place(key, offset)
        self.used += 1
        return offset

    def learn(self, new: bytes, used: bytes, parts: float = 1) -> None:
        """Add the entries of `new` (key, record length, record; ...: the store's own layout) that
        are not stored yet, and mark them and the records at the offsets in `used` (array "q").
        `parts`: how many more like it will likely follow, the whole file's ranges (room is made
        for them all now, so the table is not grown and re-placed again and again).

        The parent learns every line of the head this way, so `new` is appended whole and only
        slots are placed one by one. An entry whose key is stored already stays in the store,
        dead: no slot points to it and nothing marks it (_place skips it when the table grows).
        """
        step = KEY_BYTES + 4
        starts = array("q")
        offset, size, unpack_length = 0, len(new), _ENTRY.unpack_from
        while offset < size:
            starts.append(offset)
            offset += step + unpack_length(new, offset + KEY_BYTES)[0]
        needed = self.used + int(len(starts) * max(parts, 1))
        if needed * 2 > len(self.slots):
            self._grow(needed * 2)
        slots, store = self.slots, self.store
        mask = len(slots) - 1
        base = len(store)
        store += new
        offsets = array("q")
        offsets.frombytes(used)
        added = 0
        for start in starts:
            key = new[start : start + KEY_BYTES]
            index = int.from_bytes(key, "little") & mask
            while True:
                offset = slots[index]
                if offset < 0:
                    offset = slots[index] = base + start
                    added += 1
                    break
                if store[offset : offset + KEY_BYTES] == key:
                    break
                index = (index + 1) & mask
            offsets.append(offset)
        self.used += added
        if offsets:
            last = max(offsets) >> 4 >> 3
            if last >= len(self.marks):
                self.marks += bytes(last - len(self.marks) + 1 + (len(self.marks) >> 3))
        marks = self.marks
        for offset in offsets:
            unit = offset >> 4
            marks[unit >> 3] |= 1 << (unit & 7)

    def mark(self, offset: int) -> None:
        """Note that the record at `offset` is used in this run."""
        unit = offset >> 4
        if unit >> 3 >= len(self.marks):
            self.marks += bytes((unit >> 3) - len(self.marks) + 1 + (len(self.marks) >> 3))
        self.marks[unit >> 3] |= 1 << (unit & 7)

    def marked(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, record) of every record marked used, in store order."""
        marks = self.marks
        for key, start, end in self._records():
            unit = (start - KEY_BYTES - 4) >> 4
            if unit >> 3 < len(marks) and marks[unit >> 3] >> (unit & 7) & 1:
                yield key, bytes(self.store[start:end])

    def _records(self) -> Iterator[tuple[bytes, int, int]]:
        """(key, start, end) of every record, in store order."""
        store, offset = self.store, 0
        while offset < len(store):
            (length,) = _ENTRY.unpack_from(store, offset + KEY_BYTES)
            start = offset + KEY_BYTES + 4
            yield bytes(store[offset : offset + KEY_BYTES]), start, start + length
            offset = start + length

    def _place(self, key: bytes, offset: int) -> None:
        """Point a free slot at the record at `offset`, unless `key` has one already (a dead duplicate)."""
        slots, store = self.slots, self.store
        mask = len(slots) - 1
        index = int.from_bytes(key[:8], "little") & mask
        while slots[index] >= 0:
            if store[slots[index] : slots[index] + KEY_BYTES] == key:
                return
            index = (index + 1) & mask
        slots[index] = offset

    def _grow(self, at_least: int = 0) -> None:
        """Double the slots (or more, to `at_least`) and place every record again."""
        size = len(self.slots) * 2
        while size < at_least:
            size *= 2
        self.slots = array("q", [-1]) * size
        store, offset = self.store, 0
        while offset < len(store):
            self._place(bytes(store[offset : offset + KEY_BYTES]), offset)
            (length,) = _ENTRY.unpack_from(store, offset + KEY_BYTES)
            offset += KEY_BYTES + 4 + length


class Cache(NamedTuple):
    path: Path | None  # where it is saved at the end; None: this run only
    table: Table
    loaded: int  # records read from the file
    max_bytes: int
    log: Log | None
    blobs: dict[Path, Registered]  # data file -> what is known of it
    sources: dict[tuple[str, bytes], Source | None]  # (blob, rules_key) -> the outline and Scan of that blob, once looked up


class Registered(NamedTuple):
    blob: str  # its git blob id
    materialize: Callable[[], Iterable[int]] | None  # how to write it in full (a stand-in)
    size: int | None
    like: str | None  # the blob it likely shares most lines with (the same path on the other side of a review)


def register(path: Path, blob: str, materialize: Callable[[], Iterable[int]] | None = None, size: int | None = None, like: str | None = None) -> None:
    """Say that `path` holds git blob `blob`, so a result known for that blob is used instead of a scan.

    `materialize` writes the whole file at `path` when it is only a stand-in (its first lines,
    enough to detect the format), yielding how many bytes are on disk after each write, up to
    `size`: the scan of a big file starts on its first ranges while the rest is written.
    `like`: a blob whose outline (scanned in this run or in the cache) is matched against the
    file in runs of lines, each run hashed whole (see Outline).
    """
    if _active is not None:
        _active.blobs[path.resolve()] = Registered(blob, materialize, size, like)


_active: Cache | None = None


def active() -> Cache | None:
    return _active


@contextlib.contextmanager
def session(path: str | os.PathLike | None, log: Log | None = None, max_mb: float | None = None) -> Iterator[Cache]:
    """Remember line results for the duration of a command, loaded from and saved to `path` if given."""
    global _active
    if max_mb is None:
        given = os.environ.get(MAX_MB_ENV) or ""
        try:
            max_mb = float(given or DEFAULT_MAX_MB)
        except ValueError:
            max_mb = -1.0
        if not 0 <= max_mb < 1e9:  # also nan and inf, which int() below cannot take
            if log:
                log(f"notice: {MAX_MB_ENV}={given!r} is not a size in MB (a number such as 100); the cache is kept within {DEFAULT_MAX_MB} MB")
            max_mb = DEFAULT_MAX_MB
    _return_freed_buffers()
    file = Path(path) if path else None
    if file is not None and (why := _not_ours(file)):
        if log:
            log(f"notice: {ENV} names {file}, {why}: it is left as it is, and this run neither reads nor saves a results cache; point {ENV} at a file of its own")
        file = None
    table = load(file, log) if file else None
    cache = Cache(file, table or Table(), table.used if table else 0, int(max_mb * 1048576), log, {}, {})
    previous, _active = _active, cache
    try:
        yield cache
    finally:
        _active = previous
        if file is not None:
            save(cache)


def _not_ours(path: Path) -> str | None:
    """Why the file at `path` must not be replaced by a saved cache, or None: a device (/dev/null
    was replaced by a regular file), a directory or a fifo, or a file of something else (a
    config, training data) that is not a results cache, not even a damaged one."""
    try:
        status = path.stat()
    except OSError:
        return None  # nothing there yet (or nothing readable: load and save say why)
    if not stat.S_ISREG(status.st_mode):
        return "which is not a regular file"
    try:
        with open(path, "rb") as f:
            start = f.read(len(MAGIC))
    except OSError:
        return None
    return "which is not a finetune-action results cache" if start and not MAGIC.startswith(start) else None


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def _return_freed_buffers() -> None:
    """Have glibc map every big buffer on its own, so that freeing it gives the memory back.

    glibc raises its mmap threshold to each big block freed (up to 32 MB), and the per-example
    arrays of a 383k-example file (1.5 to 11 MB, reallocated as they grow) then come from its heap,
    where freed space stays resident: 15-20 MB of the review's peak, inherited by the base's forked
    workers. Fixing the threshold at its initial 128 KB stops that. Elsewhere (musl, macOS): nothing.
    """
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 << 10)
    except (OSError, AttributeError):
        pass


def code_fingerprint() -> bytes:
    """The package version, every file a line's result depends on (scanning code, tokenizer data),
    and the versions of the installed tokenizer packages (tokenizers.PACKAGES)."""
    from finetune_action.tokens import tokenizers

    digest = hashlib.sha256(f"{finetune_action.__version__}\0{FORMAT}\0".encode())
    digest.update("\0".join(tokenizers.package_versions()).encode() + b"\0")
    _hash_package(digest, lambda folder: folder in _SCANNING)
    return digest.digest()


_SCANNING = ("dataset", "tokens")  # the package folders a line's result depends on


def _hash_package(digest: Any, within: Callable[[str], bool]) -> None:
    """Add every file of the package whose top folder passes `within` (its path and bytes) to `digest`."""
    package = Path(finetune_action.__file__).parent
    for source in sorted(package.rglob("*")):
        relative = source.relative_to(package)
        if source.is_file() and "__pycache__" not in relative.parts and within(relative.parts[0] if len(relative.parts) > 1 else ""):
            digest.update(relative.as_posix().encode() + b"\0" + source.read_bytes() + b"\0")


_fingerprint: bytes | None = None


def _code() -> bytes:
    global _fingerprint
    if _fingerprint is None:
        _fingerprint = code_fingerprint()
    return _fingerprint


def report_fingerprint() -> bytes:
    """What a config's whole report depends on besides its config, its data and the day: every
    file of the package (the scanning code, the checks, the model catalogue and its prices), the
    tokenizer packages' versions and Python's."""
    global _report_fingerprint
    if _report_fingerprint is None:
        digest = hashlib.sha256(b"report\0" + _code() + sys.version.encode() + b"\0")
        _hash_package(digest, lambda folder: folder not in _SCANNING)  # the scanning folders are in _code() already
        _report_fingerprint = digest.digest()
    return _report_fingerprint


_report_fingerprint: bytes | None = None


def recall(key: bytes) -> bytes | None:
    """The record `remember` stored under `key` in the active cache (this run's or one restored), if any."""
    cache = _active
    found = cache.table.find(key) if cache is not None else None
    if cache is None or found is None:
        return None
    cache.table.mark(found[0] - KEY_BYTES - 4)
    return bytes(cache.table.store[found[0] : found[1]])


def remember(key: bytes, parts: Sequence[bytes | memoryview]) -> None:
    """Store a record made of `parts` under `key` in the active cache, for this run and the next."""
    if _active is not None:
        _active.table.mark(_active.table.put_parts(key, parts))


def blob_of(path: Path) -> str | None:
    """The git blob registered for `path` in the active cache, if any."""
    held = _active.blobs.get(path.resolve()) if _active is not None else None
    return held.blob if held is not None else None


def load(path: Path, log: Log | None) -> Table | None:
    """The table saved at `path`, or None (with a notice saying why) when it cannot be trusted."""
    def ignored(why: str) -> None:
        if log:
            log(f"notice: the results cache {path} is ignored ({why}); every example is checked afresh")

    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC) + _HEADER.size)
            if len(head) < len(MAGIC) + _HEADER.size or not head.startswith(MAGIC):
                ignored("not a finetune-action results cache")
                return None
            format, code, slots, store, checksum = _HEADER.unpack_from(head, len(MAGIC))
            if format != FORMAT or code != _code():
                ignored("written by another version of finetune-action or of its tokenizer packages")
                return None
            size = os.fstat(f.fileno()).st_size - len(head)
            if slots == 0 or slots & (slots - 1):
                ignored("its header is damaged")
                return None
            if size != slots * 8 + store:
                ignored("truncated" if size < slots * 8 + store else "longer than its header says")
                return None
            # Read straight into the table's buffers: the file is never held twice.
            digest = blake3.blake3()
            table_slots = array("q")
            index = f.read(slots * 8)
            digest.update(index)
            table_slots.frombytes(index)
            del index
            body = bytearray(store)
            if f.readinto(body) != store:
                ignored("truncated")
                return None
            digest.update(body)
    except FileNotFoundError:
        return None  # the first run: nothing to restore yet
    except (OSError, ValueError) as exc:
        ignored(f"cannot read it: {getattr(exc, 'strerror', None) or exc}")
        return None
    if digest.digest() != checksum:
        ignored("its checksum does not match: corrupt")
        return None
    if max(table_slots) >= store:
        ignored("its index is damaged")
        return None
    return Table(table_slots, body)


def save(cache: Cache) -> None:
    """Write the table to the cache path, keeping only this run's records when it would be too big."""
    assert cache.path is not None
    table = cache.table
    if len(table.store) + len(table.slots) * 8 > cache.max_bytes:
        kept = Table()
        for key, record in table.marked():
            if len(kept.store) + len(kept.slots) * 8 + len(record) + KEY_BYTES + 12 <= cache.max_bytes:
                kept.put(key, record)
        table = kept
    # Straight from the table's buffers: a copy of a big table would double the process's memory.
    index, store = memoryview(table.slots).cast("B"), memoryview(table.store)
    digest = blake3.blake3(index)
    digest.update(store)
    header = MAGIC + _HEADER.pack(FORMAT, _code(), len(table.slots), len(table.store), digest.digest())
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.path.with_name(cache.path.name + f".{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            f.write(header)
            f.write(index)
            f.write(store)
        os.replace(temporary, cache.path)  # a reader never sees half a file
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        if cache.log:
            cache.log(f"notice: the results cache could not be saved to {cache.path} ({exc.strerror or exc}); the next run checks every example again")


class Layout(NamedTuple):
    """How a Scan of these rules is stored: per-example columns packed, the rest as JSON."""

    template: validate.Scan  # the Scan of no lines, giving every field's type
    columns: struct.Struct  # one example's column values: hash bytes, then the integer columns
    kinds: tuple[tuple[str, str, int], ...]  # per field: name, kind, and for tuples of arrays their number


def layout(rules: validate.Rules) -> Layout | None:
    """The storage layout of these rules' Scans, or None when a field is of a type not stored."""
    template = validate.scan_lines((), rules, file_start=False)
    parts, kinds = ["<"], []
    for name, value in template._asdict().items():
        if name == "lines":
            continue
        if type(value) is bytearray:
            parts.append(f"{validate.HASH_BYTES}s")
            kinds.append((name, "bytes", 1))
        elif type(value) is array:
            parts.append(value.typecode)
            kinds.append((name, "lines" if name == "example_lines" else "column", 1))
        elif type(value) is tuple and all(type(item) is array for item in value):
            parts.extend(item.typecode for item in value)
            kinds.append((name, "columns", len(value)))
        elif type(value) in (set, list, Counter):
            kinds.append((name, type(value).__name__.lower(), 0))
        else:
            return None
    return Layout(template, struct.Struct("".join(parts)), tuple(kinds))


def encode(scan: validate.Scan, shape: Layout) -> bytes | None:
    """One line's Scan as a record, or None when it is not one line of at most one example."""
    if scan.lines != 1:
        return None
    examples = len(scan.example_lines)
    values: list[Any] = []
    sparse: list[Any] = []
    for name, kind, _n in shape.kinds:
        value = getattr(scan, name)
        if kind == "bytes":
            if len(value) != examples * validate.HASH_BYTES:
                return None
            values.append(bytes(value))
        elif kind in ("column", "lines"):
            if len(value) != examples or (kind == "lines" and examples and value[0] != 1):
                return None
            values.extend(value)
        elif kind == "columns":
            if any(len(item) != examples for item in value):
                return None
            values.extend(item[0] for item in value if examples)
        elif kind == "set":
            sparse.append(sorted(value))
        elif kind == "list":
            sparse.append(value)
        else:
            sparse.append(list(value.items()))
    if examples > 1:
        return None
    flags = (_EXAMPLE if examples else 0) | (_SPARSE if any(sparse) else 0)
    record = bytes([flags])
    if examples:
        record += shape.columns.pack(*values)
    if flags & _SPARSE:
        record += orjson.dumps(sparse)
    return record


class Builder:
    """A range's Scan put together from line records, in line order."""

    def __init__(self, shape: Layout) -> None:
        self.shape = shape
        self.done: validate.Scan | None = None  # the lines before the current segment
        self._segment()

    def _segment(self) -> None:
        self.rows = bytearray()
        self.lines = array("I")
        self.line = 0
        self.kept: Counter = Counter()
        self.sparse: dict[str, Any] = {name: type(getattr(self.shape.template, name))() for name, kind, _n in self.shape.kinds if kind in ("set", "list", "counter")}

    def add(self, record: bytes) -> bool:
        """Add the next line's record; False (nothing added) when it does not decode."""
        flags = record[0]
        size = self.shape.columns.size if flags & _EXAMPLE else 0
        if flags & ~(_EXAMPLE | _SPARSE) or len(record) < 1 + size:
            return False
        if flags & _SPARSE:
            try:
                self._add_sparse(orjson.loads(record[1 + size :]))
            except (orjson.JSONDecodeError, TypeError, ValueError, IndexError, KeyError):
                return False
        elif len(record) != 1 + size:
            return False
        self.line += 1
        if size:
            self.rows += record[1 : 1 + size]
            self.lines.append(self.line)
        return True

    def add_scan(self, scan: validate.Scan) -> None:
        """Add a line's own Scan (one no record holds): merged as the scan merges its ranges."""
        self._flush()
        assert self.done is not None
        self.done = validate._merge(self.done, scan)

    def finish(self) -> validate.Scan:
        self._flush()
        assert self.done is not None
        return self.done

    def _flush(self) -> None:
        built = self._built()
        self.done = built if self.done is None else validate._merge(self.done, built)
        self._segment()

    def _add_sparse(self, sparse: list) -> None:
        fields = [(name, kind) for name, kind, _n in self.shape.kinds if kind in ("set", "list", "counter")]
        if type(sparse) is not list or len(sparse) != len(fields):
            raise ValueError("sparse fields")
        staged = []
        for (name, kind), value in zip(fields, sparse):
            if type(value) is not list:
                raise ValueError(name)
            if kind == "counter":
                staged.append((name, kind, [(tuple(k) if type(k) is list else k, int(n)) for k, n in value]))
            elif kind == "list":
                staged.append((name, kind, [tuple(item) for item in value]))
            else:
                staged.append((name, kind, value))
        line = self.line + 1
        for name, kind, value in staged:
            into = self.sparse[name]
            if kind == "set":
                into.update(value)
            elif kind == "counter":
                for k, n in value:
                    into[k] += n
            elif name == "problems":  # line-relative, at most MAX_KEPT_PER_CODE per code, as validate._merge keeps them
                for problem in value:
                    if self.kept[problem[2]] < validate.MAX_KEPT_PER_CODE:
                        into.append((None if problem[0] is None else problem[0] - 1 + line, *problem[1:]))
                        self.kept[problem[2]] += 1
            else:
                into.extend(value)

    def _built(self) -> validate.Scan:
        shape = self.shape
        columns = _column_bytes(self.rows, shape.columns)
        fields: dict[str, Any] = {"lines": self.line}
        position = 0
        for name, kind, n in shape.kinds:
            template = getattr(shape.template, name)
            if kind == "bytes":
                fields[name] = bytearray(columns[position])
                position += 1
            elif kind == "lines":
                fields[name] = array(template.typecode, self.lines)
                position += 1
            elif kind == "column":
                fields[name] = _array(template.typecode, columns[position])
                position += 1
            elif kind == "columns":
                fields[name] = tuple(_array(item.typecode, columns[position + i]) for i, item in enumerate(template))
                position += n
            else:
                fields[name] = self.sparse[name]
        return validate.Scan(**fields)


def _column_bytes(rows: bytearray, columns: struct.Struct) -> list[bytes | bytearray]:
    """Each column's values of the packed rows, one after the other (a column of "8s" gives the
    8-byte values joined; of "I", what array("I").frombytes reads on a little-endian machine).

    Cut out with strided slices, byte by byte of each field: C loops, where unpacking every row
    to a tuple and transposing them cost a Python object per value (0.8 µs a line warm).
    """
    size = columns.size
    count = len(rows) // size
    found: list[bytes | bytearray] = []
    for start, width in _fields(columns.format):
        out = bytearray(count * width)
        for byte in range(width):
            out[byte::width] = rows[start + byte :: size]
        found.append(out)
    return found


_field_cache: dict[str, list[tuple[int, int]]] = {}


def _fields(format: str) -> list[tuple[int, int]]:
    """(offset, width) of each field of a little-endian struct format such as "<8sIII" (no padding with "<")."""
    found = _field_cache.get(format)
    if found is None:
        found, offset = [], 0
        for count, code in re.findall(r"(\d*)([a-zA-Z?])", format.lstrip("<")):
            width = struct.calcsize("<" + count + code)
            if code == "s":
                found.append((offset, width))
            else:
                found.extend((offset + i * struct.calcsize("<" + code), struct.calcsize("<" + code)) for i in range(int(count or 1)))
            offset += width
        _field_cache[format] = found
    return found


def _array(typecode: str, data: bytes | bytearray) -> array:
    """An array of the little-endian values in `data` (the byte order the rows are packed in)."""
    values = array(typecode)
    if values.itemsize != struct.calcsize("<" + typecode):  # not the packed width on this platform
        return array(typecode, [value for (value,) in struct.iter_unpack("<" + typecode, data)])
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def encode_file(scan: validate.Scan, shape: Layout) -> list[bytes | memoryview]:
    """A whole file's Scan as a record, in parts to store one after the other: the column
    bytes as they lie in memory (views, not copies), after JSON of the rest."""
    columns: list[memoryview] = []
    sparse: list[Any] = [scan.lines]
    for name, kind, _n in shape.kinds:
        value = getattr(scan, name)
        if kind in ("bytes", "column", "lines"):
            columns.append(memoryview(value).cast("B"))
        elif kind == "columns":
            columns.extend(memoryview(item).cast("B") for item in value)
        elif kind == "set":
            sparse.append(sorted(value))
        elif kind == "list":
            sparse.append(value)
        else:
            sparse.append(list(value.items()))
    head = orjson.dumps([[c.nbytes for c in columns], sparse])
    return [_ENTRY.pack(len(head)), head, *columns]


def decode_file(record: bytes | memoryview, shape: Layout) -> validate.Scan | None:
    """The Scan of encode_file, or None when the record does not fit these rules' layout.

    Pass a memoryview of the store: each column is then copied once, into its array.
    """
    try:
        (length,) = _ENTRY.unpack_from(record, 0)
        sizes, sparse = orjson.loads(record[4 : 4 + length])
        position = 4 + length
        chunks = []
        for size in sizes:
            chunks.append(record[position : position + size])
            position += size
        if position != len(record):
            return None
        fields: dict[str, Any] = {"lines": int(sparse[0])}
        column, extra = 0, 1
        for name, kind, n in shape.kinds:
            template = getattr(shape.template, name)
            if kind == "bytes":
                fields[name] = bytearray(chunks[column])
                column += 1
            elif kind in ("column", "lines"):
                fields[name] = array(template.typecode)
                fields[name].frombytes(chunks[column])
                column += 1
            elif kind == "columns":
                arrays = []
                for i, item in enumerate(template):
                    arrays.append(array(item.typecode))
                    arrays[-1].frombytes(chunks[column + i])
                fields[name] = tuple(arrays)
                column += n
            else:
                value = sparse[extra]
                extra += 1
                if kind == "set":
                    fields[name] = set(value)
                elif kind == "list":
                    fields[name] = [tuple(item) for item in value]
                else:
                    fields[name] = Counter({tuple(k) if type(k) is list else k: int(n) for k, n in value})
        scan = validate.Scan(**fields)
    except (orjson.JSONDecodeError, struct.error, TypeError, ValueError, IndexError):
        return None
    examples = len(scan.example_lines)
    if column != len(chunks) or extra != len(sparse) or len(scan.hashes) != examples * validate.HASH_BYTES:
        return None
    return scan


def file_key(blob: str, rules: validate.Rules) -> bytes:
    return hashlib.sha256(b"blob\0" + rules_key(rules) + blob.encode()).digest()[:KEY_BYTES]


class Part(NamedTuple):
    scan: validate.Scan
    new: bytes  # key, record length, record; ... (what this range learnt)
    used: bytes  # the store offsets of the records it used (array "q")
    size: int = 0  # the range's bytes
    outline: Outline | None = None  # its runs of common lines, numbered from the range's start


def rules_key(rules: validate.Rules) -> bytes:
    return hashlib.sha256(_code() + repr(rules).encode()).digest()


#: Unknown lines are scanned in batches of this many (one scan_lines call each, then recorded
#: line by line from its columns): a call per line cost 1.35x the batch's time.
BATCH_LINES = 256
QUEUE_LINES = 16 * BATCH_LINES  # known lines waiting with nothing pending: added in runs of this many
#: Lines per chunk of an Outline: a pull request that edits every 100th line still leaves 92% of
#: the lines in chunks it did not touch; a chunk's fixed cost (one hash call) is shared by 8 lines.
CHUNK_LINES = 8


class Outline(NamedTuple):
    """A scanned file's common lines, in chunks of up to CHUNK_LINES that are hashed whole.

    A common line is one example and nothing else to report (no problem, no finding; features
    allowed), so a chunk's results are its examples' columns in the file's Scan and its features.
    A file like this one (the base of a pull request against its head) is then read chunk by
    chunk: where the bytes at hand hash to the next chunk's digest, its lines are neither split
    nor looked up one by one; elsewhere, line by line as ever, until a line starts a chunk again.
    """

    lines: array  # "I": per chunk, its lines (= its examples)
    sizes: array  # "Q": its bytes
    first_line: array  # "I": the 0-based line of the file it starts at
    first_example: array  # "I": the 0-based index of its first example in the file's Scan
    features: bytes  # its features, as a mask of _FEATURE_NAMES
    digests: bytes  # KEY_BYTES each: the chunk's bytes hashed by BLAKE3 keyed with chunk_digest_key
    heads: bytes  # KEY_BYTES each: the key of its first line (as the line cache keys it)


_FEATURE_NAMES = ("images", "tools", "functions")
_OUTLINE_ARRAYS = (("lines", "I"), ("sizes", "Q"), ("first_line", "I"), ("first_example", "I"))


def chunk_digest_key(rules_digest: bytes) -> bytes:
    """The key of the keyed BLAKE3 that hashes chunks under these rules (rules_key).

    BLAKE3, not sha256 like a line: every byte of a file read against an outline is hashed as
    part of a chunk, and on the benchmark's 20 KB chunks BLAKE3 runs at 2.2-2.5 GB/s against
    sha256's 1.6 (bench/incremental.py prints both). Both are
    cryptographic: a pull request cannot craft a chunk that passes for one of the base's.
    """
    return hashlib.sha256(b"chunk digest\0" + rules_digest).digest()


def empty_outline() -> Outline:
    return Outline(array("I"), array("Q"), array("I"), array("I"), b"", b"", b"")


def outline_key(blob: str, rules: validate.Rules) -> bytes:
    return hashlib.sha256(b"outline\0" + rules_key(rules) + blob.encode()).digest()[:KEY_BYTES]


def encode_outline(outline: Outline) -> list[bytes | memoryview]:
    parts: list[bytes | memoryview] = [_ENTRY.pack(len(outline.lines))]
    for name, _typecode in _OUTLINE_ARRAYS:
        values = getattr(outline, name)
        if sys.byteorder != "little":
            values = array(values.typecode, values)
            values.byteswap()
        parts.append(memoryview(values).cast("B"))
    return [*parts, outline.features, outline.digests, outline.heads]


def decode_outline(record: bytes | memoryview, scan: validate.Scan) -> Outline | None:
    """The Outline of encode_outline, or None when it does not fit `scan` (the Scan of the same file)."""
    try:
        (count,) = _ENTRY.unpack_from(record, 0)
        position, arrays = 4, []
        for _name, typecode in _OUTLINE_ARRAYS:
            width = struct.calcsize("<" + typecode)
            arrays.append(_array(typecode, record[position : position + count * width]))
            position += count * width
        features = bytes(record[position : position + count])
        digests = bytes(record[position + count : position + count * (1 + KEY_BYTES)])
        heads = bytes(record[position + count * (1 + KEY_BYTES) :])
    except struct.error:
        return None
    outline = Outline(*arrays, features, digests, heads)
    if any(len(values) != count for values in arrays) or len(features) != count or len(digests) != count * KEY_BYTES or len(heads) != count * KEY_BYTES:
        return None
    examples = len(scan.example_lines)
    line_end = example_end = 0
    for lines, size, line, example, mask in zip(outline.lines, outline.sizes, outline.first_line, outline.first_example, features):
        # In file order, apart, inside the Scan, each line at its example's line: nothing else is trusted.
        if not 0 < lines <= CHUNK_LINES or size < lines or line < line_end or example < example_end or mask > 7:
            return None
        line_end, example_end = line + lines, example + lines
        if line_end > scan.lines or example_end > examples or scan.example_lines[example] != line + 1 or scan.example_lines[example_end - 1] != line_end:
            return None
    return outline


class Source(NamedTuple):
    """A file whose lines another file likely shares: its Outline, where each chunk starts, and its Scan."""

    rules: bytes  # rules_key of the scan
    outline: Outline
    starts: dict[bytes, int]  # a chunk's first line's key -> the chunk (the first, if several); filled by _like_source
    scan: validate.Scan


def _source(outline: Outline, scan: validate.Scan, rules: validate.Rules) -> Source:
    """A Source whose starts are left to _like_source: every scanned file becomes one, few are read against."""
    return Source(rules_key(rules), outline, {}, scan)


def _index_starts(source: Source) -> None:
    heads, starts = source.outline.heads, source.starts
    for chunk in range(len(source.outline.lines) - 1, -1, -1):
        starts[heads[chunk * KEY_BYTES : (chunk + 1) * KEY_BYTES]] = chunk


class Sketch:
    """The Outline of a range, drawn as its lines are added to the builder, in line order."""

    def __init__(self) -> None:
        self.lines, self.sizes, self.first_line, self.first_example = array("I"), array("Q"), array("I"), array("I")
        self.features = bytearray()
        self.digests = bytearray()  # KEY_BYTES per chunk; a chunk of its own is hashed at the end (finish)
        self.starts = array("q")  # per chunk, its first byte in the range (-1: another file's chunk, hashed already)
        self.heads = bytearray()
        self.line = self.example = 0  # lines and examples added so far
        self.open = 0  # lines of the last chunk still open to more

    def common(self, position: int, size: int, key: bytes, mask: int) -> None:
        """A common line (one example, nothing else; `mask`: its features) at `position`."""
        if self.open and self.open < CHUNK_LINES:
            self.lines[-1] += 1
            self.sizes[-1] += size
            self.features[-1] |= mask
            self.open += 1
        else:
            self.lines.append(1)
            self.sizes.append(size)
            self.first_line.append(self.line)
            self.first_example.append(self.example)
            self.features.append(mask)
            self.digests += _NO_DIGEST
            self.starts.append(position)
            self.heads += key
            self.open = 1
        self.line += 1
        self.example += 1

    def other(self, examples: int) -> None:
        """A line that is not common (with `examples` examples: 0 or 1)."""
        self.open = 0
        self.line += 1
        self.example += examples

    def chunks(self, outline: Outline, chunk: int, count: int) -> None:
        """`count` chunks of another file's outline, from `chunk` on, found here whole one after another."""
        self.open = 0
        end = chunk + count
        lines = outline.lines[chunk:end]
        self.lines.extend(lines)
        self.sizes.extend(outline.sizes[chunk:end])
        for mine, at in ((self.first_line, self.line), (self.first_example, self.example)):
            mine.extend(itertools.accumulate(lines[:-1], initial=at))  # one example a line: both advance alike
        self.features += outline.features[chunk:end]
        self.digests += outline.digests[chunk * KEY_BYTES : end * KEY_BYTES]
        self.starts.extend(_FOREIGN * count)
        self.heads += outline.heads[chunk * KEY_BYTES : end * KEY_BYTES]
        added = sum(lines)
        self.line += added
        self.example += added

    def finish(self, data: memoryview, chunk_key: bytes) -> Outline:
        """The Outline, its own chunks hashed from the range's bytes (chunk_digest_key)."""
        digests = self.digests
        for chunk, (start, size) in enumerate(zip(self.starts, self.sizes)):
            if start >= 0:
                digests[chunk * KEY_BYTES : (chunk + 1) * KEY_BYTES] = blake3.blake3(data[start : start + size], key=chunk_key).digest(KEY_BYTES)
        return Outline(self.lines, self.sizes, self.first_line, self.first_example, bytes(self.features), bytes(digests), bytes(self.heads))


_NO_DIGEST = bytes(KEY_BYTES)
_FOREIGN = array("q", [-1])


def join_outlines(parts: Sequence[tuple[Outline, int, int]]) -> Outline:
    """One file's Outline from its ranges' (outline, lines before it, examples before it)."""
    joined = empty_outline()
    features, digests, heads = [], [], []
    for outline, line, example in parts:
        joined.lines.extend(outline.lines)
        joined.sizes.extend(outline.sizes)
        joined.first_line.extend(array("I", [n + line for n in outline.first_line]))
        joined.first_example.extend(array("I", [n + example for n in outline.first_example]))
        features.append(outline.features)
        digests.append(outline.digests)
        heads.append(outline.heads)
    return joined._replace(features=b"".join(features), digests=b"".join(digests), heads=b"".join(heads))


def _run_scan(source: Source, shape: Layout, first: int, lines: int, mask: int) -> validate.Scan:
    """The Scan of `lines` common lines of the source, from its example `first` on (one example a line)."""
    scan, end = source.scan, first + lines
    fields: dict[str, Any] = {"lines": lines}
    for name, kind, _n in shape.kinds:
        value = getattr(scan, name)
        if kind == "bytes":
            fields[name] = value[first * validate.HASH_BYTES : end * validate.HASH_BYTES]
        elif kind == "lines":
            fields[name] = array(value.typecode, range(1, lines + 1))
        elif kind == "column":
            fields[name] = value[first:end]
        elif kind == "columns":
            fields[name] = tuple(item[first:end] for item in value)
        elif name == "features":
            fields[name] = {feature for bit, feature in enumerate(_FEATURE_NAMES) if mask >> bit & 1}
        else:
            fields[name] = type(getattr(shape.template, name))()
    return validate.Scan(**fields)


#: The file being scanned's Source, if any: set by scan_file before its workers fork.
_matching: Source | None = None


_buffer = bytearray()


def _read_range(path: Path, start: int, end: int) -> tuple[bytearray, int]:
    """The bytes [start, end) of `path` (fewer if it is shorter), at the start of a buffer kept for
    the next range: a fresh 8 MB each time would be mapped and faulted in page by page.

    A file's ranges differ in size by the line each ends on, so the buffer is made an eighth
    bigger than asked: made exactly, it was made again for each range a few bytes longer than
    any before (1 in 8 of a worker's ranges, 2,048 page faults each).
    """
    global _buffer
    if len(_buffer) < end - start:
        _buffer = bytearray(end - start + ((end - start) >> 3))
    with open(path, "rb", buffering=0) as f, memoryview(_buffer) as into:
        f.seek(start)
        at = 0
        while at < end - start:
            got = f.readinto(into[at : end - start])
            if not got:
                break
            at += got
    return _buffer, at


def scan_range(path: Path, start: int, end: int, rules: validate.Rules) -> Part:
    """scan_range with the active cache: known lines copied in, the others scanned and learnt.

    Unknown lines wait in a batch of up to BATCH_LINES, scanned together (a scan's fixed cost
    is paid per batch, not per changed line); the known lines around them wait in `queue`, so
    that every line is added to the builder in line order once the batch is scanned (_flush).
    With a Source (_matching), whole chunks of it are looked for first (Outline).
    """
    shape = layout(rules)
    if shape is None or _active is None:  # _active is None in a spawned (not forked) worker
        scan = validate.scan_lines(read.lines(path, start, end), rules, file_start=start == 0)
        return Part(scan, b"", b"")
    table = _active.table
    rules_digest = rules_key(rules)
    seed = hashlib.sha256(rules_digest)
    chunk_key = chunk_digest_key(rules_digest)
    source = _matching if _matching is not None and _matching.rules == rules_digest else None
    builder = Builder(shape)
    sketch = Sketch()
    new = bytearray()
    used = array("q")
    row = 1 + shape.columns.size
    pending: list[tuple[bytes, bytes]] = []  # unknown lines not yet scanned: (raw line, key)
    queue = array("q")  # the lines not yet added, in line order: a known line's record offset, -1 for a pending line, -2 for a run of chunks
    places = array("q")  # each queued line's (or run's) first byte in the range
    taken: list[tuple[int, int]] = []  # the queued runs of source chunks: (first chunk, chunks)
    tails = {_features_part(shape, features): features for features in _FEATURE_SETS}
    slots, store, unpack_length = table.slots, table.store, _ENTRY.unpack_from
    mask = len(slots) - 1
    data, total = _read_range(path, start, end)
    view = memoryview(data)[:total]
    outline = source.outline if source is not None else None
    starts = source.starts if source is not None else {}
    run = [0, 0, 0]  # source chunks found and not yet added: their first example, lines, features
    tried = -1  # the source chunk that follows the last run taken: not at `position` (it was tried there)
    position = 0
    flush = lambda: _flush(pending, queue, places, data, total, rules, shape, builder, sketch, new, store, tails, taken, source, run)  # noqa: E731
    while position < total:
        stop = data.find(b"\n", position, total) + 1 or total
        raw = bytes(view[position:stop])
        if position == 0 and start == 0 and raw.startswith(read.BOM):  # its result depends on being the file's first line
            own = validate.scan_lines((raw,), rules, file_start=True)
            builder.add_scan(own)
            sketch.other(len(own.example_lines))
            position = stop
            continue
        digest = seed.copy()
        digest.update(raw)
        key = digest.digest()[:KEY_BYTES]
        if starts:
            chunk = starts.get(key, -1)
            if chunk >= 0 and chunk != tried:
                found, after = _chunks_here(outline, chunk, view, position, chunk_key)
                if found:
                    # Queued like a line: the unknown lines around it are scanned in one batch at the
                    # end (scanned one at a time between runs, each found the tokenizer's tables cold).
                    queue.append(-2)
                    places.append(position)
                    taken.append((chunk, found))
                    position, tried = after, chunk + found
                    if len(queue) >= QUEUE_LINES:
                        flush()
                    continue
        tried = -1
        index = int.from_bytes(key, "little") & mask  # Table.find, inlined: once per line of the file
        while True:
            offset = slots[index]
            if offset < 0 or store[offset : offset + KEY_BYTES] == key:
                break
            index = (index + 1) & mask
        if offset >= 0:
            used.append(offset)
            start_at = offset + KEY_BYTES + 4
            (length,) = unpack_length(store, offset + KEY_BYTES)
            if length == row and store[start_at] == _EXAMPLE or store[start_at] == _EXAMPLE | _SPARSE and bytes(store[start_at + row : start_at + length]) in tails:
                # The common record, or an example with features and nothing else (tools): read in _flush.
                queue.append(offset)
                places.append(position)
                position = stop
                if len(queue) >= QUEUE_LINES:
                    flush()
                continue
            if queue:
                flush()  # any other record goes in after the lines before it
            if builder.add(store[start_at : start_at + length]):
                sketch.other(store[start_at] & _EXAMPLE)
                position = stop
                continue
        pending.append((raw, key))
        queue.append(-1)
        places.append(position)
        position = stop
        if len(pending) >= BATCH_LINES:
            flush()
    flush()
    drawn = sketch.finish(view, chunk_key)
    view.release()
    return Part(builder.finish(), bytes(new), used.tobytes(), end - start, drawn)


def _chunks_here(outline: Outline, chunk: int, view: memoryview, position: int, chunk_key: bytes) -> tuple[int, int]:
    """How many of the outline's chunks, from `chunk` on, are the bytes at `position`, one after
    another, each whole and ending where a line ends (a chunk whose last line has no newline, at
    its file's end, is no match for the same bytes before a newline); and the position after them."""
    sizes, digests, total, first = outline.sizes, outline.digests, len(view), chunk
    while chunk < len(sizes):
        end = position + sizes[chunk]
        if end > total or end < total and view[end - 1] != 10:
            break
        if blake3.blake3(view[position:end], key=chunk_key).digest(KEY_BYTES) != digests[chunk * KEY_BYTES : (chunk + 1) * KEY_BYTES]:
            break
        position = end
        chunk += 1
    return chunk - first, position


def _take(outline: Outline, chunk: int, count: int, sketch: Sketch, run: list[int], source: Source | None, shape: Layout, builder: Builder) -> None:
    """Add `count` source chunks found here, from `chunk` on, to the run of them while they follow
    one another in the source too."""
    assert source is not None
    first_example, lines, features = outline.first_example, outline.lines, outline.features
    for at in range(chunk, chunk + count):
        first = first_example[at]
        if run[1] and run[0] + run[1] != first:
            _add_run(run, source, shape, builder)
        if not run[1]:
            run[0] = first
            run[2] = 0
        run[1] += lines[at]
        run[2] |= features[at]
    sketch.chunks(outline, chunk, count)


def _add_run(run: list[int], source: Source | None, shape: Layout, builder: Builder) -> None:
    assert source is not None
    builder.add_scan(_run_scan(source, shape, run[0], run[1], run[2]))
    run[1] = 0


def _flush(
    pending: list[tuple[bytes, bytes]],
    queue: array,
    places: array,
    data: bytes | bytearray,
    total: int,
    rules: validate.Rules,
    shape: Layout,
    builder: Builder,
    sketch: Sketch,
    new: bytearray,
    store: bytearray,
    tails: dict[bytes, frozenset],
    taken: list[tuple[int, int]] | None = None,
    source: Source | None = None,
    run: list[int] | None = None,
) -> None:
    """Scan the pending lines as one batch, add their records to `new`, and add the queued
    lines (pending and known) and runs of source chunks (`taken`), in line order, to the
    builder and the sketch; empty `pending`, `queue`, `places` and `taken`.

    A queued known line is a record scan_range accepted as one read here: the common one, or
    features alone. A pending line's record that would not read back is not learnt: the line's
    own Scan goes in instead.
    """
    outcomes = iter(_scan_batch(pending, rules, shape)).__next__ if pending else None
    row = 1 + shape.columns.size
    lines, rows_out = builder.lines, builder.rows
    common = sketch.common
    runs = iter(taken or ()).__next__
    for number, offset in enumerate(queue):
        if offset == -2:
            assert source is not None and run is not None
            _take(source.outline, *runs(), sketch, run, source, shape, builder)
            continue
        if run is not None and run[1]:
            _add_run(run, source, shape, builder)
            lines, rows_out = builder.lines, builder.rows  # add_scan starts a new segment
        place = places[number]
        size = (places[number + 1] if number + 1 < len(places) else (data.find(b"\n", place, total) + 1 or total)) - place
        if offset >= 0:  # a known line: its record lies in the store
            start_at = offset + KEY_BYTES + 4
            builder.line += 1
            rows_out += store[start_at + 1 : start_at + row]
            lines.append(builder.line)
            if store[start_at] != _EXAMPLE:
                (length,) = _ENTRY.unpack_from(store, offset + KEY_BYTES)
                features = tails[bytes(store[start_at + row : start_at + length])]
                builder.sparse["features"].update(features)
                common(place, size, bytes(store[offset : offset + KEY_BYTES]), _MASKS[features])
            else:
                common(place, size, bytes(store[offset : offset + KEY_BYTES]), 0)
            continue
        assert outcomes is not None
        raw, key, record, own = outcomes()
        if record is not None:
            features = None
            if record[0] == _EXAMPLE and len(record) == row:
                builder.line += 1
                rows_out += record[1:]
                lines.append(builder.line)
                added = True
                features = _NO_FEATURES
            else:
                added = builder.add(record)
                if added and record[0] == _EXAMPLE | _SPARSE:
                    features = tails.get(bytes(record[row:]))
            if added:
                new += key
                new += _ENTRY.pack(len(record))
                new += record
                if features is not None:
                    common(place, size, key, _MASKS[features])
                else:
                    sketch.other(record[0] & _EXAMPLE)
                continue
        own = own if own is not None else validate.scan_lines((raw,), rules, file_start=False)
        builder.add_scan(own)
        sketch.other(len(own.example_lines))
        lines, rows_out = builder.lines, builder.rows  # add_scan starts a new segment
    if run is not None and run[1]:
        _add_run(run, source, shape, builder)
    pending.clear()
    del queue[:]
    del places[:]
    if taken:
        taken.clear()


def _scan_batch(pending: list[tuple[bytes, bytes]], rules: validate.Rules, shape: Layout) -> list[tuple[bytes, bytes, bytes | None, validate.Scan | None]]:
    """Scan the pending lines as one batch: per line (raw, key, its record or None, its own Scan where one was made).

    A line's scan depends on its bytes only, so each line's record is cut out of the batch's
    Scan: its example's columns and features, and its problems (line numbers made its own).
    A line with a scan finding is scanned again on its own (a finding's label is not in its
    problem), and so is every line of a batch that kept only some of its problems.
    """
    features: list[frozenset] = []
    scan = validate.scan_lines([raw for raw, _key in pending], rules, file_start=False, example_features=features)
    problems: dict[int, list[tuple]] = {}
    alone: set[int] | range = set()  # 1-based positions in the batch scanned again on their own
    if scan.counts:
        if sum(scan.counts.values()) != len(scan.problems) or any(problem[0] is None for problem in scan.problems):
            alone = range(1, len(pending) + 1)
        else:
            for problem in scan.problems:
                problems.setdefault(problem[0], []).append(problem)
                if len(problem) > 4:  # a finding: (line, column, code, message, level)
                    alone.add(problem[0])
    examples = len(scan.example_lines)
    index_of = None if examples == len(pending) else {line: index for index, line in enumerate(scan.example_lines)}
    rows = _rows(scan, shape)
    pack = shape.columns.pack
    outcomes: list[tuple[bytes, bytes, bytes | None, validate.Scan | None]] = []
    for position, (raw, key) in enumerate(pending, 1):
        index = position - 1 if index_of is None else index_of.get(position)
        if position in alone or position in problems or index is None:
            own = validate.scan_lines((raw,), rules, file_start=False) if position in alone else _line_scan(scan, index, features, problems.get(position, ()))
            outcomes.append((raw, key, encode(own, shape), own))
        elif features[index]:
            outcomes.append((raw, key, bytes((_EXAMPLE | _SPARSE,)) + pack(*rows[index]) + _features_part(shape, features[index]), None))
        else:
            outcomes.append((raw, key, bytes((_EXAMPLE,)) + pack(*rows[index]), None))
    return outcomes


def _line_scan(scan: validate.Scan, index: int | None, features: list[frozenset], problems: Sequence[tuple]) -> validate.Scan:
    """The Scan one line of a batch gives alone: its example (at `index`, if it has one) and its problems."""
    own = validate.empty_scan(len(scan.extra_tokens))
    if index is not None:
        size = validate.HASH_BYTES
        own.hashes.extend(scan.hashes[index * size : (index + 1) * size])
        own.example_lines.append(1)
        for mine, batch in ((own.tokens, scan.tokens), (own.assistant_tokens, scan.assistant_tokens), (own.messages, scan.messages), *zip(own.extra_tokens, scan.extra_tokens)):
            mine.append(batch[index])
        own.features.update(features[index])
    for problem in problems:
        own.problems.append((1, *problem[1:]))
        own.counts[problem[2]] += 1
    return own._replace(lines=1)


def _rows(scan: validate.Scan, shape: Layout) -> list[tuple]:
    """Each example's column values, in the order shape.columns packs them (as encode gives them)."""
    columns: list[Any] = []
    size = validate.HASH_BYTES
    examples = len(scan.example_lines)
    for name, kind, _n in shape.kinds:
        value = getattr(scan, name)
        if kind == "bytes":
            columns.append([bytes(value[i : i + size]) for i in range(0, examples * size, size)])
        elif kind == "lines":
            columns.append([1] * examples)  # a line alone is its own line 1
        elif kind == "column":
            columns.append(value)
        elif kind == "columns":
            columns.extend(value)
    return list(zip(*columns))


_feature_parts: dict[tuple[tuple, frozenset], bytes] = {}
#: Every set of features a line can have (validate.scan_lines), for reading records inline.
_FEATURE_SETS = [frozenset(name for bit, name in enumerate(_FEATURE_NAMES) if mask >> bit & 1) for mask in range(1, 8)]
_NO_FEATURES: frozenset = frozenset()
_MASKS = {features: mask for mask, features in enumerate([_NO_FEATURES, *_FEATURE_SETS])}


def _features_part(shape: Layout, features: frozenset) -> bytes:
    """The sparse part of a record of one example with these features and nothing else (as encode writes it)."""
    key = (shape.kinds, features)
    part = _feature_parts.get(key)
    if part is None:
        sparse = [sorted(features) if name == "features" else [] for name, kind, _n in shape.kinds if kind in ("set", "list", "counter")]
        part = _feature_parts[key] = orjson.dumps(sparse)
    return part


def learn(part: Part, file_size: int = 0) -> validate.Scan:
    """Record what a range learnt in the active cache; return its Scan. With `file_size`, the
    table makes room at once for as many more records as the file likely has lines."""
    cache = _active
    assert cache is not None
    cache.table.learn(part.new, part.used, file_size / part.size if file_size and part.size else 1)
    return part.scan


#: A worker's range is at most this big: it is read into memory whole (Outline chunks are hashed
#: straight from it).
RANGE_MAX_BYTES = 8 << 20


def scan_file(path: Path, rules: validate.Rules, workers: int | None = None) -> validate.Scan:
    """validate.scan_file through the active cache: a known blob is not read at all, known lines
    are not scanned, and the chunks of a like blob's Outline are found whole."""
    global _matching
    cache = _active
    assert cache is not None
    shape = layout(rules)
    blob, materialize, size, like = cache.blobs.get(path.resolve(), (None, None, None, None))
    if blob is not None and shape is not None:
        key = file_key(blob, rules)
        found = cache.table.find(key)
        known = None
        held = cache.sources.get((blob, rules_key(rules)))
        if found is not None and held is not None:
            known = held.scan  # decoded already, as the other side's Source: not held twice (nothing writes a Scan once made)
        elif found is not None:
            with memoryview(cache.table.store) as store:
                known = decode_file(store[found[0] : found[1]], shape)
        if known is not None:
            cache.table.mark(found[0] - KEY_BYTES - 4)
            cache.table.mark(cache.table.put(_seen_key(blob), b""))
            return known
    workers = workers or validate.available_cores()
    if size is None or materialize is None:
        size = os.path.getsize(path)
    step = min(RANGE_MAX_BYTES, max(validate.RANGE_MIN_BYTES, size // (workers * 16) + 1))
    source = _like_source(like, rules, shape) if like is not None and shape is not None else None
    outlines: list[tuple[Outline, int, int]] = []
    merged: validate.Scan | None = None

    def add(part: Part) -> None:
        nonlocal merged
        scan = learn(part, size if merged is None else 0)
        if part.outline is not None:
            outlines.append((part.outline, merged.lines if merged else 0, len(merged.example_lines) if merged else 0))
        merged = scan if merged is None else validate._merge(merged, scan)

    previous, _matching = _matching, source
    try:
        if workers < 2 or size < validate.PARALLEL_MIN_BYTES:
            if materialize is not None:
                for _written in materialize():
                    pass
            for start, end in read.byte_ranges(path, -(-os.path.getsize(path) // step), min_size=step):
                add(scan_range(path, start, end, rules))
        else:
            # A stand-in is written whole by the pool's task feeder while the workers scan what is written.
            ranges = growing_ranges(path, materialize(), step) if materialize is not None else read.byte_ranges(path, (size + step - 1) // step, min_size=step)
            with validate.worker_pool(workers) as pool:
                for part in pool.imap(_scan_range_args, ((path, start, end, rules) for start, end in ranges)):
                    add(part)
        if merged is None:
            add(scan_range(path, 0, 0, rules))
    finally:
        _matching = previous
    assert merged is not None
    if blob is not None and shape is not None:
        outline = join_outlines(outlines)
        cache.table.mark(cache.table.put_parts(key, encode_file(merged, shape)))
        cache.table.mark(cache.table.put_parts(outline_key(blob, rules), encode_outline(outline)))
        cache.table.mark(cache.table.put(_seen_key(blob), b""))
        cache.sources[(blob, rules_key(rules))] = _source(outline, merged, rules) if len(outline.lines) else None
    return merged


def forget_sources() -> None:
    """Let go of the Scans held to read other files against (a review does, after each config)."""
    if _active is not None:
        _active.sources.clear()


def _like_source(blob: str, rules: validate.Rules, shape: Layout) -> Source | None:
    """The Source of `blob` under these rules: scanned earlier in this run, or from the cache file."""
    cache = _active
    assert cache is not None
    known = (blob, rules_key(rules))
    if known not in cache.sources:
        table, source = cache.table, None
        found, drawn = table.find(file_key(blob, rules)), table.find(outline_key(blob, rules))
        if found is not None and drawn is not None:
            with memoryview(table.store) as store:
                scan = decode_file(store[found[0] : found[1]], shape)
                outline = decode_outline(store[drawn[0] : drawn[1]], scan) if scan is not None else None
            if scan is not None and outline is not None and len(outline.lines):
                table.mark(found[0] - KEY_BYTES - 4)
                table.mark(drawn[0] - KEY_BYTES - 4)
                source = _source(outline, scan, rules)
        cache.sources[known] = source
    source = cache.sources[known]
    if source is not None and not source.starts:
        _index_starts(source)  # here, before the workers fork: each would build its own
    return source


def blob_known(blob: str) -> bool:
    """Whether the active cache holds a whole-file result of this blob (under some rules):
    a review starts writing a base file out of git early only when it will likely be read."""
    return _active is not None and _active.table.find(_seen_key(blob)) is not None


def _seen_key(blob: str) -> bytes:
    return hashlib.sha256(b"blob seen\0" + _code() + blob.encode()).digest()[:KEY_BYTES]


def growing_ranges(path: Path, written: Iterable[int], step: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges of a file being written, each ending after a newline, each
    given as soon as it is on disk (`written`: the bytes on disk after each write; the file is
    whole when it ends). About `step` bytes each; they cover the file as read.byte_ranges does."""
    start = 0
    written = iter(written)
    first = next(written, None)  # the writer may first put a new file in the stand-in's place: open that one
    with open(path, "rb") as f:
        for on_disk in itertools.chain(() if first is None else (first,), written):
            while on_disk - start > step:
                end = _after_newline(f, start + step, on_disk)
                if end is None:
                    break
                yield start, end
                start = end
        size = os.fstat(f.fileno()).st_size
        while start < size:
            end = _after_newline(f, start + step, size) if start + step < size else None
            yield start, end or size
            start = end or size


def _after_newline(f: Any, at: int, limit: int) -> int | None:
    """The offset just after the first newline at or after `at` and before `limit`, if any."""
    while at < limit:
        piece = os.pread(f.fileno(), min(1 << 16, limit - at), at)
        found = piece.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(piece)
        if not piece:
            return None
    return None


def _scan_range_args(args: tuple[Path, int, int, validate.Rules]) -> Part:
    return scan_range(*args)
