"""Redis sliding-window rate limiter (atomic Lua script on Redis server time)."""

from __future__ import annotations

import uuid

import redis
import structlog

log = structlog.get_logger("tilde.ratelimit")

# KEYS[1] = key; ARGV = window seconds, limit, unique member, record (1) or only look (0).
# Returns 0 or seconds to wait.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if ARGV[4] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  end
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local wait = math.ceil(tonumber(oldest[2]) + window - now)
if wait < 1 then wait = 1 end
return wait
"""


class RedisRateLimiter:
    """Limits shared by all processes; if Redis is unreachable the limit fails open (logged)."""

    def __init__(self, url: str, *, prefix: str = "tilde:rl:") -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self._script = self.client.register_script(_SCRIPT)

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int:
        return self._run(key, limit, window_seconds, record=True)

    def peek(self, key: str, *, limit: int, window_seconds: int) -> int:
        return self._run(key, limit, window_seconds, record=False)

    def _run(self, key: str, limit: int, window_seconds: int, *, record: bool) -> int:
        args: list[int | str] = [window_seconds, limit, uuid.uuid4().hex, "1" if record else "0"]
        try:
            return int(self._script(keys=[self.prefix + key], args=args))
        except redis.RedisError:
            log.error("rate_limiter_unavailable", key_kind=key.split(":", 1)[0])
            return 0

    def reset(self, key: str) -> None:
        try:
            self.client.delete(self.prefix + key)
        except redis.RedisError:
            log.error("rate_limiter_unavailable")

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
