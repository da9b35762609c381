"""The coverage sweep's tables: each ended leg's verdict, and the counts Prometheus reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from flexrec.db.base import Base
from flexrec.db.models import SID, UTCDateTime


class CoverageFinding(Base):
    """One ended call leg's verdict; counted once it held across sweeps (kept a week)."""

    __tablename__ = "coverage_findings"

    call_sid: Mapped[str] = mapped_column(SID, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16), default="")  # "" when fully recorded
    started_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # Twilio's clock
    # When this verdict was first reached (flexrec's clock); reset when the verdict changes.
    judged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class CoverageCount(Base):
    """Legs counted per outcome and reason since the database was made (never decreases)."""

    __tablename__ = "coverage_counts"

    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16), primary_key=True)
    legs: Mapped[int] = mapped_column(Integer, default=0)
