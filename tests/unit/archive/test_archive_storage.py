"""Blob stores: atomic local writes, key safety, the memory fake, URL selection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flexrec.archive.storage import (
    BlobNotFound,
    BlobStore,
    InvalidKey,
    LocalStorage,
    MemoryStorage,
    S3Storage,
    StorageError,
    open_storage,
)

KEY = "recordings/2026/03/04/RE" + "1" * 32 + ".wav"


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalStorage(tmp_path / "archive")
    return MemoryStorage()


def test_put_get_exists_delete_list(store: BlobStore) -> None:
    assert not store.exists(KEY)
    store.put(KEY, b"first")
    store.put("recordings/other.wav", b"x")
    assert store.exists(KEY)
    assert store.get(KEY) == b"first"
    store.put(KEY, b"second")  # replaces, never duplicates
    assert store.get(KEY) == b"second"
    assert store.list_keys("recordings/2026") == [KEY]
    assert store.list_keys() == sorted([KEY, "recordings/other.wav"])
    store.delete(KEY)
    store.delete(KEY)  # deleting twice is fine
    assert not store.exists(KEY)
    with pytest.raises(BlobNotFound):
        store.get(KEY)


def test_ranges_and_sizes(store: BlobStore) -> None:
    store.put(KEY, bytes(range(100)))
    assert store.size(KEY) == 100
    assert store.get_range(KEY, 10, 19) == bytes(range(10, 20))
    assert store.get_range(KEY, 95, 200) == bytes(range(95, 100))
    with pytest.raises(BlobNotFound):
        store.size("recordings/missing.wav")
    with pytest.raises(BlobNotFound):
        store.get_range("recordings/missing.wav", 0, 1)


@pytest.mark.parametrize(
    "bad", ["../escape.wav", "/abs/path.wav", "a/../../b", "", "a//b", ".hidden", "a/./b"]
)
def test_keys_that_could_escape_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(bad, b"x")


def test_local_write_is_atomic_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path)
    store.put(KEY, b"old object")

    def crash_on_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash_on_rename)
    with pytest.raises(StorageError, match="No space left"):
        store.put(KEY, b"new object that never lands")
    monkeypatch.undo()
    # The reader still sees the whole old object and no partial file lies around.
    assert store.get(KEY) == b"old object"
    leftovers = [p.name for p in (tmp_path / KEY).parent.iterdir()]
    assert leftovers == [Path(KEY).name]


def test_local_in_flight_temp_files_are_not_listed(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.put(KEY, b"x")
    (tmp_path / KEY).with_name(".RE.wav.abc.part").write_bytes(b"half")
    assert store.list_keys() == [KEY]
    assert store.describe() == tmp_path.resolve().as_uri()


def test_memory_store_simulated_outage() -> None:
    store = MemoryStorage()
    store.fail_next_puts = 1
    with pytest.raises(StorageError):
        store.put(KEY, b"x")
    assert not store.exists(KEY)
    store.put(KEY, b"x")
    assert store.puts == 1


def test_open_storage_picks_the_back_end(tmp_path: Path) -> None:
    local = open_storage(f"file://{tmp_path}/arch")
    assert isinstance(local, LocalStorage)
    assert local.root == (tmp_path / "arch").resolve()
    assert isinstance(open_storage(str(tmp_path / "plain")), LocalStorage)
    s3 = open_storage("s3://bucket-name/some/prefix", "http://127.0.0.1:9")
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        "bucket-name",
        "some/prefix",
        "http://127.0.0.1:9",
    )
    assert s3.describe() == "s3://bucket-name/some/prefix"
    with pytest.raises(ValueError, match="bucket"):
        open_storage("s3:///nobucket")
    with pytest.raises(ValueError, match="unsupported"):
        open_storage("ftp://host/path")


def test_local_mapped_reads_the_file_without_a_copy(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.put(KEY, bytes(range(256)) * 40)
    with store.mapped(KEY) as view:
        assert view.readonly
        assert view.nbytes == 256 * 40
        assert view[:4] == bytes(range(4))
        # Replacing the object (a rename) leaves the mapping on the file it opened.
        store.put(KEY, b"new")
        assert bytes(view[-2:]) == bytes([254, 255])
    with pytest.raises(ValueError, match="released"):  # released once the block ends
        view.tobytes()
    store.put("recordings/empty.wav", b"")
    with store.mapped("recordings/empty.wav") as empty:
        assert empty.nbytes == 0
    with pytest.raises(BlobNotFound), store.mapped("recordings/missing.wav"):
        pass


def test_local_mapped_survives_a_reader_that_keeps_a_view(tmp_path: Path) -> None:
    """An array kept over the mapping past the block keeps the pages readable (unmapped when
    it goes) instead of failing the block's end."""
    store = LocalStorage(tmp_path)
    store.put(KEY, b"\x01\x00" * 1000)
    with store.mapped(KEY) as view:
        kept = memoryview(view)[:4]
    assert bytes(kept) == b"\x01\x00\x01\x00"


def test_local_matches_compares_the_file_slice_by_slice(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    data = os.urandom(3 * (1 << 18) + 5)  # three whole slices and a partial one
    store.put(KEY, data)
    assert store.matches(KEY, data)
    changed = bytearray(data)
    changed[-1] ^= 1
    assert not store.matches(KEY, bytes(changed))
    changed = bytearray(data)
    changed[(1 << 18) + 7] ^= 0x80
    assert not store.matches(KEY, bytes(changed))
    assert not store.matches(KEY, data[:-1])  # the file is longer
    assert not store.matches(KEY, data + b"\0")  # the file is shorter
    store.put("recordings/empty.wav", b"")
    assert store.matches("recordings/empty.wav", b"")
    assert not store.matches("recordings/empty.wav", b"x")
    with pytest.raises(BlobNotFound):
        store.matches("recordings/missing.wav", data)
