"""The archive's errors: what a job should retry, what is final, what a reader cannot get."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base error of the archive."""


class ArchiveRetryableError(ArchiveError):
    """A step failed in a way that may pass (network, storage, Twilio not ready): retry later."""


class ArchiveFailedError(ArchiveError):
    """The recording cannot be archived (attempts exhausted or a permanent fault)."""


class RecordingNotArchived(ArchiveError):
    """No archived media exists for that recording (unknown, not yet stored, or purged)."""
