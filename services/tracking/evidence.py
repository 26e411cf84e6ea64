"""Evidence files (photos, video, documents) stored on local disk by content hash.

A file lives at ``<evidence dir>/<sha256[:2]>/<sha256>`` (``DUBAN_EVIDENCE_DIR``, by default
``<DUBAN_DATA_DIR>/evidence``; replicas must share it). It is written to a temporary file beside
its place and renamed there, so a reader never sees half a file, and a file already stored is kept
as it is. Each file must stay within ``DUBAN_EVIDENCE_MAX_BYTES`` (413) and be one of the allowed
types, recognised by its content (415): JPEG, PNG, GIF, WebP, PDF, MP4/QuickTime, DOCX, XLSX and
UTF-8 text. A declared type must agree with the content or be generic (application/octet-stream).
"""

import asyncio
import codecs
import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from shared.settings import Settings

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALLOWED = "JPEG, PNG, GIF, WebP, PDF, MP4/QuickTime, DOCX, XLSX, UTF-8 text"
GENERIC = frozenset({"", "application/octet-stream"})
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEAD = 64
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


class EvidenceRefused(Exception):
    """A file that is not accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    media_type: str


def is_sha256(value: str) -> bool:
    return bool(_SHA256.fullmatch(value))


def sniff(head: bytes, path: Path, is_text: bool) -> str | None:
    """The media type recognised from the content, or None if it is not an allowed type."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"PK\x03\x04"):
        return _office_type(path)
    return "text/plain" if is_text and head else None


def _office_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return DOCX
    return XLSX if "xl/workbook.xml" in names else None


def agrees(declared: str | None, sniffed: str) -> bool:
    """Whether a declared Content-Type fits the content (generic ones always do)."""
    base = (declared or "").split(";")[0].strip().lower()
    if base in GENERIC:
        return True
    if sniffed == "text/plain" and base.startswith("text/"):
        return True
    return ALIASES.get(base, base) == sniffed


class Upload:
    """One file being received: hashed, measured and checked as it is written."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=root / "tmp", prefix="upload-")
        self._file, self._temp = os.fdopen(fd, "wb"), Path(name)
        self._hash, self._size, self._head = hashlib.sha256(), 0, b""
        self._utf8, self._is_text = codecs.getincrementaldecoder("utf-8")(), True

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_bytes:
            raise too_large(self.max_bytes)
        self._hash.update(chunk)
        if len(self._head) < _HEAD:
            self._head += chunk[:_HEAD - len(self._head)]
        self._check_text(chunk)
        self._file.write(chunk)

    def _check_text(self, chunk: bytes, final: bool = False) -> None:
        if not self._is_text:
            return
        try:
            self._is_text = "\x00" not in self._utf8.decode(chunk, final)
        except UnicodeDecodeError:
            self._is_text = False

    def finish(self, declared: str | None) -> Stored:
        """Check the type, then move the file into place (kept if already there)."""
        self._check_text(b"", final=True)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if not self._size:
            raise EvidenceRefused(422, "the file is empty")
        media_type = sniff(self._head, self._temp, self._is_text)
        if media_type is None:
            raise EvidenceRefused(415, f"unsupported file type: allowed are {ALLOWED}")
        if not agrees(declared, media_type):
            raise EvidenceRefused(415, f"the file was declared {declared} but its content is "
                                       f"{media_type}")
        sha256 = self._hash.hexdigest()
        target = path_of(self.root, sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.replace(self._temp, target)
        return Stored(sha256, self._size, media_type)

    def discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> "Upload":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.discard()


class EvidenceStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> "EvidenceStore":
        return cls(settings.evidence_dir or settings.data_dir / "evidence", settings.evidence_max_bytes)

    def path(self, sha256: str) -> Path:
        return path_of(self.root, sha256)

    def put(self, data: bytes, declared: str | None = None) -> Stored:
        with Upload(self.root, self.max_bytes) as upload:
            upload.write(data)
            return upload.finish(declared)

    async def receive(self, chunks: AsyncIterable[bytes], declared: str | None,
                      length: int | None = None) -> Stored:
        """Store a request body as it arrives; refused at once if it says it is too large."""
        if length is not None and length > self.max_bytes:
            raise too_large(self.max_bytes)
        with Upload(self.root, self.max_bytes) as upload:
            async for chunk in chunks:
                upload.write(chunk)
            return await asyncio.to_thread(upload.finish, declared)


def path_of(root: Path, sha256: str) -> Path:
    if not is_sha256(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return root / sha256[:2] / sha256


def too_large(max_bytes: int) -> EvidenceRefused:
    return EvidenceRefused(413, f"the file is larger than the limit of {_size(max_bytes)}")


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"
