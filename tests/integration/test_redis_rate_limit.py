"""The Redis sliding-window limiter against a real Redis, and the login IP limit through it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from domain.identity.errors import AccountLocked, InvalidCredentials
from infra.bootstrap import Container, bootstrap
from infra.redis.rate_limiter import RedisRateLimiter
from interfaces.http.app import create_app
from tests import services
from tests.builders import name
from tests.conftest import FAST_HASHER, make_settings


@pytest.fixture
def redis_url() -> str:
    return services.redis_url()


@pytest.fixture
def key() -> str:
    return name("test-key-")


def test_hits_up_to_the_limit_are_allowed_then_refused(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url)
    assert [limiter.hit(key, limit=3, window_seconds=60) for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit(key, limit=3, window_seconds=60)
    assert 59 <= wait <= 60
    assert limiter.ping() is True


def test_refused_hits_are_not_counted_and_the_window_slides(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url)
    assert limiter.hit(key, limit=2, window_seconds=1) == 0
    assert limiter.hit(key, limit=2, window_seconds=1) == 0
    for _ in range(20):  # refused attempts while limited must not push the window out
        assert limiter.hit(key, limit=2, window_seconds=1) == 1
    time.sleep(1.05)
    assert limiter.hit(key, limit=2, window_seconds=1) == 0
    assert limiter.hit(key, limit=2, window_seconds=1) == 0
    assert limiter.hit(key, limit=2, window_seconds=1) == 1


def test_retry_after_reflects_the_oldest_hit(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url)
    limiter.hit(key, limit=1, window_seconds=30)
    time.sleep(1.1)
    assert 28 <= limiter.hit(key, limit=1, window_seconds=30) <= 29


def test_two_limiter_instances_share_counts(redis_url: str, key: str) -> None:
    first, second = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    assert first.hit(key, limit=4, window_seconds=60) == 0
    assert second.hit(key, limit=4, window_seconds=60) == 0
    assert first.hit(key, limit=4, window_seconds=60) == 0
    assert second.hit(key, limit=4, window_seconds=60) == 0
    assert first.hit(key, limit=4, window_seconds=60) > 0
    assert second.hit(key, limit=4, window_seconds=60) > 0


def test_reset_clears_the_key_for_every_instance(redis_url: str, key: str) -> None:
    first, second = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    first.hit(key, limit=1, window_seconds=60)
    assert second.hit(key, limit=1, window_seconds=60) > 0
    first.reset(key)
    assert second.hit(key, limit=1, window_seconds=60) == 0
    assert first.hit(key, limit=1, window_seconds=60) > 0


def test_keys_are_prefixed_and_expire_with_their_window(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url, prefix="tilde-test:")
    limiter.hit(key, limit=5, window_seconds=60)
    client = redis.Redis.from_url(redis_url)
    assert client.zcard("tilde-test:" + key) == 1
    assert 0 < client.pttl("tilde-test:" + key) <= 60_000
    assert client.exists("tilde:rl:" + key) == 0


def test_an_unreachable_redis_fails_open() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{services.free_port()}/0")
    assert limiter.hit("k", limit=1, window_seconds=60) == 0
    assert limiter.hit("k", limit=1, window_seconds=60) == 0
    assert limiter.ping() is False


@pytest.fixture
def redis_container(tmp_path: Path, redis_url: str) -> Iterator[Container]:
    container = bootstrap(
        make_settings(tmp_path, "sqlite"), hasher=FAST_HASHER, limiter=RedisRateLimiter(redis_url)
    )
    yield container
    container.close()


def test_the_login_ip_limit_is_kept_in_redis(redis_container: Container, redis_url: str) -> None:
    ip = "203.0.113.77"
    # The TestClient's address is fixed: start from a clean slate for it.
    RedisRateLimiter(redis_url).reset("login:ip:testclient")
    app = create_app(redis_container, run_background=True)
    with TestClient(app, base_url="http://testserver.local") as client:

        def attempt() -> Any:
            return client.post(
                "/api/v1/auth/login", json={"login": name(), "password": "whatever-pass"}
            )

        for _ in range(10):
            assert attempt().status_code == 401
        limited = attempt()
        assert limited.status_code == 429, limited.text
        assert limited.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
    # The count lives in Redis, where every API process sees it.
    assert redis.Redis.from_url(redis_url).zcard("tilde:rl:login:ip:testclient") == 10
    # Another process (a second limiter) sees the same limit for that address only.
    other = RedisRateLimiter(redis_url)
    assert other.hit("login:ip:testclient", limit=10, window_seconds=60) > 0
    assert other.hit(f"login:ip:{ip}", limit=10, window_seconds=60) == 0


def test_peek_answers_like_hit_without_counting(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url)
    assert [limiter.peek(key, limit=2, window_seconds=60) for _ in range(5)] == [0] * 5
    assert [limiter.hit(key, limit=2, window_seconds=60) for _ in range(2)] == [0, 0]
    assert 59 <= limiter.peek(key, limit=2, window_seconds=60) <= 60
    assert redis.Redis.from_url(redis_url).zcard(f"tilde:rl:{key}") == 2


def test_a_locked_login_name_is_locked_for_every_process(tmp_path: Path, redis_url: str) -> None:
    """Lockouts live in Redis: a name locked through one API process is locked in all, and
    an unknown name locks like a known one."""
    ghost, ip = name("ghost"), f"203.0.113.{time.monotonic_ns() % 200 + 1}"
    processes = [
        bootstrap(
            make_settings(tmp_path / str(i), "sqlite"),
            hasher=FAST_HASHER,
            limiter=RedisRateLimiter(redis_url),
        )
        for i in range(2)
    ]
    try:
        for _ in range(10):
            with pytest.raises(InvalidCredentials):
                processes[0].identity.login(ghost, "wrong-password", ip=ip)
        with pytest.raises(AccountLocked) as locked:
            processes[1].identity.login(ghost, "wrong-password", ip=ip)
        assert 14 * 60 < locked.value.retry_after <= 15 * 60
    finally:
        for container in processes:
            container.close()
