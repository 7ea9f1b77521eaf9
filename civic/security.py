"""Passwords, tokens, CSRF and CNIE protection.

- Passwords: argon2id (argon2-cffi defaults). Never on the signing path (design.md, hot paths).
- Tokens: itsdangerous ``URLSafeTimedSerializer``, one salt per purpose (design.md, Tokens).
- CNIE: Fernet (``cryptography``) for encryption at rest and HMAC-SHA256 for deduplication, both keyed
  from the secret key through HKDF with distinct ``info`` labels (shared/domain.md §3).
- Rate limits: ``civic.ratelimits.RateLimiter`` (fixed windows counted in the database, issue #8 item 4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeTimedSerializer

_hasher = PasswordHasher()
def _full_width_to_latin(text: str) -> str:
    """Full-width ASCII forms (U+FF01–U+FF5E) as ASCII; other look-alikes (Roman numerals, Cyrillic) stay, and
    are refused by the format check."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text)


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
CNIE_PATTERN = re.compile(r"[A-Z]{1,2}[0-9]{1,6}")
CSRF_MAX_AGE_SECONDS = 12 * 3600


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (about 50–160 ms: never call it on a hot path)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False on mismatch or a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend the time of a password check, so an unknown email takes as long as a wrong password."""
    verify_password(_DUMMY_HASH, "not the password")


_DUMMY_HASH = _hasher.hash("civic-dummy-password")


def normalise_cnie(raw: str) -> str | None:
    """Normalise a CNIE number: drop all white space, upper-case, then check the format.

    Full-width Latin letters and digits (Ａ–Ｚ, ０–９) and Arabic-Indic digits (٠–٩, ۰–۹) are read as their Latin forms,
    as people type them on Arabic keyboards (issue #8 review).
    Format: 1–2 Latin letters then 1–6 digits, e.g. ``I123456`` or ``IA12345`` (shared/domain.md §2);
    province prefixes are not enforced. Returns None when the format is wrong.
    """
    value = re.sub(r"\s+", "", _full_width_to_latin(raw or "").translate(_DIGITS)).upper()
    return value if CNIE_PATTERN.fullmatch(value) else None


def _derive(secret_key: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"civic", info=label).derive(secret_key.encode())


@dataclass(frozen=True)
class Keys:
    """Keys derived from the secret key: one per purpose, so one leak does not open the others."""

    secret_key: str

    def serializer(self, salt: str) -> URLSafeTimedSerializer:
        """A token serializer for one purpose (``csrf``, ``email-verify``, ``password-reset``)."""
        return URLSafeTimedSerializer(self.secret_key, salt=salt)

    @cached_property
    def _fernet(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(_derive(self.secret_key, b"cnie-encryption")))

    def _hmac_key(self, label: str) -> bytes:
        cache: dict[str, bytes] = self.__dict__.setdefault("_hmac_keys", {})
        if label not in cache:
            cache[label] = _derive(self.secret_key, b"hmac:" + label.encode())
        return cache[label]

    def keyed_hash(self, label: str, value: str) -> str:
        """Hex HMAC-SHA256 of ``value`` under a key derived for ``label``: lets us match values we must not store.

        Derived keys are computed once per Keys object (HKDF is not free on the signing path)."""
        return hmac.new(self._hmac_key(label), value.encode(), hashlib.sha256).hexdigest()

    def cnie_hmac(self, normalised_cnie: str) -> str:
        """Hex HMAC-SHA256 of a normalised CNIE, for the per-petition unique index (domain.md §3)."""
        return self.keyed_hash("cnie", normalised_cnie)

    def encrypt_cnie(self, normalised_cnie: str) -> bytes:
        """Fernet token of the CNIE (AES-128-CBC with HMAC-SHA256), stored at rest."""
        return self._fernet.encrypt(normalised_cnie.encode())

    def decrypt_cnie(self, token: bytes) -> str:
        """The CNIE back from its Fernet token; raises cryptography's InvalidToken when the key is wrong."""
        return self._fernet.decrypt(token).decode()


def new_nonce() -> str:
    """32 random bytes, URL-safe: session nonces and CSRF seeds."""
    return secrets.token_urlsafe(32)


def make_csrf_token(keys: Keys, seed: str) -> str:
    """The CSRF token for a session's seed, signed with the ``csrf`` salt."""
    return keys.serializer("csrf").dumps(seed)


def check_csrf_token(keys: Keys, seed: str | None, token: str | None) -> bool:
    """True when ``token`` was made for ``seed`` within CSRF_MAX_AGE_SECONDS."""
    if not seed or not token:
        return False
    try:
        value = keys.serializer("csrf").loads(token, max_age=CSRF_MAX_AGE_SECONDS)
    except BadSignature:
        return False
    return isinstance(value, str) and hmac.compare_digest(value, seed)
