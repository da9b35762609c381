"""The scaled archive store: an S3 (or S3-compatible) bucket, with Object Lock where it has one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flexrec.archive.storage.base import (
    BlobNotFound,
    LockState,
    NotWormError,
    ObjectLock,
    ObjectLockedError,
    StorageError,
    check_key,
)


class S3Storage:
    """Objects in an S3 (or S3-compatible) bucket under `prefix`; one PUT per object is atomic."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        if client is None:
            import boto3
            from botocore.config import Config

            # boto3 reads credentials and region from its usual environment and files.
            client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}),
            )
        self._s3 = client

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Upload in one PutObject: S3 makes it visible whole or not at all."""
        with _s3_errors("upload", key):
            self._s3.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        with _s3_errors("download", key, missing_is_not_found=True):
            response = self._s3.get_object(Bucket=self.bucket, Key=self._full(key))
            body: bytes = response["Body"].read()
            return body

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """A ranged GET, so a seek in a long recording downloads only what it plays."""
        with _s3_errors("ranged download", key, missing_is_not_found=True):
            response = self._s3.get_object(
                Bucket=self.bucket, Key=self._full(key), Range=f"bytes={start}-{end}"
            )
            body: bytes = response["Body"].read()
            return body

    def size(self, key: str) -> int:
        """ContentLength from a HEAD."""
        with _s3_errors("head", key, missing_is_not_found=True):
            head = self._s3.head_object(Bucket=self.bucket, Key=self._full(key))
            return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            with _s3_errors("head", key, missing_is_not_found=True):
                self._s3.head_object(Bucket=self.bucket, Key=self._full(key))
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats a missing key as success)."""
        with _s3_errors("delete", key):
            self._s3.delete_object(Bucket=self.bucket, Key=self._full(key))

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys under this store's prefix that start with `prefix`."""
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        with _s3_errors("list"):
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                keys.extend(item["Key"][len(base) :] for item in page.get("Contents", []))
        return sorted(keys)

    def describe(self) -> str:
        """`s3://bucket/prefix`."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    # -- versions and Object Lock (flexrec.archive.worm.VersionedStore) -----------------------
    def check_worm(self) -> str:
        """Say how the bucket is WORM; raises `NotWormError` when it has no versioning or lock."""
        where = self.describe()
        with _s3_errors("versioning check"):
            status = self._s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        try:
            with _s3_errors("Object Lock check"):
                config = self._s3.get_object_lock_configuration(Bucket=self.bucket)
        except StorageError as exc:
            if "ObjectLockConfigurationNotFound" not in str(exc):
                raise
            config = {}
        enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        if not enabled or status != "Enabled":
            missing = " and ".join(
                part
                for part, ok in (("versioning", status == "Enabled"), ("Object Lock", enabled))
                if not ok
            )
            raise NotWormError(
                f"the bucket of {where} has no {missing}, so it is not WORM: create it with "
                "Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket"
                " ...), which also turns versioning on"
            )
        return f"{where}: versioned, Object Lock enabled"

    def put_version(
        self, key: str, data: bytes, lock: ObjectLock | None, legal_hold: bool = False
    ) -> str | None:
        """One PutObject carrying its lock (so no unlocked moment exists); returns the version
        (None from a bucket without versioning, which can only take an unlocked object)."""
        extra: dict[str, Any] = {}
        if lock is not None:
            extra["ObjectLockMode"] = lock.mode
            extra["ObjectLockRetainUntilDate"] = lock.retain_until
        if legal_hold:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        with _s3_errors("locked upload", key):
            response = self._s3.put_object(
                Bucket=self.bucket,
                Key=self._full(key),
                Body=data,
                # Object Lock uploads must carry a checksum; SHA-256 is also what we seal.
                ChecksumAlgorithm="SHA256",
                **extra,
            )
        version = response.get("VersionId")
        return None if not version or version == "null" else str(version)

    def get_version(self, key: str, version_id: str) -> bytes:
        """Download one version."""
        with _s3_errors("download", key, missing_is_not_found=True):
            response = self._s3.get_object(
                Bucket=self.bucket, Key=self._full(key), VersionId=version_id
            )
            body: bytes = response["Body"].read()
            return body

    def get_version_range(self, key: str, version_id: str, start: int, end: int) -> bytes:
        """A ranged GET of one version."""
        with _s3_errors("ranged download", key, missing_is_not_found=True):
            response = self._s3.get_object(
                Bucket=self.bucket,
                Key=self._full(key),
                VersionId=version_id,
                Range=f"bytes={start}-{end}",
            )
            body: bytes = response["Body"].read()
            return body

    def version_size(self, key: str, version_id: str) -> int:
        """ContentLength of one version."""
        with _s3_errors("head", key, missing_is_not_found=True):
            head = self._s3.head_object(
                Bucket=self.bucket, Key=self._full(key), VersionId=version_id
            )
            return int(head["ContentLength"])

    def lock_state(self, key: str, version_id: str) -> LockState:
        """HEAD the version (lock and hold come back with it) and look at what is on top."""
        try:
            with _s3_errors("head", key, missing_is_not_found=True):
                head = self._s3.head_object(
                    Bucket=self.bucket, Key=self._full(key), VersionId=version_id
                )
        except BlobNotFound:
            return LockState(version_id, exists=False)
        except StorageError as exc:
            # S3 answers a HEAD of a delete marker's version with 405; a lost version with 400.
            if "405" in str(exc) or "400" in str(exc):
                return LockState(version_id, exists=False)
            raise
        newest = self._newest(key)
        mode = head.get("ObjectLockMode")
        return LockState(
            version_id,
            exists=True,
            mode=mode if mode in ("COMPLIANCE", "GOVERNANCE") else None,
            retain_until=head.get("ObjectLockRetainUntilDate"),
            legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
            superseded=newest is not None and newest[0] != version_id,
            delete_marker_on_top=newest is not None and newest[1],
        )

    def _newest(self, key: str) -> tuple[str, bool] | None:
        """(version ID, is a delete marker) of the newest entry under `key`."""
        for version_id, is_marker, latest in self._versions(key):
            if latest:
                return version_id, is_marker
        return None

    def _versions(self, key: str) -> list[tuple[str, bool, bool]]:
        full = self._full(key)
        found: list[tuple[str, bool, bool]] = []
        with _s3_errors("version list", key):
            paginator = self._s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Versions", []):
                    if item["Key"] == full:
                        found.append((str(item["VersionId"]), False, bool(item["IsLatest"])))
                for item in page.get("DeleteMarkers", []):
                    if item["Key"] == full:
                        found.append((str(item["VersionId"]), True, bool(item["IsLatest"])))
        return found

    def version_ids(self, key: str) -> list[str]:
        """Every version and delete marker under `key`, the newest first."""
        entries = self._versions(key)
        entries.sort(key=lambda e: not e[2])
        return [e[0] for e in entries]

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Set or clear the Object Lock legal hold of one version."""
        with _s3_errors("legal hold", key):
            self._s3.put_object_legal_hold(
                Bucket=self.bucket,
                Key=self._full(key),
                VersionId=version_id,
                LegalHold={"Status": "ON" if on else "OFF"},
                ChecksumAlgorithm="SHA256",
            )

    def delete_version(self, key: str, version_id: str, *, bypass_governance: bool = False) -> None:
        """Delete one version for good; a refusal by the lock is `ObjectLockedError` (final)."""
        from botocore.exceptions import ClientError

        extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
        try:
            self._s3.delete_object(
                Bucket=self.bucket, Key=self._full(key), VersionId=version_id, **extra
            )
        except ClientError as exc:
            if _s3_code(exc) in _LOCKED_CODES:
                raise ObjectLockedError(key, version_id, _s3_code(exc)) from exc
            with _s3_errors("versioned delete", key):
                raise


_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})
# What S3 (and SeaweedFS, moto) answer when Object Lock or a legal hold refuses a delete.
_LOCKED_CODES = frozenset({"AccessDenied", "ObjectLocked", "InvalidRequest"})


@contextmanager
def _s3_errors(
    action: str, key: str | None = None, *, missing_is_not_found: bool = False
) -> Iterator[None]:
    """botocore's errors as `StorageError` (a missing object as `BlobNotFound` where asked)."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f" for {key}" if key is not None else ""
    try:
        yield
    except ClientError as exc:
        if missing_is_not_found and key is not None and _s3_code(exc) in _MISSING_CODES:
            raise BlobNotFound(key) from None
        raise StorageError(f"S3 {action} failed{where}: {_s3_reason(exc)}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 {action} failed{where}: {exc}") from exc


def _s3_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _s3_reason(exc: Any) -> str:
    code = _s3_code(exc)
    return code or type(exc).__name__
