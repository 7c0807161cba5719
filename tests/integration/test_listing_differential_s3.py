"""The catalog's listings against an S3 server (moto) holding the same keys.

Seeded random key sets — unicode (including code points whose UTF-16 order differs from
their byte order), `-` and `/` and multi-character separators, shared prefixes, deep
nesting and a 1,200-key folder — are committed twice and staged once in a session; each
of those three trees is also put into its own S3 bucket. Listings over random prefixes,
delimiters (`/`, `-`, multi-character, non-ASCII) and page sizes 1…1,000, paged with the
catalog's `after`/`amount`, must give S3's sequence of keys and common prefixes, at the
head, at the older commit (`ref=`) and in the session (`session_id=`); on both backends.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from infra.bootstrap import Container
from tests import services
from tests.catalog_helpers import Repo
from tests.catalog_listing import Entry, Seeder, page, pages

SEED = 20261204
PIECES = ["a", "b", "ab", "foo", "foo-", "x", "xa", "z9", "é", "日本", "Ω", "ﬁ", "😀", "~", "_"]
DELIMITERS = ["/", "/", "-", "-", "ab", "/é", "é", "😀", "--", "a/"]
PAGE_SIZES = [1, 1, 2, 3, 5, 10, 37, 100, 999, 1000]
MAX_PAGES = 10  # per listing; longer ones also start at random entries further on
LISTINGS = 40  # per tree and backend
FIXED = ["foo-", "foo-bar", "foo-bar-qux", "foo-baz", "xab", "xabab", "xay", "a/b-c/d"]


@dataclass
class Trees:
    """Three trees of keys, each also in its own S3 bucket."""

    older: list[str]
    head: list[str]
    session: list[str]
    buckets: dict[str, str] = field(default_factory=dict)
    truths: dict[tuple[str, str, str], list[Entry]] = field(default_factory=dict)
    s3: Any = None

    def truth(self, tree: str, prefix: str, delimiter: str) -> list[Entry]:
        """Every entry S3 lists for (prefix, delimiter), paged with continuation tokens."""
        key = (tree, prefix, delimiter)
        if key not in self.truths:
            out: list[Entry] = []
            args: dict[str, Any] = {"Bucket": self.buckets[tree], "Prefix": prefix}
            if delimiter:
                args["Delimiter"] = delimiter
            while True:
                body = self.s3.list_objects_v2(**args)
                out += _entries(body)
                if not body["IsTruncated"]:
                    break
                args["ContinuationToken"] = body["NextContinuationToken"]
            self.truths[key] = sorted(out)
        return self.truths[key]


def _entries(body: dict[str, Any]) -> list[Entry]:
    found = [(o["Key"], "object") for o in body.get("Contents", [])]
    return sorted(found + [(p["Prefix"], "prefix") for p in body.get("CommonPrefixes", [])])


def _random_key(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6])):
        segment = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
        segments.append(segment + rng.choice(["", "", "-", "-x", "ab"]))
    return "/".join(segments)


def _key_sets() -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """The older commit's keys, the head's, and the session's puts and deletes."""
    rng = random.Random(SEED)
    older = sorted({_random_key(rng) for _ in range(400)} | set(FIXED))
    big = [f"big/{i:04d}" for i in range(1200)]
    removed = set(rng.sample(older, 80))
    head = sorted((set(older) - removed) | {_random_key(rng) for _ in range(80)} | set(big))
    # The session hides most of the big folder behind a run of deletes, and more.
    deletes = sorted(set(big[100:1150]) | set(rng.sample(head, 60)))
    puts = sorted({_random_key(rng) for _ in range(60)} | set(rng.sample(head, 20)))
    return older, head, puts, deletes, big


@pytest.fixture(scope="module")
def trees() -> Iterator[Trees]:
    older, head, puts, deletes, _ = _key_sets()
    session = sorted((set(head) | set(puts)) - set(deletes))  # a staged delete comes last
    found = Trees(older, head, session)
    found.s3 = boto3.client(
        "s3",
        endpoint_url=services.s3_endpoint(),
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    for tree, keys in (("older", older), ("head", head), ("session", session)):
        bucket = f"listing-{tree}-{uuid.uuid4().hex[:10]}"
        found.s3.create_bucket(Bucket=bucket)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k, b=bucket: found.s3.put_object(Bucket=b, Key=k, Body=b""), keys))
        found.buckets[tree] = bucket
    yield found
    for bucket in found.buckets.values():
        while listed := found.s3.list_objects_v2(Bucket=bucket).get("Contents"):
            objects = [{"Key": o["Key"]} for o in listed]
            found.s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        found.s3.delete_bucket(Bucket=bucket)


def _prefixes(rng: random.Random, keys: list[str]) -> Iterator[str]:
    yield from ("", "big/", "foo-", "xa", "a/")
    while True:
        key = rng.choice(keys)
        yield key[: rng.randint(0, len(key))]


def _check(repo: Repo, trees: Trees, tree: str, where: dict[str, str], rng: random.Random) -> int:
    """Random listings of one tree against S3; how many were compared."""
    keys = getattr(trees, tree)
    compared = 0
    prefixes = _prefixes(rng, keys)
    for _ in range(LISTINGS):
        prefix, delimiter = next(prefixes), rng.choice(["", *DELIMITERS])
        amount = rng.choice(PAGE_SIZES)
        truth = trees.truth(tree, prefix, delimiter)
        params = {"prefix": prefix, "delimiter": delimiter, **where}
        listed = pages(repo, amount=amount, max_pages=MAX_PAGES, **params)
        assert listed == truth[: len(listed)], (tree, params, amount)
        assert len(listed) == min(len(truth), amount * MAX_PAGES), (tree, params, amount)
        # Resume at a random entry (a key, or a common prefix whose keys are skipped), as a
        # client holding that entry's `next_offset` does; S3's StartAfter answers the same.
        if truth:
            start = rng.randrange(len(truth))
            resumed = pages(
                repo, amount=amount, max_pages=MAX_PAGES, after=truth[start][0], **params
            )
            assert resumed == truth[start + 1 :][: len(resumed)], (tree, params, truth[start])
            assert len(resumed) == min(len(truth) - start - 1, amount * MAX_PAGES)
        # `after` at the prefix itself, as StartAfter: every entry greater than it.
        if prefix:
            after_prefix, _ = page(repo, amount=1000, after=prefix, **params)
            assert after_prefix == [e for e in truth if e[0] > prefix][:1000], (tree, params)
        compared += 1
    return compared


def test_listings_match_s3_at_the_head_an_older_commit_and_in_a_session(
    container: Container, repo: Repo, trees: Trees
) -> None:
    older, head, puts, deletes, _ = _key_sets()
    seeder = Seeder.of(container, repo)
    first = seeder.write(older)
    seeder.write(sorted(set(head) - set(older)), deletes=sorted(set(older) - set(head)))
    sid = seeder.session()
    seeder.stage(sid, puts, deletes)
    rng = random.Random(SEED + 1)
    compared = _check(repo, trees, "head", {}, rng)
    compared += _check(repo, trees, "older", {"ref": first}, rng)
    compared += _check(repo, trees, "session", {"session_id": sid}, rng)
    assert compared == 3 * LISTINGS
