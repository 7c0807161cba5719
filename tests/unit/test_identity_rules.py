"""Pure identity rules: usernames, emails, passwords, API key tokens, password strength."""

from __future__ import annotations

import secrets
from uuid import UUID, uuid4

import pytest

from domain.identity.api_key import (
    PREFIXES,
    ApiKey,
    ParsedToken,
    format_token,
    hash_secret,
    parse_token,
)
from domain.identity.rules import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    RESERVED_USERNAMES,
    check_password,
    clean_text,
    looks_like_email,
    normalize_email,
    normalize_username,
)
from domain.identity.strength import MIN_SCORE, password_strength
from domain.shared.errors import Invalid
from domain.shared.values import Actor

# -- usernames -----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["ab", "alice", "a-b_c", "0day", "x" * 39, "user123"])
def test_valid_usernames_are_accepted_unchanged(username: str) -> None:
    assert normalize_username(username) == username


@pytest.mark.parametrize(
    "username",
    [
        "",
        "a",
        "x" * 40,
        "Alice",
        "-alice",
        "_alice",
        "al ice",
        "al.ice",
        "alice!",
        "élise",
        None,
        7,
    ],
)
def test_invalid_usernames_are_refused(username: object) -> None:
    with pytest.raises(Invalid):
        normalize_username(username)


@pytest.mark.parametrize("username", sorted(RESERVED_USERNAMES))
def test_reserved_usernames_are_refused(username: str) -> None:
    with pytest.raises(Invalid, match="reserved"):
        normalize_username(username)


# -- emails --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM ", "alice@example.com"),
        ("a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
        ("x@a-b.io", "x@a-b.io"),
    ],
)
def test_emails_are_trimmed_and_lowercased(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@example.com",
        "a@b@example.com",
        "spaces in@example.com",
        "alice@localhost",
        "alice@-example.com",
        "alice@example-.com",
        "alice@.example.com",
        "alice@example..com",
        "a" * 65 + "@example.com",
        "alice@" + "d" * 250 + ".com",
        "al\x00ice@example.com",
        None,
        42,
    ],
)
def test_invalid_emails_are_refused(email: object) -> None:
    with pytest.raises(Invalid):
        normalize_email(email)


def test_logins_with_an_at_sign_are_emails() -> None:
    assert looks_like_email("alice@example.com")
    assert not looks_like_email("alice")


# -- passwords and display text ------------------------------------------------------------


def test_passwords_must_respect_the_length_bounds() -> None:
    assert check_password("x" * PASSWORD_MIN) == "x" * PASSWORD_MIN
    assert check_password("y" * PASSWORD_MAX) == "y" * PASSWORD_MAX
    for bad in ("", "x" * (PASSWORD_MIN - 1), "z" * (PASSWORD_MAX + 1), None, 12345678):
        with pytest.raises(Invalid):
            check_password(bad)


def test_passwords_are_not_trimmed_or_altered() -> None:
    assert check_password("  spaced out  ") == "  spaced out  "


def test_display_text_is_trimmed_and_free_of_control_characters() -> None:
    assert clean_text("  Alice  ", "full_name", required=True) == "Alice"
    assert clean_text(None, "company", required=False) == ""
    assert clean_text("line one\nline two", "bio", required=False, multiline=True) == (
        "line one\nline two"
    )
    with pytest.raises(Invalid):
        clean_text("   ", "full_name", required=True)
    with pytest.raises(Invalid):
        clean_text("bell\x07", "full_name", required=True)
    with pytest.raises(Invalid):
        clean_text("two\nlines", "full_name", required=True)
    with pytest.raises(Invalid):
        clean_text("x" * 201, "full_name", required=True)
    with pytest.raises(Invalid):
        clean_text(3, "full_name", required=True)


# -- API key tokens ------------------------------------------------------------------------


def test_a_formatted_token_parses_back_to_its_parts() -> None:
    key_id = uuid4()
    secret = secrets.token_urlsafe(32)
    for prefix in PREFIXES.values():
        token = format_token(prefix, key_id, secret)
        assert token == f"{prefix}-{key_id.hex}_{secret}"
        assert parse_token(token) == ParsedToken(prefix, key_id, secret)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tuk-",
        "xyz-" + "0" * 32 + "_" + "s" * 43,  # unknown prefix
        "tuk-" + "0" * 31 + "_" + "s" * 43,  # short id
        "tuk-" + "G" * 32 + "_" + "s" * 43,  # id not hex
        "tuk-" + "0" * 32 + "_" + "s" * 19,  # secret too short
        "tuk-" + "0" * 32 + "_" + "s" * 129,  # secret too long
        "tuk-" + "0" * 32 + "_" + "s" * 42 + "!",  # secret outside the url-safe alphabet
        "tuk-" + "0" * 32 + "-" + "s" * 43,  # wrong separator
        " tuk-" + "0" * 32 + "_" + "s" * 43,
    ],
)
def test_malformed_tokens_do_not_parse(token: str) -> None:
    assert parse_token(token) is None


def issue(owner_type: str = "user") -> tuple[ApiKey, str]:
    return ApiKey.issue(
        key_id=uuid4(),
        owner_type=owner_type,
        owner_id="owner",
        organization_id="",
        name="ci",
        description="",
        secret=secrets.token_urlsafe(32),
        actor=Actor("user", "owner"),
    )


def test_an_issued_key_stores_only_a_hash_and_a_hint() -> None:
    key, token = issue()
    parsed = parse_token(token)
    assert parsed is not None and parsed.key_id == key.id and parsed.prefix == "tuk"
    assert key.secret_hash == hash_secret(parsed.secret) and parsed.secret not in key.secret_hash
    assert key.token_hint == token[-4:]
    assert token not in str(key.to_dict()) and parsed.secret not in str(vars(key))


def test_a_key_matches_only_its_own_token() -> None:
    key, token = issue()
    parsed = parse_token(token)
    assert parsed is not None and key.matches(parsed)
    last = "B" if parsed.secret.endswith("A") else "A"
    assert not key.matches(ParsedToken(parsed.prefix, parsed.key_id, parsed.secret[:-1] + last))
    # The same secret presented with another kind's prefix is refused.
    assert not key.matches(ParsedToken("tak", parsed.key_id, parsed.secret))
    _, other_token = issue()
    other_parsed = parse_token(other_token)
    assert other_parsed is not None and not key.matches(other_parsed)


@pytest.mark.parametrize(("owner_type", "prefix"), sorted(PREFIXES.items()))
def test_each_owner_type_has_its_own_prefix(owner_type: str, prefix: str) -> None:
    key, token = issue(owner_type)
    assert token.startswith(prefix + "-")
    parsed = parse_token(token)
    assert parsed is not None and key.matches(parsed)


def test_unknown_owner_types_cannot_have_keys() -> None:
    with pytest.raises(Invalid):
        issue("robot")


def test_key_ids_in_tokens_are_uuids() -> None:
    parsed = parse_token("trk-" + "ab" * 16 + "_" + "s" * 43)
    assert parsed is not None and parsed.key_id == UUID(hex="ab" * 16)


# -- password strength ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["password", "Password1!", "qwerty123", "letmein", "aaaaaaaaaaaa", "0123456789"]
)
def test_common_and_repetitive_passwords_score_zero(password: str) -> None:
    score, warning, suggestions = password_strength(password)
    assert score == 0 and warning and suggestions


def test_passwords_built_from_the_users_own_details_are_weak() -> None:
    score, warning, _ = password_strength("alice-1987-xyz", ["Alice", "alice@example.com"])
    assert score < MIN_SCORE and "name" in warning
    # Short inputs (under three characters) are ignored.
    assert password_strength("ab-wonderful-77", ["ab"])[0] >= MIN_SCORE


@pytest.mark.parametrize(
    "password", ["correct-horse-battery", "Tr0ub4dor&3xyzQ", "x7#Kp2!vLq9@Zm4$"]
)
def test_long_varied_passwords_score_high_without_a_warning(password: str) -> None:
    score, warning, _ = password_strength(password)
    assert score >= 3 and warning == ""


def test_strength_grows_with_length_and_variety() -> None:
    scores = [password_strength(p)[0] for p in ("kq7", "kq7zmw", "kq7zmwT2", "kq7zmwT2#rvp9Lx")]
    assert scores == sorted(scores) and scores[0] < MIN_SCORE <= scores[-1]
    assert all(0 <= s <= 4 for s in scores)


def test_short_or_single_class_passwords_get_suggestions() -> None:
    _, _, suggestions = password_strength("kqzmwtrvpl")
    assert any("12 or more" in s for s in suggestions)
    assert any("digits or symbols" in s for s in suggestions)
    assert password_strength("kq7zmwT2#rvp9Lx")[2] == []
