"""The redaction seam of the archive pipeline: one call between verifying a download and
sealing it, `Redactor(recording_sid, wav) -> (audio to keep, RedactionReport | None)`.

The card-data work (flexrec.pci) provides it; the manifest (flexrec.archive.seal) keeps the
report with the hash of the audio the redacted copy was made from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RedactionReport:
    """What a redaction stage removed from a recording before it was sealed."""

    source_sha256: str  # of the audio the redacted copy was made from
    # [start_ms, end_ms] spans silenced (both channels), from the recording's start
    spans_ms: tuple[tuple[int, int], ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """JSON-ready form stored in the manifest row."""
        return {
            "source_sha256": self.source_sha256,
            "spans_ms": [list(span) for span in self.spans_ms],
            **dict(self.detail),
        }


Redactor = Callable[[str, bytes], tuple[bytes, RedactionReport | None]]
"""(recording SID, WAV as downloaded) -> (WAV to keep, report or None when nothing removed)."""
