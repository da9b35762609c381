"""Typed settings for the service, grouped by concern; each field names its environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# PostgreSQL users write postgres:// (libpq, Heroku, most hosting panels); SQLAlchemy knows only
# postgresql://, and its default driver for that is psycopg2, which flexrec does not install.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
MIN_WEBHOOK_SECRET = 32
"""Characters of the card-data webhook's HMAC key, at least (a guessable key signs forgeries)."""


def normalise_database_url(url: str) -> str:
    """A PostgreSQL URL as users write it, made the SQLAlchemy URL flexrec's driver needs."""
    url = url.strip()
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


class TwilioSettings(BaseSettings):
    """Credentials and endpoints of the Twilio account the service drives."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore")

    account_sid: str = Field("", description="TWILIO_ACCOUNT_SID")
    auth_token: SecretStr = Field(SecretStr(""), description="TWILIO_AUTH_TOKEN")
    api_key: str = Field("", description="TWILIO_API_KEY (optional, used for REST if set)")
    api_secret: SecretStr = Field(SecretStr(""), description="TWILIO_API_SECRET")
    workspace_sid: str = Field("", description="TWILIO_WORKSPACE_SID")
    base_url: str = Field(
        "",
        validation_alias=AliasChoices("FLEXREC_TWILIO_BASE_URL", "base_url"),
        description="FLEXREC_TWILIO_BASE_URL: one origin replacing every Twilio host",
    )
    timeout_s: float = Field(10.0, description="TWILIO_TIMEOUT_S: per-request timeout")


class ServerSettings(BaseSettings):
    """Where the service listens and how Twilio reaches it."""

    model_config = SettingsConfigDict(env_prefix="FLEXREC_", extra="ignore")

    host: str = Field("127.0.0.1", description="FLEXREC_HOST")
    port: int = Field(8080, description="FLEXREC_PORT")
    public_url: str = Field(
        "", description="FLEXREC_PUBLIC_URL: the URL Twilio posts to (behind a proxy)"
    )
    validate_signatures: bool = Field(True, description="FLEXREC_VALIDATE_SIGNATURES")
    trusted_proxies: str = Field(
        "",
        description=(
            "FLEXREC_TRUSTED_PROXIES: comma-separated addresses or networks of reverse proxies"
            " whose X-Forwarded-For/-Proto are believed (empty: nobody's; '*': everyone's)"
        ),
    )
    console_secret: SecretStr = Field(
        SecretStr(""), description="FLEXREC_CONSOLE_SECRET: signs console sessions and media links"
    )
    admin_token: SecretStr = Field(
        SecretStr(""), description="FLEXREC_ADMIN_TOKEN: bearer token of the admin API (empty: off)"
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="FLEXREC_METRICS_TOKEN: bearer token /metrics requires (empty: anonymous)",
    )
    cors_origins: str = Field(
        "https://flex.twilio.com",
        description="FLEXREC_CORS_ORIGINS: comma-separated origins allowed to call the agent API",
    )

    reconcile_interval_s: float = Field(
        60.0,
        description=(
            "FLEXREC_RECONCILE_INTERVAL_S: how often the safety net looks for live voice tasks "
            "with no recording (it also runs at start-up)"
        ),
    )

    coverage_sweep_minutes: int = Field(
        5,
        ge=0,
        le=60,
        description=(
            "FLEXREC_COVERAGE_SWEEP_MINUTES: how often ended call legs are judged for the "
            "coverage counters and alert (0: never)"
        ),
    )

    retry_base_s: float = Field(
        0.5,
        description=(
            "FLEXREC_RETRY_BASE_S: first retry delay of a failed Twilio call (doubling, jittered);"
            " kept short because every second a recording starts late is lost audio"
        ),
    )
    retry_max_s: float = Field(300.0, description="FLEXREC_RETRY_MAX_S: longest retry delay")

    def cors_origin_list(self) -> list[str]:
        """The allowed CORS origins; `*` is dropped (the agent API carries credentials)."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip() not in ("", "*")]


class StorageSettings(BaseSettings):
    """Database, queue and archive locations."""

    model_config = SettingsConfigDict(env_prefix="FLEXREC_", extra="ignore")

    data_dir: Path = Field(Path("./flexrec-data"), description="FLEXREC_DATA_DIR")
    database_url: str = Field("", description="FLEXREC_DATABASE_URL (default: SQLite in data_dir)")
    queue_url: str = Field(
        "", description="FLEXREC_QUEUE_URL (default: SQLite in data_dir; redis://)"
    )
    archive_url: str = Field(
        "", description="FLEXREC_ARCHIVE_URL (default: data_dir/archive; s3://)"
    )
    archive_key: SecretStr = Field(
        SecretStr(""), description="FLEXREC_ARCHIVE_KEY: base64 AES-256 key; empty = no encryption"
    )
    delete_from_twilio: bool = Field(False, description="FLEXREC_DELETE_FROM_TWILIO")
    archive_retry_base_s: float = Field(
        15.0,
        description=(
            "FLEXREC_ARCHIVE_RETRY_BASE_S: first delay before copying a recording again after a"
            " Twilio error (doubling, at most 10 minutes apart)"
        ),
    )
    s3_endpoint_url: str = Field("", description="FLEXREC_S3_ENDPOINT_URL")
    export_signing_key: SecretStr = Field(
        SecretStr(""),
        description=(
            "FLEXREC_EXPORT_SIGNING_KEY: Ed25519 private key (PEM file path, PEM, or base64 seed)"
            " that signs exports (`flexrec export`); empty = exports are refused"
        ),
    )
    export_tsa_url: str = Field(
        "",
        description=(
            "FLEXREC_EXPORT_TSA_URL: an RFC 3161 time-stamp authority that dates each export's"
            " signed SHA256SUMS (optional; empty = no time-stamp)"
        ),
    )
    verify_every_minutes: int = Field(
        1440,
        description=(
            "FLEXREC_VERIFY_EVERY_MINUTES: how often the service re-reads the archive and checks"
            " the audit chain (`flexrec verify`; 0 = never; beyond an hour, whole hours or days);"
            " its result is on /metrics"
        ),
    )
    verify_sample_pct: float = Field(
        100.0,
        description="FLEXREC_VERIFY_SAMPLE_PCT: share of sealed objects each scheduled run reads",
    )
    audit_anchor_minutes: int = Field(
        15,
        ge=1,
        le=60,
        description=(
            "FLEXREC_AUDIT_ANCHOR_MINUTES: how often the audit chain's head is anchored in the"
            " archive store and the log (at most 60: auditors expect at least hourly)"
        ),
    )

    @field_validator("verify_every_minutes")
    @classmethod
    def _a_schedule_a_clock_can_keep(cls, minutes: int) -> int:
        # The queue's crontab can only say "every N minutes" within the hour, or whole hours
        # or days: 90 would silently mean hourly, so it is refused here, before anything runs.
        if minutes < 0:
            raise ValueError("0 (never) or a number of minutes")
        hours, rest = divmod(minutes, 60)
        if minutes < 60 or minutes % 1440 == 0 or (rest == 0 and hours <= 24):
            return minutes
        raise ValueError(
            f"{minutes} minutes: beyond an hour, use whole hours (at most 24) or whole days,"
            f" e.g. {min(1440, (hours + 1) * 60)}"
        )

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file in the data folder."""
        return normalise_database_url(self.database_url) or (
            f"sqlite:///{self.data_dir / 'flexrec.db'}"
        )

    def resolved_queue_url(self) -> str:
        """The huey storage URL, defaulting to a SQLite file in the data folder."""
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.db'}"

    def resolved_archive_url(self) -> str:
        """The archive location, defaulting to a folder inside the data folder."""
        return self.archive_url or f"file://{(self.data_dir / 'archive').resolve()}"


class PolicySettings(BaseSettings):
    """Where the recording policy file lives (its contents: flexrec.recording.policy)."""

    model_config = SettingsConfigDict(env_prefix="FLEXREC_", extra="ignore")

    policy_file: Path | None = Field(None, description="FLEXREC_POLICY_FILE (TOML)")
    direction: Literal["inbound", "outbound", "both"] | None = Field(
        None, description="FLEXREC_DIRECTION overrides the file"
    )
    leg: Literal["customer", "worker"] | None = Field(None, description="FLEXREC_LEG")
    start_on: Literal["answer", "task"] | None = Field(None, description="FLEXREC_START_ON")
    pause_behavior: Literal["skip", "silence"] | None = Field(
        None, description="FLEXREC_PAUSE_BEHAVIOR"
    )
    list_before_create: Literal["auto", "always"] | None = Field(
        None,
        description=(
            "FLEXREC_LIST_BEFORE_CREATE: always when another recorder may start dual recordings "
            "on these legs unseen (default auto: list only where one may exist)"
        ),
    )
    max_replacements: int | None = Field(
        None,
        description=(
            "FLEXREC_MAX_REPLACEMENTS: recordings started again on a live leg after one ended "
            "absent/failed (default 3)"
        ),
    )
    replacement_backoff_s: float | None = Field(
        None,
        description=(
            "FLEXREC_REPLACEMENT_BACKOFF_S: the first replacement starts at once, the second "
            "after this many seconds, the third after 2.5 times it, the fourth 4 times (default "
            "2: 2, 5, 8 s, inside the 10 s allowed)"
        ),
    )


class CardDataSettings(BaseSettings):
    """Spoken card data (flexrec.pci): transcribe each recording, silence card data, report."""

    model_config = SettingsConfigDict(env_prefix="FLEXREC_", extra="ignore")

    card_data: bool = Field(
        False,
        description=(
            "FLEXREC_CARD_DATA: transcribe every recording before it is archived and silence"
            " spoken card numbers, expiry dates and security codes (costs CPU: see README)"
        ),
    )
    transcription_engine: Literal["pocketsphinx", "faster-whisper", "whisper-cpp", "twilio"] = (
        Field("pocketsphinx", description="FLEXREC_TRANSCRIPTION_ENGINE")
    )
    transcription_model: Path | None = Field(
        None,
        description=(
            "FLEXREC_TRANSCRIPTION_MODEL: the model folder (faster-whisper) or file"
            " (whisper.cpp) the operator supplies"
        ),
    )
    twilio_transcription_outside_pci_scope: bool = Field(
        False,
        description=(
            "FLEXREC_TWILIO_TRANSCRIPTION_OUTSIDE_PCI_SCOPE: the operator states this account"
            " is outside PCI DSS scope; only then may the `twilio` engine send audio to Twilio"
        ),
    )
    twilio_intelligence_service_sid: str = Field(
        "", description="FLEXREC_TWILIO_INTELLIGENCE_SERVICE_SID: for the `twilio` engine"
    )
    card_redaction: Literal["silence", "tone"] = Field(
        "silence", description="FLEXREC_CARD_REDACTION: digital silence or a 1 kHz tone"
    )
    card_margin_ms: int = Field(
        250, ge=0, le=5000, description="FLEXREC_CARD_MARGIN_MS: silenced around each find"
    )
    card_extra_rules: str = Field(
        "",
        description=(
            "FLEXREC_CARD_EXTRA_RULES: more card data by rule, `name=regex;...` over spoken"
            " digit runs (e.g. a national ID number)"
        ),
    )
    card_data_webhook_url: str = Field(
        "",
        description=(
            "FLEXREC_CARD_DATA_WEBHOOK_URL: POST a signed notice of each call with card data"
            " silenced to this https URL (empty: none; see README, verifying the webhook)"
        ),
    )
    card_data_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "FLEXREC_CARD_DATA_WEBHOOK_SECRET: the HMAC-SHA256 key the receiver shares"
            " (at least 32 characters, e.g. `openssl rand -hex 32`)"
        ),
    )

    @model_validator(mode="after")
    def _webhook_is_safe(self) -> CardDataSettings:
        url = self.card_data_webhook_url.strip()
        if not url:
            return self
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("FLEXREC_CARD_DATA_WEBHOOK_URL must be an https:// URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            # The notice names the call and the agent: only loopback may hear it unencrypted.
            raise ValueError(
                "FLEXREC_CARD_DATA_WEBHOOK_URL must use https:// (plain http only to this machine)"
            )
        if len(self.card_data_webhook_secret.get_secret_value()) < MIN_WEBHOOK_SECRET:
            raise ValueError(
                f"FLEXREC_CARD_DATA_WEBHOOK_SECRET must be set, at least {MIN_WEBHOOK_SECRET}"
                " characters (`openssl rand -hex 32`), when FLEXREC_CARD_DATA_WEBHOOK_URL is"
            )
        return self


class Settings(BaseModel):
    """Everything the service reads, one group per concern."""

    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    card_data: CardDataSettings = Field(default_factory=CardDataSettings)

    @classmethod
    def from_env(cls) -> Settings:
        """Read every group from the environment."""
        return cls(
            twilio=TwilioSettings(),
            server=ServerSettings(),
            storage=StorageSettings(),
            policy=PolicySettings(),
            card_data=CardDataSettings(),
        )
