"""pulse ingest's pure parts: write-key hashing and lookup, the config file, body limits, calls,
and the grouping of a request's calls into one record per Kafka partition."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.errors import ConfigError
from streams.dev.produce import key_of
from streams.ingest.auth import BadCredentials, KeyRing, basic_user, hash_key
from streams.ingest.batching import Calls, Partitioner, calls_of, group_records, sender_of, validate
from streams.ingest.body import MAX_BODY_BYTES, HttpError, check_length, decode, gunzip_bounded, parse_json
from streams.ingest.config import parse_config

SALT = "00112233445566778899aabbccddeeff"
# `echo -n demo-key | openssl dgst -sha256 -mac HMAC -macopt hexkey:00112233445566778899aabbccddeeff`
OPENSSL_DEMO_KEY = "588247991653a250ba007d45be3600c29200cf08eacd3dfdac44ace49ce64767"
# Kafka's own murmur2 test vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2), as signed ints
KAFKA_MURMUR2 = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
                 "a-little-bit-longer-string": -1486304829,
                 "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107}
TS = "2026-10-01T09:00:00Z"
NOW_US = 1_800_000_000_000_000  # 2027-01-15: every TS above is in the past


def config_text(**keys: str) -> str:
    body = "".join(f'[[source]]\nname = "{name}"\nkey_hash = "{hash_key(SALT, key)}"\n\n'
                   for name, key in keys.items())
    return f'salt = "{SALT}"\n\n{body}'


# -- write keys --------------------------------------------------------------------------------

def test_hash_is_hmac_sha256_under_the_salt_as_openssl_computes_it() -> None:
    assert hash_key(SALT, "demo-key") == OPENSSL_DEMO_KEY


def test_a_different_salt_gives_a_different_hash() -> None:
    assert hash_key("ff" * 16, "demo-key") != OPENSSL_DEMO_KEY


def test_keyring_finds_each_source_and_nothing_else() -> None:
    ring = KeyRing(parse_config(config_text(web="key-web", backend="key-backend"), "k.toml"))
    assert ring.source_of("key-web") == "web"
    assert ring.source_of("key-backend") == "backend"
    assert ring.source_of("key-web ") is None
    assert ring.source_of("") is None
    assert ring.source_of(OPENSSL_DEMO_KEY) is None  # a stored hash is not a key


def test_basic_auth_carries_the_key_as_user_with_an_empty_password() -> None:
    assert basic_user("Basic " + base64.b64encode(b"wk_123:").decode()) == "wk_123"
    assert basic_user("basic " + base64.b64encode(b"wk_123:ignored").decode()) == "wk_123"
    for bad in ("Bearer abc", "Basic", "Basic !!!", "Basic " + base64.b64encode(b":pw").decode()):
        with pytest.raises(BadCredentials):
            basic_user(bad)


@pytest.mark.parametrize(("text", "key", "why"), [
    ('[[source]]\nname = "a"\nkey_hash = "' + "0" * 64 + '"\n', "salt", "Field required"),
    (f'salt = "{SALT}"\n', "source", "Field required"),
    (f'salt = "{SALT}"\n[[source]]\nname = "a"\nkey_hash = "xyz"\n', "source.0.key_hash", "64 lowercase hex"),
    (f'salt = "{SALT}"\nsource = []\n', "(top level)", "no [[source]]"),
    (f'salt = "{SALT}"\n[[source]]\nname = "a"\nkey_hash = "{"0" * 64}"\nkey = "plain"\n',
     "source.0.key", "unknown key"),
    (f'salt = "abc"\n[[source]]\nname = "a"\nkey_hash = "{"0" * 64}"\n', "salt", "hex"),
    (f'salt = "{SALT}"\n[[source]]\nname = "a"\nkey_hash = "{"0" * 64}"\n'
     f'[[source]]\nname = "a"\nkey_hash = "{"1" * 64}"\n', "(top level)", "used twice"),
])
def test_a_bad_key_file_is_one_line_naming_file_key_and_why(text: str, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "keys.toml")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("keys.toml: ") and f"[{key}]" in msg and why in msg
    assert "more problem" not in msg


# -- body limits -------------------------------------------------------------------------------

def test_content_length_over_the_limit_is_413_before_reading() -> None:
    check_length(None)
    check_length(MAX_BODY_BYTES)
    with pytest.raises(HttpError) as exc:
        check_length(MAX_BODY_BYTES + 1)
    assert exc.value.status == 413


def test_gzip_is_decompressed_up_to_exactly_the_limit() -> None:
    exact = b"x" * 500_000
    assert gunzip_bounded(gzip.compress(exact)) == exact
    with pytest.raises(HttpError) as exc:
        gunzip_bounded(gzip.compress(exact + b"x"))
    assert exc.value.status == 413


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MB of zeros in ~64 KB
    assert len(bomb) < MAX_BODY_BYTES
    with pytest.raises(HttpError) as exc:
        gunzip_bounded(bomb)
    assert exc.value.status == 413


@pytest.mark.parametrize(("data", "status"), [
    (gzip.compress(b'{"a":1}')[:-6], 400),   # truncated
    (b"not gzip at all", 400),
    (gzip.compress(b"{}") + b"trailing", 400),
])
def test_broken_gzip_is_400_on_the_body(data: bytes, status: int) -> None:
    with pytest.raises(HttpError) as exc:
        gunzip_bounded(data)
    assert exc.value.status == status and exc.value.field == "body"


def test_only_gzip_and_identity_encodings() -> None:
    assert decode(b"{}", None) == b"{}"
    assert decode(gzip.compress(b"{}"), "GZIP") == b"{}"
    with pytest.raises(HttpError) as exc:
        decode(b"{}", "br")
    assert exc.value.status == 415


def test_json_beyond_64_bit_integers_is_read_and_nan_is_not() -> None:
    assert parse_json(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    with pytest.raises(HttpError) as exc:
        parse_json(b'{"n": NaN}')
    assert exc.value.status == 400 and exc.value.field == "body"


# -- calls -------------------------------------------------------------------------------------

def test_a_single_call_takes_its_type_from_the_path_and_drops_the_write_key() -> None:
    calls = calls_of("track", {"event": "Login", "userId": "u", "writeKey": "secret"})
    assert calls.elements == [{"event": "Login", "userId": "u", "type": "track"}]
    assert calls_of("page", {"type": "page"}).elements == [{"type": "page"}]
    with pytest.raises(HttpError) as exc:
        calls_of("track", {"type": "identify"})
    assert (exc.value.status, exc.value.field) == (400, "type")


@pytest.mark.parametrize("doc", [{}, {"batch": {}}, {"batch": "x"}, {"batch": None}])
def test_a_batch_without_a_list_is_400_naming_batch(doc: dict[str, object]) -> None:
    with pytest.raises(HttpError) as exc:
        calls_of("batch", doc)
    assert (exc.value.status, exc.value.field) == (400, "batch")


def test_the_envelope_keeps_context_and_sent_at_only() -> None:
    calls = calls_of("import", {"batch": [], "writeKey": "k", "sentAt": TS, "context": {"a": 1}, "x": 2})
    assert calls.envelope == {"sentAt": TS, "context": {"a": 1}}


def test_validation_keeps_valid_calls_in_order_and_names_each_rejected_index() -> None:
    batch = [{"type": "track", "event": "A", "userId": "u1", "timestamp": TS},
             {"type": "track", "userId": "u1", "timestamp": TS},          # no event name
             7,                                                            # not an object
             {"type": "identify", "userId": 42, "timestamp": TS},                # an integer id
             {"type": "alias", "userId": "u3", "previousId": "a", "timestamp": TS},
             {"type": "nonsense", "userId": "u2", "timestamp": TS}]
    good, bad, _ = validate(Calls(batch, {}), now_us=NOW_US, skew_us=300_000_000)
    assert [orjson.loads(raw)["userId"] for raw, _ in good] == ["u1", 42, "u3"]
    assert [s for _, s in good] == ["u1", "42", "u3"]
    assert [(b.index, b.reason) for b in bad] == [(1, "missing_event"), (2, "not_object"), (5, "unknown_type")]
    assert orjson.loads(bad[0].raw) == batch[1]


def test_sender_is_user_id_else_anonymous_id() -> None:
    assert sender_of({"userId": "u", "anonymousId": "a"}) == "u"
    assert sender_of({"userId": "", "anonymousId": "a"}) == "a"
    assert sender_of({"userId": None, "anonymousId": 7}) == "7"
    assert sender_of({"userId": True, "anonymousId": "a"}) == "a"  # a boolean is no id
    assert sender_of({"context": {"groupId": "g"}}) is None


def test_pulse_produce_keys_by_the_same_sender() -> None:
    """`pulse produce` and `pulse ingest` put a sender in the same partition: 42 and "42" alike."""
    assert key_of(b'{"userId": 42}') == key_of(b'{"userId": "42"}') == b"42"
    assert key_of(b'{"batch": [{"anonymousId": "a-1"}]}') == b"a-1"
    assert key_of(b"not json") is None


# -- partitions --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 4, 7, 12])
def test_partition_of_a_key_is_kafkas_default_partitioner(n: int) -> None:
    part = Partitioner()
    for key, signed in KAFKA_MURMUR2.items():
        assert part(key.encode(), list(range(n))) == (signed & 0x7FFFFFFF) % n


def _events(senders: list[str | None]) -> list[tuple[bytes, str | None]]:
    return [(orjson.dumps({"i": i, "userId": s}), s) for i, s in enumerate(senders)]


@settings(max_examples=200, deadline=None)
@given(senders=st.lists(st.one_of(st.none(), st.sampled_from([f"user-{i}" for i in range(30)])), max_size=60),
       n=st.integers(1, 8))
def test_one_record_per_partition_holding_its_senders_calls_in_request_order(senders: list[str | None],
                                                                             n: int) -> None:
    part = Partitioner()
    parts = list(range(n))
    records = group_records(_events(senders), b"", parts, part)
    assert len({r.partition for r in records}) == len(records)  # one record per partition
    seen: list[int] = []
    keyed = [s for s in senders if s is not None]
    home = part(keyed[0].encode(), parts) if keyed else None
    for r in records:
        batch = orjson.loads(r.value)["batch"]
        assert r.count == len(batch)
        idx = [e["i"] for e in batch]
        assert idx == sorted(idx)  # request order within the partition
        seen += idx
        for e in batch:
            want = part(e["userId"].encode(), parts) if e["userId"] is not None else home
            if want is not None:
                assert r.partition == want
        assert r.key is None or part(r.key, parts) == r.partition
    assert sorted(seen) == list(range(len(senders)))


def test_a_partition_group_past_the_record_limit_is_split_in_order() -> None:
    good = _events(["u"] * 50)
    records = group_records(good, b',"sentAt":"x"', [0, 1, 2, 3], Partitioner(), limit=400)
    assert len(records) > 1 and all(len(r.value) <= 400 for r in records)
    assert [e["i"] for r in records for e in orjson.loads(r.value)["batch"]] == list(range(50))
    assert all(orjson.loads(r.value)["sentAt"] == "x" for r in records)
