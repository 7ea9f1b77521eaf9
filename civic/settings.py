"""Settings read once from the environment (``CIVIC_*``) and validated at start-up.

Every rule that the domain sources disagree on is a setting here, with the default
documented next to it (shared/domain.md, introduction).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from civic.errors import ConfigError

ENVIRONMENTS = ("development", "test", "production")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PetitionRules:
    """Petition rules in force for new petitions (shared/domain.md §2).

    thresholds: ((population_upper_bound_exclusive | None, signatures), ...) ordered by bound;
        default from the Marrakech-Safi regional guide: <1,000,000 → 300, 1–3 million → 400, >3 million → 500.
    province_share_percent: minimum share of the threshold per province, by residence (default 5).
    require_electoral_registration: signatories declare they are on the electoral lists (default on).
    collection_days: how long a petition collects signatures before it expires (default 365).
    retention_days: how long signatory data is kept after closing (Law 09-08, shared/domain.md §3; default 365).
    examination_months: months from the receipt within which the bureau notifies its decision (2 for regions
        and provinces, 3 for communes; shared/domain.md §2).
    """

    thresholds: tuple[tuple[int | None, int], ...] = ((1_000_000, 300), (3_000_001, 400), (None, 500))
    province_share_percent: int = 5
    require_electoral_registration: bool = True
    collection_days: int = 365
    retention_days: int = 365
    examination_months: int = 2


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration.

    database_url: SQLAlchemy async URL; default the embedded SQLite file ``civic.db``.
    secret_key: signs cookies and tokens and derives the CNIE encryption and HMAC keys.
    region: code of the region this deployment serves (default ``05``, Béni Mellal-Khénifra).
    env: ``development`` | ``test`` | ``production``.
    trusted_proxies: comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto are believed.
    smtp_url: ``smtp://user:pass@host:587?starttls=1`` or ``smtps://…``; empty keeps mail in the outbox.
    base_url: the public address, used in links inside emails.
    upload_dir: folder where consultation documents (PDF) are stored; created when missing.
    max_upload_bytes: largest document accepted, in bytes (default 10 MiB).
    report_hide_threshold: number of reports that hides an item automatically, pending a moderator's review
        (1–100, default 3; issue #6, item 2).
    body_timeout_seconds: seconds a client has to send a whole request body before it gets 408 (1–3600,
        default 30; issue #8, item 5: slow clients).
    Rate limits (issue #8, item 4; ``limits`` notation such as ``30/hour``; stored in the database, so they hold
    across processes): login_rate_limit (failed sign-ins, per client address and per account),
    register_rate_limit (new accounts per client address), sign_rate_limit (signatures per account),
    sign_cnie_rate_limit (signatures per CNIE, whatever the account), verify_mail_rate_limit (verification mails
    per email address and per client address), verify_code_rate_limit (verification code attempts per account).
    The client address is the peer, or the X-Forwarded-For address when the peer is one of ``trusted_proxies``.
    """

    database_url: str = "sqlite+aiosqlite:///civic.db"
    secret_key: str = field(default="", repr=False)
    region: str = "05"
    env: str = "development"
    https: bool = False
    petition_rules: PetitionRules = PetitionRules()
    max_body_bytes: int = 256 * 1024
    body_timeout_seconds: int = 30  # issue #8: bad input (slow clients get 408 after this)
    login_rate_limit: str = "10/5minutes"
    register_rate_limit: str = "30/hour"
    sign_rate_limit: str = "30/hour"
    sign_cnie_rate_limit: str = "30/hour"
    verify_mail_rate_limit: str = "3/hour"
    verify_code_rate_limit: str = "10/hour"
    trusted_proxies: str = ""
    smtp_url: str = ""
    mail_from: str = "Civic <no-reply@civic.invalid>"
    base_url: str = "http://127.0.0.1:8000"
    upload_dir: str = str(ROOT / "uploads")
    max_upload_bytes: int = 10 * 1024 * 1024
    report_hide_threshold: int = 3

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be on or off (also accepted: yes/no, true/false, 1/0; got {raw!r})")


def _int(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be {bounds} (got {value})")
    return value


def _rate(name: str, raw: str) -> str:
    from limits import parse

    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must look like 10/5minutes or 5/hour (got {raw!r})") from None
    return raw


def _addresses(name: str, raw: str) -> str:
    import ipaddress

    parts = [p.strip() for p in raw.split(",") if p.strip()]
    for part in parts:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(f"{name} must be a comma-separated list of IP addresses (got {part!r})") from None
    return ",".join(parts)


def _secret_key(env: str, environ: dict[str, str]) -> str:
    key = environ.get("CIVIC_SECRET_KEY", "").strip()
    if key:
        if len(key) < 32:
            raise ConfigError("CIVIC_SECRET_KEY must be at least 32 characters long")
        return key
    if env == "production":
        raise ConfigError("CIVIC_SECRET_KEY is required when CIVIC_ENV=production")
    key_file = Path(environ.get("CIVIC_SECRET_KEY_FILE", str(ROOT / ".civic-secret-key")))
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(48)
    key_file.write_text(key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    return key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate settings from ``environ`` (default ``os.environ``).

    Raises ConfigError with a one-line explanation when a value is wrong.
    """
    env_vars = dict(os.environ if environ is None else environ)
    env = env_vars.get("CIVIC_ENV", "development").strip()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"CIVIC_ENV must be one of {', '.join(ENVIRONMENTS)} (got {env!r})")
    url = env_vars.get("CIVIC_DATABASE_URL", Settings.database_url).strip()
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "CIVIC_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
            f"(got a URL starting {url.split(':', 1)[0]!r})"
        )
    region = env_vars.get("CIVIC_REGION", "05").strip()
    if not re.fullmatch(r"\d{2}", region) or not 1 <= int(region) <= 12:
        raise ConfigError(f"CIVIC_REGION must be a two-digit region code from 01 to 12 (got {region!r})")
    rules = PetitionRules(
        province_share_percent=_int(
            "CIVIC_PROVINCE_SHARE_PERCENT", env_vars.get("CIVIC_PROVINCE_SHARE_PERCENT", "5"), 0, 100
        ),
        require_electoral_registration=_bool(
            "CIVIC_REQUIRE_ELECTORAL_REGISTRATION", env_vars.get("CIVIC_REQUIRE_ELECTORAL_REGISTRATION", "on")
        ),
        collection_days=_int("CIVIC_COLLECTION_DAYS", env_vars.get("CIVIC_COLLECTION_DAYS", "365"), 1),
        retention_days=_int("CIVIC_RETENTION_DAYS", env_vars.get("CIVIC_RETENTION_DAYS", "365"), 0),
        examination_months=_int("CIVIC_EXAMINATION_MONTHS", env_vars.get("CIVIC_EXAMINATION_MONTHS", "2"), 1, 12),
    )
    return Settings(
        database_url=url,
        secret_key=_secret_key(env, env_vars),
        region=region,
        env=env,
        https=_bool("CIVIC_HTTPS", env_vars.get("CIVIC_HTTPS", "off")),
        petition_rules=rules,
        max_body_bytes=_int("CIVIC_MAX_BODY_BYTES", env_vars.get("CIVIC_MAX_BODY_BYTES", str(256 * 1024)), 1024),
        # issue #8: bad input
        body_timeout_seconds=_int("CIVIC_BODY_TIMEOUT_SECONDS", env_vars.get("CIVIC_BODY_TIMEOUT_SECONDS", "30"),
                                  1, 3600),
        login_rate_limit=_rate("CIVIC_LOGIN_RATE_LIMIT", env_vars.get("CIVIC_LOGIN_RATE_LIMIT", "10/5minutes")),
        register_rate_limit=_rate("CIVIC_REGISTER_RATE_LIMIT", env_vars.get("CIVIC_REGISTER_RATE_LIMIT", "30/hour")),
        sign_rate_limit=_rate("CIVIC_SIGN_RATE_LIMIT", env_vars.get("CIVIC_SIGN_RATE_LIMIT", "30/hour")),
        sign_cnie_rate_limit=_rate("CIVIC_SIGN_CNIE_RATE_LIMIT", env_vars.get("CIVIC_SIGN_CNIE_RATE_LIMIT", "30/hour")),
        verify_mail_rate_limit=_rate("CIVIC_VERIFY_MAIL_RATE_LIMIT",
                                     env_vars.get("CIVIC_VERIFY_MAIL_RATE_LIMIT", "3/hour")),
        verify_code_rate_limit=_rate("CIVIC_VERIFY_CODE_RATE_LIMIT",
                                     env_vars.get("CIVIC_VERIFY_CODE_RATE_LIMIT", "10/hour")),
        smtp_url=env_vars.get("CIVIC_SMTP_URL", "").strip(),
        mail_from=env_vars.get("CIVIC_MAIL_FROM", Settings.mail_from).strip(),
        base_url=env_vars.get("CIVIC_BASE_URL", Settings.base_url).strip().rstrip("/"),
        trusted_proxies=_addresses("CIVIC_TRUSTED_PROXIES", env_vars.get("CIVIC_TRUSTED_PROXIES", "")),
        upload_dir=env_vars.get("CIVIC_UPLOAD_DIR", Settings.upload_dir).strip(),
        max_upload_bytes=_int(
            "CIVIC_MAX_UPLOAD_BYTES", env_vars.get("CIVIC_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)), 1024,
            100 * 1024 * 1024,
        ),
        report_hide_threshold=_int(
            "CIVIC_REPORT_HIDE_THRESHOLD", env_vars.get("CIVIC_REPORT_HIDE_THRESHOLD", "3"), 1, 100
        ),
    )
