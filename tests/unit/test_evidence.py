"""Evidence files: recognised by content, limited in size, stored once by hash, atomically."""

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from services.tracking.evidence import DOCX, XLSX, EvidenceRefused, EvidenceStore, agrees
from shared.settings import Settings
from tests.support import tiny_png


def office(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


SAMPLES = {
    "image/png": tiny_png(),
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32),
    "image/gif": b"GIF89a" + bytes(16),
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(16),
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(16),
    "video/mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(16),
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + bytes(16),
    DOCX: office("[Content_Types].xml", "word/document.xml"),
    XLSX: office("[Content_Types].xml", "xl/workbook.xml"),
    "text/plain": "整改进展：已完成 80%。\n".encode(),
}


@pytest.fixture
def files(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", max_bytes=64 * 1024)


@pytest.mark.parametrize("media_type", sorted(SAMPLES))
def test_each_allowed_type_is_recognised_by_its_content(files, media_type):
    data = SAMPLES[media_type]
    stored = files.put(data, declared=media_type)
    assert stored.media_type == media_type and stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert files.path(stored.sha256) == files.root / stored.sha256[:2] / stored.sha256
    assert files.path(stored.sha256).read_bytes() == data


def test_a_generic_or_missing_declared_type_takes_the_sniffed_one(files):
    assert files.put(SAMPLES["image/png"], "application/octet-stream").media_type == "image/png"
    assert files.put(SAMPLES["application/pdf"], None).media_type == "application/pdf"
    assert files.put(SAMPLES["text/plain"], "text/csv; charset=utf-8").media_type == "text/plain"
    assert agrees("image/jpg", "image/jpeg") and agrees("IMAGE/PNG", "image/png")


def test_a_declared_type_the_content_contradicts_is_refused(files):
    with pytest.raises(EvidenceRefused, match="declared image/png but its content is application/pdf") as e:
        files.put(SAMPLES["application/pdf"], "image/png")
    assert e.value.status == 415


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00\x03" + bytes(64),  # a Windows executable
    b"\x00\x01\x02\x03" * 8,  # binary, not UTF-8 text
    "caf\xe9".encode("latin-1"),  # text, but not UTF-8
    office("[Content_Types].xml", "ppt/presentation.xml"),  # a zip that is neither DOCX nor XLSX
    b"PK\x03\x04 not really a zip",
])
def test_other_types_are_refused_with_the_allowed_list(files, data):
    with pytest.raises(EvidenceRefused, match="unsupported file type: allowed are JPEG, PNG") as e:
        files.put(data, "application/octet-stream")
    assert e.value.status == 415


def test_a_file_over_the_limit_is_refused_and_leaves_nothing_behind(files):
    with pytest.raises(EvidenceRefused, match="larger than the limit of 65536 bytes") as e:
        files.put(b"x" * (64 * 1024 + 1), "text/plain")
    assert e.value.status == 413
    assert list(files.root.rglob("*")) == [files.root / "tmp"]
    assert files.put(b"x" * (64 * 1024), "text/plain").size == 64 * 1024
    assert EvidenceStore(files.root, 20 * 2**20).put(b"y", None).size == 1


def test_a_declared_length_over_the_limit_is_refused_before_reading(files):
    async def never():
        raise AssertionError("read the body")
        yield b""

    with pytest.raises(EvidenceRefused, match="20 MiB") as e:
        asyncio.run(EvidenceStore(files.root, 20 * 2**20).receive(never(), "image/png", 21 * 2**20))
    assert e.value.status == 413


def test_an_empty_file_is_refused(files):
    with pytest.raises(EvidenceRefused, match="empty") as e:
        files.put(b"", None)
    assert e.value.status == 422


def test_a_streamed_body_is_stored_like_bytes(files):
    data = SAMPLES["image/png"] * 50

    async def chunks():
        for i in range(0, len(data), 7):
            yield data[i:i + 7]

    stored = asyncio.run(files.receive(chunks(), "image/png"))
    assert stored == files.put(data, "image/png")


def test_storing_the_same_file_again_keeps_the_first_copy_and_no_temporary_files(files):
    first = files.put(SAMPLES["image/png"], "image/png")
    path = files.path(first.sha256)
    mtime = path.stat().st_mtime_ns
    assert files.put(SAMPLES["image/png"], "image/png") == first
    assert path.stat().st_mtime_ns == mtime
    assert list((files.root / "tmp").iterdir()) == []


def test_a_file_appears_whole_or_not_at_all(files, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("services.tracking.evidence.os.replace", broken_replace)
    with pytest.raises(OSError):
        files.put(SAMPLES["image/png"], "image/png")
    assert not files.path(hashlib.sha256(SAMPLES["image/png"]).hexdigest()).exists()
    assert list((files.root / "tmp").iterdir()) == []


def test_paths_take_only_sha256_digests(files):
    with pytest.raises(ValueError):
        files.path("../../etc/passwd")


def test_the_evidence_dir_and_limit_come_from_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DUBAN_DATA_DIR", str(tmp_path))
    default = EvidenceStore.from_settings(Settings())
    assert (default.root, default.max_bytes) == (tmp_path / "evidence", 20 * 2**20)
    monkeypatch.setenv("DUBAN_EVIDENCE_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("DUBAN_EVIDENCE_MAX_BYTES", "1000")
    configured = EvidenceStore.from_settings(Settings())
    assert (configured.root, configured.max_bytes) == (tmp_path / "shared", 1000)
