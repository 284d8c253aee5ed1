"""The rate limit per write key: the token bucket's arithmetic (clock passed in) and its config."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.ingest.auth import hash_key
from streams.ingest.config import IngestConfigError, parse_config
from streams.ingest.ratelimit import RateLimits, TokenBucket

SALT = "00112233445566778899aabbccddeeff"


def config(default: str = "", **sources: str) -> str:
    """`sources`: name -> the source's extra TOML line (its own rate_limit, or '')."""
    body = "".join(f'[[source]]\nname = "{n}"\nkey_hash = "{hash_key(SALT, n)}"\n{extra}\n\n'
                   for n, extra in sources.items())
    return f'salt = "{SALT}"\n{default}\n{body}'


def test_a_burst_then_one_token_per_interval() -> None:
    b = TokenBucket(rate=2.0, burst=3, tokens=3, stamp=100.0)
    assert [b.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(100.0) == pytest.approx(0.5)      # empty: a token in 1/rate s
    assert b.take(100.25) == pytest.approx(0.25)    # half a token refilled
    assert b.take(100.5) == 0.0                     # one token back
    assert b.take(100.5) == pytest.approx(0.5)
    assert [b.take(1000.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refill stops at burst


def test_a_clock_going_back_refills_nothing() -> None:
    b = TokenBucket(rate=1.0, burst=1, tokens=0, stamp=50.0)
    assert b.take(10.0) == pytest.approx(1.0)
    assert b.take(50.5) == pytest.approx(0.5)


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 100), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, gaps: list[float]) -> None:
    b, now, taken = TokenBucket(rate, burst, burst, 0.0), 0.0, 0
    for gap in gaps:
        now += gap
        if b.take(now) == 0.0:
            taken += 1
        assert taken <= burst + rate * now + 1e-6


def test_sources_get_their_own_limit_the_default_or_none() -> None:
    cfg = parse_config(config('[rate_limit]\nrequests_per_second = 1\nburst = 2\n',
                              tight="rate_limit = { requests_per_second = 0.5, burst = 1 }", usual=""),
                       "k.toml")
    limits = RateLimits(cfg, now=0.0)
    assert limits.check("tight", 0.0) is None
    over = limits.check("tight", 0.0)
    assert over is not None and over.retry_after == 2 and over.source == "tight"
    assert "over its rate limit of 0.5 requests/s (burst 1): retry after 2 s" in over.message()
    assert limits.check("usual", 0.0) is None and limits.check("usual", 0.0) is None   # burst 2
    assert limits.check("usual", 0.0) is not None
    assert limits.check("tight", 2.0) is None                    # its own bucket refilled
    unlimited = RateLimits(parse_config(config(free=""), "k.toml"), now=0.0)
    assert len(unlimited) == 0 and all(unlimited.check("free", 0.0) is None for _ in range(1000))


@pytest.mark.parametrize(("default", "extra", "where", "why"), [
    ("", "rate_limit = { requests_per_second = 0, burst = 5 }", "rate_limit.requests_per_second",
     "greater than 0"),
    ("", "rate_limit = { requests_per_second = 5, burst = 0 }", "rate_limit.burst", "greater than or equal to 1"),
    ("", 'rate_limit = { requests_per_second = "5", burst = 5 }', "rate_limit.requests_per_second", "number"),
    ("", "rate_limit = { requests_per_second = 5 }", "rate_limit.burst", "required"),
    ("", "rate_limit = { requests_per_second = 5, burst = 5, per = 1 }", "rate_limit.per", "unknown key"),
    ("[rate_limit]\nrequests_per_second = nan\nburst = 1\n", "", "rate_limit.requests_per_second", "finite"),
    ("[rate_limit]\nrequests_per_second = 1\nburst = 2.5\n", "", "rate_limit.burst", "integer"),
])
def test_a_bad_rate_limit_is_refused_naming_file_key_and_why(default: str, extra: str, where: str,
                                                             why: str) -> None:
    with pytest.raises(IngestConfigError) as err:
        parse_config(config(default, web=extra), "keys.toml")
    text = str(err.value)
    assert text.startswith("keys.toml") and where in text and why in text, text
