"""Pure rules: thresholds, CNIE normalisation, tokens, encryption, settings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civic.errors import ConfigError
from civic.exports.service import csv_line, neutralise
from civic.petitions.rules import rule_set, threshold_for_population
from civic.security import Keys, check_csrf_token, make_csrf_token, normalise_cnie
from civic.settings import PetitionRules, load_settings

RULES = PetitionRules()


@pytest.mark.parametrize(("population", "expected"), [
    (0, 300), (999_999, 300), (1_000_000, 400), (2_525_801, 400), (3_000_000, 400), (3_000_001, 500),
    (7_000_000, 500),
])
def test_threshold_brackets(population: int, expected: int) -> None:
    assert threshold_for_population(population, RULES) == expected


def test_beni_mellal_khenifra_needs_400_and_20_per_province() -> None:
    rs = rule_set(2_525_801, RULES)
    assert (rs.threshold, rs.province_minimum, rs.require_electoral_registration) == (400, 20, True)
    assert rule_set(900_000, RULES).province_minimum == 15


@pytest.mark.parametrize(("raw", "expected"), [
    ("I123456", "I123456"), ("ia12345", "IA12345"), (" ab 123 456 ", "AB123456"), ("z1", "Z1"),
    ("ABC1", None), ("A1234567", None), ("123456", None), ("AB", None), ("", None), ("AB-1234", None),
    ("Ⅰ123", None), ("А123", None),  # Roman numeral and Cyrillic look-alikes are not Latin letters
])
def test_normalise_cnie(raw: str, expected: str | None) -> None:
    assert normalise_cnie(raw) == expected


@given(st.from_regex(r"[A-Za-z]{1,2}[0-9]{1,6}", fullmatch=True), st.integers(0, 3))
def test_normalised_cnie_ignores_case_and_spaces(cnie: str, spaces: int) -> None:
    spaced = (" " * spaces).join(cnie)
    assert normalise_cnie(spaced) == normalise_cnie(cnie.swapcase()) == cnie.upper()


def test_cnie_encryption_and_hmac() -> None:
    keys, other = Keys("k" * 40), Keys("o" * 40)
    token = keys.encrypt_cnie("AB123456")
    assert keys.decrypt_cnie(token) == "AB123456" and b"AB123456" not in token
    assert keys.cnie_hmac("AB123456") == keys.cnie_hmac("AB123456") != other.cnie_hmac("AB123456")


def test_csrf_token_is_bound_to_the_session_seed() -> None:
    keys = Keys("k" * 40)
    token = make_csrf_token(keys, "seed-1")
    assert check_csrf_token(keys, "seed-1", token)
    assert not check_csrf_token(keys, "seed-2", token)
    assert not check_csrf_token(keys, "seed-1", None)
    assert not check_csrf_token(Keys("o" * 40), "seed-1", token)


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert neutralise(cell).startswith("'")
    assert csv_line(["ok", cell]).split(",", 1)[1].lstrip('"').startswith("'")


def test_settings_defaults_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = load_settings({"CIVIC_SECRET_KEY_FILE": str(tmp_path / "key")})
    assert (s.database_url, s.region, s.env) == ("sqlite+aiosqlite:///civic.db", "05", "development")
    assert len(s.secret_key) >= 32 and (tmp_path / "key").read_text().strip() == s.secret_key
    assert load_settings({"CIVIC_SECRET_KEY_FILE": str(tmp_path / "key")}).secret_key == s.secret_key
    bad = [
        ({"CIVIC_ENV": "production"}, "CIVIC_SECRET_KEY is required"),
        ({"CIVIC_ENV": "prod"}, "CIVIC_ENV must be one of"),
        ({"CIVIC_DATABASE_URL": "mysql://x"}, "CIVIC_DATABASE_URL must start with"),
        ({"CIVIC_REGION": "5"}, "CIVIC_REGION must be a two-digit"),
        ({"CIVIC_REGION": "13"}, "CIVIC_REGION must be a two-digit"),
        ({"CIVIC_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"CIVIC_REQUIRE_ELECTORAL_REGISTRATION": "maybe"}, "must be on or off"),
        ({"CIVIC_COLLECTION_DAYS": "0"}, "at least 1"),
        ({"CIVIC_PROVINCE_SHARE_PERCENT": "150"}, "from 0 to 100"),
        ({"CIVIC_LOGIN_RATE_LIMIT": "lots"}, "must look like 10/5minutes"),
        ({"CIVIC_TRUSTED_PROXIES": "10.0.0.1,proxy"}, "comma-separated list of IP addresses"),
    ]
    for env, message in bad:
        env = {"CIVIC_SECRET_KEY_FILE": str(tmp_path / "key"), **env}
        with pytest.raises(ConfigError, match=message) as exc:
            load_settings(env)
        assert "\n" not in str(exc.value)
