"""The token credential's parts: file source, caching source (last good, generations), the 401 rule, and the
mount-owned file watch. Cases marked "client-go" are ported from transport/token_source_test.go."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import incluster_sdk
from incluster_sdk import filewatch
from incluster_sdk._secret import Secret
from incluster_sdk.credentials import (
    CachingTokenSource,
    FileTokenSource,
    RequestCredential,
    TokenFile,
)
from incluster_sdk.errors import ConfigError, InClusterConfigError
from incluster_sdk.testing import FakeServiceAccountMount

SECRET = "tok-" + "s" * 40


class FakeSource:
    """A token source that counts reads, can fail, and can block (to make concurrent callers meet)."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.reads = 0
        self.fail = False
        self.gate: threading.Event | None = None

    def read(self) -> Secret:
        self.reads += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise ConfigError("fake source: cannot read")
        token = self.tokens[0] if len(self.tokens) == 1 else self.tokens.pop(0)
        return Secret(token)

    def describe(self) -> str:
        return "fake source"

    def race(self, callers: int, call: Callable[[], object]) -> None:
        """``call`` from ``callers`` threads at once: reads block until all have started, then all finish."""
        self.gate = threading.Event()
        threads = [threading.Thread(target=call) for _ in range(callers)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        self.gate.set()
        for t in threads:
            t.join()


# -- FileTokenSource ---------------------------------------------------------------------------------------
def test_file_source_reads_trimmed_and_never_caches(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  first\n")
    source = FileTokenSource(path)
    assert source.read().reveal() == "first"  # client-go trims the file's whitespace
    path.write_text("second")
    assert source.read().reveal() == "second"  # read again: no caching here


def test_file_source_errors_name_the_file_never_the_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    source = FileTokenSource(path, what="service-account token file", error=InClusterConfigError)
    with pytest.raises(InClusterConfigError, match="does not exist"):
        source.read()
    path.write_text("")
    with pytest.raises(InClusterConfigError, match="is empty"):
        source.read()
    path.write_text(f"{SECRET}\nsecond-line-{SECRET}")
    with pytest.raises(InClusterConfigError) as info:
        source.read()
    assert SECRET not in str(info.value) and str(path) in str(info.value)
    path.write_text(SECRET)
    assert SECRET not in repr(source) and SECRET not in repr(source.read())


# -- CachingTokenSource ------------------------------------------------------------------------------------
def test_valid_token_is_served_from_the_cache() -> None:
    """client-go TestCachingTokenSource "valid token returned from cache"."""
    source = FakeSource("a")
    cache = CachingTokenSource(source, refresh_interval=60)
    for _ in range(5):
        assert cache.current.header.reveal() == "Bearer a"
    assert source.reads == 1


def test_stale_token_is_refreshed_on_the_next_use() -> None:
    """client-go TestCachingTokenSource "expired token refreshed" (the file source's one-minute expiry)."""
    source = FakeSource("a", "b")
    cache = CachingTokenSource(source, refresh_interval=0.0)
    assert cache.current.header.reveal() == "Bearer b"
    assert cache.peek.generation == 2 and cache.peek.since == 2


def test_first_read_failure_is_an_error() -> None:
    """client-go TestCachingTokenSource "error without a cached token"."""
    source = FakeSource("a")
    source.fail = True
    with pytest.raises(ConfigError):
        CachingTokenSource(source)


def test_failed_refresh_keeps_the_last_good_token(caplog: pytest.LogCaptureFixture) -> None:
    """client-go TestCachingTokenSource "return cached token on error" (klog "Unable to rotate token")."""
    source = FakeSource(SECRET)
    cache = CachingTokenSource(source, refresh_interval=0.0)
    source.fail = True
    with caplog.at_level(logging.WARNING, logger="incluster_sdk"):
        assert cache.current.header.reveal() == f"Bearer {SECRET}"
        assert not cache.refresh("test")
    assert cache.peek.generation == 1  # a failed read is no read: a 401 may still reset
    assert "keeping the last good token" in caplog.text and SECRET not in caplog.text
    assert SECRET not in repr(cache) and SECRET not in repr(cache.peek)


def test_failed_pull_waits_for_the_interval_before_trying_again() -> None:
    """The hot path does not hammer a missing file: a failed pull counts as the pull."""
    source = FakeSource("a")
    cache = CachingTokenSource(source, refresh_interval=60)
    cache._read_mono -= 61
    source.fail = True
    for _ in range(10):
        _ = cache.current
    assert source.reads == 2


def test_unchanged_reread_bumps_the_generation_not_the_token() -> None:
    source = FakeSource("a")
    cache = CachingTokenSource(source)
    first = cache.peek
    assert not cache.refresh("test")
    assert cache.peek.generation == first.generation + 1
    assert cache.peek.since == first.since and cache.peek.first_seen == first.first_seen


def test_concurrent_pulls_read_once() -> None:
    """client-go TestCachingTokenSourceRace: many callers of a stale cache, one read of the source."""
    source = FakeSource("a", "b")
    cache = CachingTokenSource(source, refresh_interval=60)
    cache._read_mono -= 61
    results: list[str] = []
    source.race(20, lambda: results.append(cache.current.header.reveal()))
    assert source.reads == 2 and len(results) == 20


# -- the 401 rule ------------------------------------------------------------------------------------------
def test_401_for_the_current_generation_resets_and_retries_if_rotated() -> None:
    """client-go TestTokenSourceTransportRoundTrip "refresh on 401"."""
    source = FakeSource("a", "b")
    cache = CachingTokenSource(source)
    sent = cache.current.generation
    assert cache.reset_older_than(sent)
    assert cache.current.header.reveal() == "Bearer b" and source.reads == 2


def test_401_with_an_unchanged_file_does_not_retry() -> None:
    source = FakeSource("a")
    cache = CachingTokenSource(source)
    assert not cache.reset_older_than(cache.current.generation)
    assert source.reads == 2


def test_late_401_for_an_old_generation_keeps_the_newer_token() -> None:
    """client-go ResetTokenOlderThan: a token fetched after the request started is not reset."""
    source = FakeSource("old", "new", "newer")
    cache = CachingTokenSource(source)
    sent_old = cache.current.generation
    assert cache.refresh("file event")  # rotated while that request was in flight
    assert cache.reset_older_than(sent_old)  # retry: with the new token
    assert cache.current.header.reveal() == "Bearer new"
    assert source.reads == 2  # no re-read: "newer" was never read


def test_late_401_after_an_unchanged_reread_does_not_retry() -> None:
    source = FakeSource("a")
    cache = CachingTokenSource(source)
    sent = cache.current.generation
    cache.refresh("periodic re-read")  # same token, read after the request was sent
    assert not cache.reset_older_than(sent)  # the same token would be refused again
    assert source.reads == 2


def test_concurrent_401s_cause_one_refresh() -> None:
    source = FakeSource("a", "b")
    cache = CachingTokenSource(source)
    sent = cache.current.generation
    answers: list[bool] = []
    source.race(10, lambda: answers.append(cache.reset_older_than(sent)))
    assert source.reads == 2  # the first reset read; the other nine saw a newer generation
    assert answers == [True] * 10
    assert cache.current.header.reveal() == "Bearer b"


def test_token_file_401_rule_through_request_credentials(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    creds = TokenFile(path)
    sent = creds.request_credential()
    assert sent.header == "Bearer one" and sent.generation == creds.generation
    assert "one" not in repr(sent)
    path.write_text("two")
    creds.reload("file event")
    path.write_text("three")
    assert creds.unauthorized(sent)  # late 401: the newer token ("two") stands, retry with it
    assert creds.auth_header() == "Bearer two"
    assert creds.unauthorized(creds.request_credential())  # a 401 for the current one: re-read
    assert creds.auth_header() == "Bearer three"
    reads = creds.generation
    # no generation: treated as sent with the current token, so re-read; unchanged, so no retry
    assert not creds.unauthorized(RequestCredential("Bearer three"))
    assert creds.generation == reads + 1


def test_retry_after_401_uses_generations(tmp_path: Path) -> None:
    from incluster_sdk.client import retry_after_401

    path = tmp_path / "token"
    path.write_text("one")
    creds = TokenFile(path)
    sent = creds.request_credential()
    assert not retry_after_401(creds, "GET", 200, sent)
    assert not retry_after_401(creds, "POST", 401, sent)  # writes are not retried
    path.write_text("two")
    assert retry_after_401(creds, "GET", 401, sent)
    assert creds.auth_header() == "Bearer two"


# -- the mount owns the watch ------------------------------------------------------------------------------
def test_mount_owns_the_watch_for_token_and_ca(fake_service_account: FakeServiceAccountMount) -> None:
    cfg = incluster_sdk.load_config()
    assert cfg.file_watch is not None and cfg.file_watch.names == {"token", "ca.crt"}
    creds = cfg.credentials
    assert isinstance(creds, TokenFile)
    assert creds._own_watch is None  # the token registered nothing for itself
    assert creds.watch_mode == "inotify" and cfg.file_watch.mode == "inotify"
    cfg.close()
    assert creds.watch_mode == "none" and cfg.file_watch.mode == "none"
    assert fake_service_account.path.absolute() not in filewatch._registry
