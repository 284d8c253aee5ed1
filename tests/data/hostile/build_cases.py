"""Writes cases.jsonl, the hostile input corpus: `python tests/data/hostile/build_cases.py`.

Every case is one Kafka record / one replay line, with its outcome written by hand below, one
token per event the record holds (a batch holds several):

- `scored`: a valid track/page/screen call (scored);
- `valid`: a valid call that is not scored (identify, group, alias, delete);
- `invalid:<reason>`: invalid with that reason code; `invalid`: invalid, the reason not pinned;
- `any`: either outcome is acceptable (the one case here: a UTF-8 byte order mark, which JSON
  parsers MAY ignore), only "no crash" is checked.

The expectations follow the project's Events rules (docs/semantics.md). Big records are stored
small: `expand` replaces a marker in the text with `unit` repeated `times` times. Helpers below
only build bytes; no outcome is computed by Pulse code.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TS = "2026-11-02T10:15:00Z"
DEL = object()  # remove the key from the template
CASES: list[dict[str, Any]] = []


def ev(**kw: Any) -> dict[str, Any]:
    """A valid track call, with fields replaced (`DEL` removes one)."""
    d: dict[str, Any] = {"type": "track", "event": "Login", "userId": "u-h",
                         "context": {"groupId": "acct-hostile"}, "timestamp": TS}
    for k, v in kw.items():
        if v is DEL:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def j(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def add(group: str, name: str, data: str | bytes, expect: list[str] | str,
        expand: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
    case: dict[str, Any] = {"name": f"{group}/{name}", "expect": [expect] if isinstance(expect, str) else expect}
    if isinstance(data, bytes):
        case["b64"] = base64.b64encode(data).decode()
    else:
        case["text"] = data
    if expand:
        case["expand"] = expand if isinstance(expand, list) else [expand]
    CASES.append(case)


def X(at: str, unit: str, times: int) -> dict[str, Any]:
    """An expansion: `at` in the text becomes `unit` * `times`."""
    return {"at": at, "unit": unit, "times": times}


def track_text(**kw: Any) -> str:
    return j(ev(**kw))


# --- encoding --------------------------------------------------------------------------------
GOOD = track_text().encode()
enc_bad = {
    "lone-ff-in-event-name": b'"Log\xffin"',
    "truncated-2-byte": b'"Log\xc3"',
    "bad-continuation": b'"\xc3\x28"',
    "overlong-slash": b'"\xc0\xaf"',
    "overlong-nul": b'"\xc0\x80"',
    "utf8-encoded-surrogate": b'"\xed\xa0\x80"',
    "code-point-above-10ffff": b'"\xf4\x90\x80\x80"',
    "five-byte-form": b'"\xf8\x88\x80\x80\x80"',
    "lone-continuation": b'"\x80"',
    "latin1-e-acute": b'"caf\xe9"',
    "cp1252-quote": b'"\x93x\x94"',
    "truncated-4-byte": b'"\xf0\x9f\x98"',
}
for name, value in enc_bad.items():
    add("encoding", f"{name}-in-event", b'{"type":"track","event":' + value + b',"userId":"u","timestamp":"' +
        TS.encode() + b'"}', "invalid:not_json")
add("encoding", "invalid-utf8-in-userId", GOOD.replace(b'"u-h"', b'"u-\xfe\xff"'), "invalid:not_json")
add("encoding", "invalid-utf8-in-key", GOOD.replace(b'"userId"', b'"user\xffId"'), "invalid:not_json")
add("encoding", "invalid-utf8-outside-strings", GOOD[:-1] + b'\xff}', "invalid:not_json")
add("encoding", "utf16-le-json", track_text().encode("utf-16-le"), "invalid:not_json")
add("encoding", "utf16-be-json", track_text().encode("utf-16-be"), "invalid:not_json")
add("encoding", "utf16-with-bom", track_text().encode("utf-16"), "invalid:not_json")
add("encoding", "utf32-json", track_text().encode("utf-32"), "invalid:not_json")
add("encoding", "latin1-whole-record", track_text(event="Café").encode("latin-1"), "invalid:not_json")
add("encoding", "utf8-bom-then-event", b"\xef\xbb\xbf" + GOOD, "any")
add("encoding", "valid-multibyte-name", track_text(event="Zugänge 登录 🚀"), "scored")
add("encoding", "escaped-lone-high-surrogate-userId", GOOD.replace(b'"u-h"', b'"u-\\ud800"'), "invalid")
add("encoding", "escaped-lone-low-surrogate-userId", GOOD.replace(b'"u-h"', b'"\\udc00"'), "invalid")
add("encoding", "escaped-lone-surrogate-groupId", GOOD.replace(b'"acct-hostile"', b'"acct\\udbff"'), "invalid")
add("encoding", "escaped-lone-surrogate-event", GOOD.replace(b'"Login"', b'"Log\\ud834in"'), "invalid")
add("encoding", "escaped-lone-surrogate-property", j(ev(properties={"k": "@"})).replace('"@"', '"\\udfff"'),
    "invalid")
add("encoding", "escaped-reversed-surrogate-pair", GOOD.replace(b'"u-h"', b'"\\ude00\\ud83d"'), "invalid")
add("encoding", "escaped-valid-surrogate-pair", GOOD.replace(b'"u-h"', b'"u-\\ud83d\\ude00"'), "scored")
add("encoding", "escaped-lone-surrogate-in-key", j(ev(properties={"@": 1})).replace('"@"', '"\\ud800"'),
    "invalid")

# --- NUL and control bytes -------------------------------------------------------------------
add("nul", "raw-nul-before-record", b"\x00" + GOOD, "invalid:not_json")
add("nul", "raw-nul-after-record", GOOD + b"\x00", "invalid:not_json")
add("nul", "raw-nul-inside-string", GOOD.replace(b'"u-h"', b'"u\x00h"'), "invalid:not_json")
add("nul", "only-nul-bytes", b"\x00" * 64, "invalid:not_json")
add("nul", "escaped-nul-in-userId", track_text(userId="u\u0000h"), "scored")
add("nul", "escaped-nul-in-event-name", track_text(event="Login\u0000"), "scored")
add("nul", "escaped-nul-in-groupId", track_text(context={"groupId": "\u0000"}), "scored")
add("nul", "raw-tab-inside-string", GOOD.replace(b'"u-h"', b'"u\th"'), "invalid:not_json")
add("nul", "raw-escape-byte-inside-string", GOOD.replace(b'"u-h"', b'"u\x1bh"'), "invalid:not_json")
add("nul", "raw-del-inside-string", GOOD.replace(b'"u-h"', b'"u\x7fh"'), "scored")  # DEL is not a JSON control
add("nul", "raw-cr-inside-string", GOOD.replace(b'"u-h"', b'"u\rh"'), "invalid:not_json")
add("nul", "raw-formfeed-between-tokens", GOOD.replace(b',"userId"', b',\x0c"userId"'), "invalid:not_json")
add("nul", "raw-vertical-tab-between-tokens", GOOD.replace(b',"userId"', b',\x0b"userId"'), "invalid:not_json")

# --- JSON syntax -----------------------------------------------------------------------------
for name, text in {
    "empty-object": "{}", "truncated": track_text()[:-7], "trailing-comma": track_text()[:-1] + ",}",
    "single-quotes": track_text().replace('"', "'"), "comment": "/* c */" + track_text(),
    "trailing-garbage": track_text() + " x", "two-objects": track_text() + track_text(),
    "unquoted-keys": track_text().replace('"type"', "type"), "hex-number-property": track_text()[:-1] +
    ',"properties":{"n":0x10}}', "leading-zero-number": track_text()[:-1] + ',"properties":{"n":01}}',
    "plus-number": track_text()[:-1] + ',"properties":{"n":+1}}', "bare-fraction": track_text()[:-1] +
    ',"properties":{"n":.5}}', "just-a-brace": "{", "unclosed-string": '{"type":"track', "x-words": "hello",
    "python-repr": "{'type': 'track', 'event': None}", "missing-colon": '{"type" "track"}',
    "bad-escape": track_text().replace('"u-h"', '"u\\x41"'), "short-unicode-escape": track_text().replace(
        '"u-h"', '"u\\u41"'), "lone-backslash": track_text().replace('"u-h"', '"u\\"'),
}.items():
    add("syntax", name, text, "invalid:missing_type" if name == "empty-object" else "invalid:not_json")
add("syntax", "whitespace-only", "   \t ", "invalid:not_json")
add("syntax", "surrounding-whitespace", "  " + track_text() + "\t ", "scored")
for name, text in {"null": "null", "true": "true", "number": "42", "string": '"track"', "array": "[]",
                   "array-of-event": "[" + track_text() + "]", "float": "1.5"}.items():
    add("syntax", f"top-level-{name}", text, "invalid:not_object")
add("syntax", "top-level-nan", "NaN", "invalid:not_json")

# --- numbers ---------------------------------------------------------------------------------
for lit in ("NaN", "Infinity", "-Infinity", "nan", "inf"):
    add("numbers", f"{lit}-in-properties", track_text()[:-1] + f',"properties":{{"x":{lit}}}}}', "invalid:not_json")
add("numbers", "NaN-as-userId", track_text().replace('"u-h"', "NaN"), "invalid:not_json")
add("numbers", "1e400-in-properties", track_text()[:-1] + ',"properties":{"x":1e400}}', "invalid")
add("numbers", "-1e400-in-properties", track_text()[:-1] + ',"properties":{"x":-1e400}}', "invalid")
add("numbers", "1e400-as-timestamp", track_text().replace(f'"{TS}"', "1e400"), "invalid")
add("numbers", "1e400-as-userId", track_text().replace('"u-h"', "1e400"), "invalid")
add("numbers", "1e-400-in-properties", track_text()[:-1] + ',"properties":{"x":1e-400}}', "scored")
add("numbers", "integer-userId", track_text(userId=4242), "scored")
add("numbers", "negative-integer-userId", track_text(userId=-7), "scored")
add("numbers", "zero-userId", track_text(userId=0), "scored")
# an integer id counts as its decimal string, however long (orjson reads integers beyond 64 bits
# as floats; the parser reads such a record again exactly)
add("numbers", "uint64-max-userId", track_text(userId=2 ** 64 - 1), "scored")
add("numbers", "int64-min-userId", track_text(userId=-(2 ** 63)), "scored")
add("numbers", "2^64-userId", track_text(userId=2 ** 64), "scored")
add("numbers", "below-int64-min-userId", track_text(userId=-(2 ** 63) - 1), "scored")
add("numbers", "200-digit-integer-userId", track_text().replace('"u-h"', "9" * 200), "scored")
add("numbers", "200-digit-integer-groupId", track_text(context={"groupId": 10 ** 199}), "scored")
add("numbers", "200-digit-integer-property", track_text(properties={"n": 10 ** 200}), "scored")
add("numbers", "big-integer-id-and-big-integer-property", track_text(userId=2 ** 70, properties={"n": 2 ** 80}),
    "scored")
add("numbers", "big-integer-id-and-big-integer-trait", j({"type": "group", "userId": 2 ** 70, "groupId": 2 ** 71,
                                                          "traits": {"mrr": 2 ** 90}, "timestamp": TS}), "valid")
add("numbers", "float-id-beside-big-integer-property", track_text(userId=1.5, properties={"n": 2 ** 80}),
    "invalid:bad_type")
add("numbers", "400-digit-integer-property", track_text(properties={"n": 10 ** 400}), "invalid:not_json")
add("numbers", "float-userId", track_text(userId=42.0), "invalid:bad_type")
add("numbers", "exponent-userId", track_text().replace('"u-h"', "1e3"), "invalid:bad_type")
add("numbers", "integer-groupId-in-context", track_text(context={"groupId": 77}), "scored")
add("numbers", "float-groupId-in-context", track_text(context={"groupId": 7.5}), "invalid:bad_type")
add("numbers", "integer-messageId", track_text(messageId=123456789), "scored")
add("numbers", "integer-accountId", track_text(context=DEL, properties={"accountId": 5}), "scored")
add("numbers", "epoch-seconds-timestamp", track_text(timestamp=1762078500), "invalid:bad_timestamp")
add("numbers", "epoch-millis-string-timestamp", track_text(timestamp="1762078500000"), "invalid:bad_timestamp")

# --- timestamps --------------------------------------------------------------------------------
ts_cases = {
    # name: (value, expected)
    "year-0": ("0000-01-01T00:00:00Z", "invalid:bad_timestamp"),
    "year-0-no-zone": ("0000-06-15T12:00:00", "invalid:bad_timestamp"),
    "year-1": ("0001-01-01T00:00:00Z", "scored"),
    "year-9999-end": ("9999-12-31T23:59:59Z", "invalid:future_timestamp"),
    "year-9999-start": ("9999-01-01T00:00:00Z", "invalid:future_timestamp"),
    "year-2538": ("2538-01-01T00:00:00Z", "invalid:future_timestamp"),
    "year-10000": ("10000-01-01T00:00:00Z", "invalid:bad_timestamp"),
    "expanded-year": ("+002026-11-02T10:15:00Z", "invalid:bad_timestamp"),
    "negative-year": ("-2026-11-02T10:15:00Z", "invalid:bad_timestamp"),
    "feb-30": ("2026-02-30T10:00:00Z", "invalid:bad_timestamp"),
    "feb-29-non-leap": ("2025-02-29T10:00:00Z", "invalid:bad_timestamp"),
    "feb-29-leap": ("2024-02-29T10:00:00Z", "scored"),
    "feb-29-1900": ("1900-02-29T10:00:00Z", "invalid:bad_timestamp"),
    "feb-29-2000": ("2000-02-29T10:00:00Z", "scored"),
    "april-31": ("2026-04-31T10:00:00Z", "invalid:bad_timestamp"),
    "month-13": ("2026-13-01T10:00:00Z", "invalid:bad_timestamp"),
    "month-00": ("2026-00-10T10:00:00Z", "invalid:bad_timestamp"),
    "day-00": ("2026-11-00T10:00:00Z", "invalid:bad_timestamp"),
    "day-32": ("2026-01-32T10:00:00Z", "invalid:bad_timestamp"),
    "hour-24": ("2026-11-02T24:00:00Z", "invalid:bad_timestamp"),
    "hour-25": ("2026-11-02T25:00:00Z", "invalid:bad_timestamp"),
    "minute-60": ("2026-11-02T10:60:00Z", "invalid:bad_timestamp"),
    "second-60-leap": ("2016-12-31T23:59:60Z", "invalid:bad_timestamp"),
    "second-99": ("2026-11-02T10:15:99Z", "invalid:bad_timestamp"),
    "zone-plus-24": ("2026-11-02T10:15:00+24:00", "invalid:bad_timestamp"),
    "zone-minute-60": ("2026-11-02T10:15:00+05:60", "invalid:bad_timestamp"),
    "zone-hour-only": ("2026-11-02T10:15:00+05", "invalid:bad_timestamp"),
    "zone-with-seconds": ("2026-11-02T10:15:00+05:30:15", "invalid:bad_timestamp"),
    "zone-name": ("2026-11-02T10:15:00 UTC", "invalid:bad_timestamp"),
    "zone-plus-0530": ("2026-11-02T10:15:00+05:30", "scored"),
    "zone-plus-0530-basic": ("2026-11-02T10:15:00+0530", "scored"),
    "zone-minus-2359": ("2026-11-02T10:15:00-23:59", "scored"),
    "zone-lower-z": ("2026-11-02T10:15:00z", "scored"),
    "no-zone-is-utc": ("2026-11-02T10:15:00", "scored"),
    "space-separator": ("2026-11-02 10:15:00Z", "scored"),
    "lower-t-separator": ("2026-11-02t10:15:00Z", "invalid:bad_timestamp"),
    "fraction-6": ("2026-11-02T10:15:00.123456Z", "scored"),
    "fraction-9": ("2026-11-02T10:15:00.123456789Z", "scored"),
    "fraction-1": ("2026-11-02T10:15:00.5Z", "scored"),
    "fraction-empty": ("2026-11-02T10:15:00.Z", "invalid:bad_timestamp"),
    "fraction-comma": ("2026-11-02T10:15:00,5Z", "invalid:bad_timestamp"),
    "no-seconds": ("2026-11-02T10:15Z", "invalid:bad_timestamp"),
    "date-only": ("2026-11-02", "invalid:bad_timestamp"),
    "basic-format": ("20261102T101500Z", "invalid:bad_timestamp"),
    "week-date": ("2026-W45-1T10:15:00Z", "invalid:bad_timestamp"),
    "ordinal-date": ("2026-306T10:15:00Z", "invalid:bad_timestamp"),
    "leading-space": (" 2026-11-02T10:15:00Z", "invalid:bad_timestamp"),
    "trailing-space": ("2026-11-02T10:15:00Z ", "invalid:bad_timestamp"),
    "trailing-newline": ("2026-11-02T10:15:00Z\n", "invalid:bad_timestamp"),
    "trailing-nul": ("2026-11-02T10:15:00Z\u0000", "invalid:bad_timestamp"),
    "words": ("yesterday", "invalid:bad_timestamp"),
    "rfc2822": ("Mon, 02 Nov 2026 10:15:00 +0000", "invalid:bad_timestamp"),
    "fullwidth-digits": ("２０２６-１１-０２T１０:１５:００Z", "invalid:bad_timestamp"),
    "arabic-indic-digits": ("٢٠٢٦-١١-٠٢T١٠:١٥:٠٠Z", "invalid:bad_timestamp"),
    "devanagari-year": ("२०२६-11-02T10:15:00Z", "invalid:bad_timestamp"),
    "arabic-indic-hour": ("2026-11-02T١٠:15:00Z", "invalid:bad_timestamp"),
    "arabic-indic-fraction": ("2026-11-02T10:15:00.١٢٣Z", "invalid:bad_timestamp"),
    "arabic-indic-zone": ("2026-11-02T10:15:00+٠٥:٣٠", "invalid:bad_timestamp"),
    "superscript-digit": ("2026-11-02T10:15:0²Z", "invalid:bad_timestamp"),
    "mathematical-bold-digits": ("𝟐𝟎𝟐𝟔-11-02T10:15:00Z", "invalid:bad_timestamp"),
    "unicode-hyphen": ("2026‐11‐02T10:15:00Z", "invalid:bad_timestamp"),
    "cyrillic-t": ("2026-11-02Т10:15:00Z", "invalid:bad_timestamp"),
    "fullwidth-colon": ("2026-11-02T10：15：00Z", "invalid:bad_timestamp"),
    "minus-sign-zone": ("2026-11-02T10:15:00−05:00", "invalid:bad_timestamp"),
    "empty-string": ("", "invalid:missing_timestamp"),
}
for name, (value, expected) in ts_cases.items():
    add("timestamp", name, track_text(timestamp=value), expected)
add("timestamp", "fraction-10k-digits", track_text(timestamp="2026-11-02T10:15:00.@@Z"), "scored",
    {"at": "@@", "unit": "7", "times": 10_000})
add("timestamp", "null", track_text(timestamp=None), "invalid:missing_timestamp")
add("timestamp", "missing", track_text(timestamp=DEL), "invalid:missing_timestamp")
add("timestamp", "object", track_text(timestamp={"iso": TS}), "invalid:bad_timestamp")
add("timestamp", "array", track_text(timestamp=[TS]), "invalid:bad_timestamp")
add("timestamp", "boolean", track_text(timestamp=True), "invalid:bad_timestamp")
add("timestamp", "original-only", track_text(timestamp=DEL, originalTimestamp=TS), "scored")
add("timestamp", "received-only", track_text(timestamp=DEL, receivedAt=TS), "scored")
add("timestamp", "sent-only", track_text(timestamp=DEL, sentAt=TS), "invalid:missing_timestamp")
add("timestamp", "skew-corrected-all-three", track_text(timestamp=DEL, originalTimestamp="2026-11-02T10:00:00Z",
    sentAt="2026-11-02T10:00:05Z", receivedAt="2026-11-02T09:00:05Z"), "scored")
add("timestamp", "garbage-sentAt-beside-timestamp", track_text(sentAt="garbage", receivedAt=7), "scored")
add("timestamp", "garbage-sentAt-used", track_text(timestamp=DEL, originalTimestamp=TS, sentAt="garbage",
    receivedAt=TS), "invalid:bad_timestamp")
add("timestamp", "garbage-original-used", track_text(timestamp=DEL, originalTimestamp="2026-02-30T00:00:00Z"),
    "invalid:bad_timestamp")
add("timestamp", "skew-correction-into-year-0", track_text(
    timestamp=DEL, originalTimestamp="0001-01-01T00:00:00Z", sentAt="9999-12-31T00:00:00Z", receivedAt=TS),
    "invalid:bad_timestamp")  # an event time before year 1: not a time Pulse can write back
add("timestamp", "skew-correction-into-far-future", track_text(
    timestamp=DEL, originalTimestamp="9999-12-31T00:00:00Z", sentAt="0001-01-01T00:00:00Z", receivedAt=TS),
    "invalid:bad_timestamp")  # after year 9999
add("timestamp", "identify-year-0", j({"type": "identify", "userId": "u", "timestamp": "0000-01-01T00:00:00Z"}),
    "invalid:bad_timestamp")
add("timestamp", "group-year-9999", j({"type": "group", "userId": "u", "groupId": "g",
                                       "timestamp": "9999-12-31T23:59:59Z"}), "invalid:future_timestamp")

# --- ids ---------------------------------------------------------------------------------------
hostile_ids = {
    "newline": "acct\nInjected: yes", "crlf": "acct\r\nBcc: evil@example.com", "tab": "a\tb",
    "escape-ansi": "acct\u001b[31mRED\u001b[0m", "bell-and-backspace": "acct\u0007\u0008", "nul": "ac\u0000ct",
    "line-separator": "acct\u2028forged", "paragraph-separator": "acct\u2029x", "rtl-override": "acct\u202egnp.exe",
    "zero-width": "ac\u200bct", "bom-inside": "\ufeffacct", "slack-mention": "<!channel>",
    "slack-link": "<https://evil.example|click here>", "slack-bold-newline": "*acct*\n> quoted",
    "html-script": "<script>alert(1)</script>", "html-img": "<img src=x onerror=alert(1)>",
    "html-entity": "&lt;b&gt;", "header-subject": "x\r\nSubject: pwned", "quotes": "\"'`",
    "emoji": "acct-🚀", "only-spaces": "   ", "combining": "a\u0301\u0301\u0301", "c1-control": "acct\u0085x",
    "percent-encoded": "acct%0d%0aSet-Cookie:x", "path": "../../etc/passwd", "long-1k": "a" * 1000,
}
for name, value in hostile_ids.items():
    add("ids", f"groupId-{name}", track_text(context={"groupId": value}), "scored")
for name in ("newline", "crlf", "html-script", "slack-mention", "nul", "escape-ansi"):
    add("ids", f"userId-{name}", track_text(context=DEL, userId=hostile_ids[name]), "scored")
add("ids", "groupId-10KB", track_text(context={"groupId": "@@"}), "scored", {"at": "@@", "unit": "g", "times": 10_240})
add("ids", "userId-10KB", track_text(context=DEL, userId="@@"), "scored", {"at": "@@", "unit": "u", "times": 10_240})
add("ids", "messageId-10KB", track_text(messageId="@@"), "scored", {"at": "@@", "unit": "m", "times": 10_240})
add("ids", "accountId-10KB", track_text(context=DEL, properties={"accountId": "@@"}), "scored",
    {"at": "@@", "unit": "p", "times": 10_240})
add("ids", "event-name-10KB", track_text(event="@@"), "scored", {"at": "@@", "unit": "e", "times": 10_240})
add("ids", "groupId-10KB-newlines", track_text(context={"groupId": "@@"}), "scored",
    {"at": "@@", "unit": "a\\n", "times": 5_000})
add("ids", "groupId-40KB", track_text(context={"groupId": "@@"}), "invalid:oversize",
    {"at": "@@", "unit": "g", "times": 40_000})
add("ids", "group-call-groupId-newline", j({"type": "group", "userId": "u-g", "groupId": "acct\nX",
                                             "traits": {"name": "Acme\r\nBcc: x@y"}, "timestamp": TS}), "valid")
add("ids", "trait-html", j({"type": "group", "userId": "u-g2", "groupId": "acct-t",
                            "traits": {"name": "<b>Acme</b><script>x</script>", "plan": "\u001b[2J"},
                            "timestamp": TS}), "valid")
add("ids", "empty-string-ids-fall-back", track_text(context={"groupId": ""}, userId="u-fallback"), "scored")
add("ids", "no-account-at-all", track_text(context=DEL, userId=DEL), "invalid:no_account")
add("ids", "all-ids-null", track_text(context={"groupId": None}, userId=None, anonymousId=None),
    "invalid:no_account")
add("ids", "anonymous-only", track_text(context=DEL, userId=DEL, anonymousId="anon-1"), "scored")

# --- wrong types, field by field ---------------------------------------------------------------
wrong = {"int": 1, "float": 1.5, "true": True, "false": False, "list": ["x"], "object": {"x": 1}}
for field in ("userId", "anonymousId", "messageId"):
    for tname, value in wrong.items():
        if tname == "int":
            continue  # an integer id is valid (numbers/ cases)
        add("types", f"{field}-{tname}", track_text(**{field: value}), "invalid:bad_type")
for tname, value in wrong.items():
    add("types", f"type-{tname}", track_text(type=value), "invalid:bad_type")
    add("types", f"event-{tname}", track_text(event=value), "invalid:bad_type")
    if tname != "int":
        add("types", f"context.groupId-{tname}", track_text(context={"groupId": value}), "invalid:bad_type")
        add("types", f"properties.accountId-{tname}", track_text(properties={"accountId": value}),
            "invalid:bad_type")
        add("types", f"group.groupId-{tname}", j({"type": "group", "userId": "u", "groupId": value,
                                                   "timestamp": TS}), "invalid:bad_type")
for field in ("context", "properties", "traits"):
    for tname, value in {"string": "x", "int": 3, "true": True, "list": [1], "float": 0.5}.items():
        add("types", f"{field}-{tname}", track_text(**{field: value}), "invalid:bad_type")
    add("types", f"{field}-empty-list-is-absent", track_text(**{field: []}), "scored")
    add("types", f"{field}-null-is-absent", track_text(**{field: None}), "scored")
add("types", "identify-traits-string", j({"type": "identify", "userId": "u", "traits": "x", "timestamp": TS}),
    "invalid:bad_type")
add("types", "identify-userId-list", j({"type": "identify", "userId": ["u"], "timestamp": TS}), "invalid:bad_type")
add("types", "type-null", track_text(type=None), "invalid:missing_type")
add("types", "type-empty", track_text(type=""), "invalid:missing_type")
add("types", "type-missing", track_text(type=DEL), "invalid:missing_type")
add("types", "type-unknown", track_text(type="trackk"), "invalid:unknown_type")
add("types", "type-uppercase", track_text(type="TRACK"), "invalid:unknown_type")
add("types", "type-with-nul", track_text(type="track\u0000"), "invalid:unknown_type")
add("types", "type-10KB", track_text(type="@@"), "invalid:unknown_type", {"at": "@@", "unit": "t", "times": 10_240})
add("types", "event-missing", track_text(event=DEL), "invalid:missing_event")
add("types", "event-empty", track_text(event=""), "invalid:missing_event")
add("types", "page-without-event", track_text(type="page", event=DEL), "scored")
add("types", "screen-with-bad-event-type", track_text(type="screen", event=5), "invalid:bad_type")
add("types", "alias", j({"type": "alias", "userId": "u", "previousId": "a", "timestamp": TS}), "valid")
add("types", "delete", j({"type": "delete", "userId": "u", "timestamp": TS}), "valid")
add("types", "group-no-groupId", j({"type": "group", "userId": "u", "timestamp": TS}), "invalid:missing_group_id")
add("types", "group-no-sender", j({"type": "group", "groupId": "g", "timestamp": TS}), "invalid:missing_id")
add("types", "identify-bad-timestamp", j({"type": "identify", "userId": "u", "timestamp": "x"}),
    "invalid:bad_timestamp")

# --- nesting -----------------------------------------------------------------------------------
add("nesting", "array-10k-deep", "@@", "invalid:not_json", {"at": "@@", "unit": "[", "times": 10_000})
add("nesting", "array-10k-deep-closed", "@1@@2@", "invalid:not_json", [X("@1@", "[", 10_000), X("@2@", "]", 10_000)])
add("nesting", "properties-10k-deep", track_text(properties={"a": "@@"}).replace('"@@"', "@@"), "invalid:not_json",
    {"at": "@@", "unit": '{"a":', "times": 10_000})
DEEP = track_text()[:-1] + ',"properties":@1@1@2@}'
add("nesting", "properties-10k-deep-closed", DEEP, "invalid:not_json",
    [X("@1@", '{"a":', 10_000), X("@2@", "}", 10_000)])
add("nesting", "properties-300-deep", DEEP, "invalid:too_deep", [X("@1@", '{"a":', 300), X("@2@", "}", 300)])
add("nesting", "properties-list-300-deep", track_text()[:-1] + ',"properties":{"l":@1@@2@}}', "invalid:too_deep",
    [X("@1@", "[", 300), X("@2@", "]", 300)])
# the record itself is level 1: properties 252 levels deep make 253 (the limit), 253 make 254
add("nesting", "depth-253-at-the-limit", DEEP, "scored", [X("@1@", '{"a":', 252), X("@2@", "}", 252)])
add("nesting", "depth-254-over-the-limit", DEEP, "invalid:too_deep", [X("@1@", '{"a":', 253), X("@2@", "}", 253)])
add("nesting", "group-traits-300-deep", j({"type": "group", "userId": "u", "groupId": "g", "timestamp": TS,
                                           "traits": {"x": "@@"}}).replace('"@@"', "@1@1@2@"), "invalid:too_deep",
    [X("@1@", "[", 300), X("@2@", "]", 300)])
add("nesting", "wide-not-deep-300-brackets", track_text(properties={"l": [[1]] * 300}), "scored")
add("nesting", "properties-50-deep", DEEP, "scored", [X("@1@", '{"a":', 50), X("@2@", "}", 50)])
add("nesting", "context-5k-deep-in-batch", '{"batch":[' + track_text()[:-1] + ',"traits":@1@1@2@}]}', "invalid:not_json",
    [X("@1@", '{"a":', 5000), X("@2@", "}", 5000)])

B0 = track_text()
# --- sizes -------------------------------------------------------------------------------------
add("size", "10MB-line", track_text(properties={"pad": "@@"}), "invalid:oversize",
    {"at": "@@", "unit": "x", "times": 10_000_000})
add("size", "10MB-of-spaces", " @@" + track_text(), "invalid:oversize", {"at": "@@", "unit": " ", "times": 10_000_000})
add("size", "600KB-batch", '{"batch":[@@' + B0 + "]}", "invalid:oversize",
    {"at": "@@", "unit": track_text(properties={"pad": "p" * 900}) + ",", "times": 640})
add("size", "event-40KB", track_text(properties={"pad": "@@"}), "invalid:oversize",
    {"at": "@@", "unit": "x", "times": 40_000})
add("size", "event-30KB", track_text(properties={"pad": "@@"}), "scored", {"at": "@@", "unit": "x", "times": 30_000})
add("size", "event-120KB-of-escapes-40KB-compact", track_text(properties={"pad": "@@"}), "invalid:oversize",
    {"at": "@@", "unit": "\\u00e9", "times": 20_000})  # 20k é = 40 KB raw UTF-8
add("size", "event-40KB-raw-of-spaces-small-compact", track_text() + "@@", "scored",
    {"at": "@@", "unit": " ", "times": 40_000})
add("size", "batch-element-40KB-beside-good", '{"batch":[' + track_text(properties={"pad": "@@"}) + "," +
    track_text() + "]}", ["invalid:oversize", "scored"], {"at": "@@", "unit": "x", "times": 40_000})
add("size", "batch-of-1000", '{"batch":[@@' + B0 + "]}", ["scored"] * 1000,
    {"at": "@@", "unit": B0 + ",", "times": 999})

# --- batches -----------------------------------------------------------------------------------
B = track_text()
add("batch", "empty", '{"batch":[]}', [])
add("batch", "not-a-list-object", '{"batch":{"a":1}}', "invalid:bad_batch")
add("batch", "not-a-list-string", '{"batch":"x"}', "invalid:bad_batch")
add("batch", "not-a-list-null", '{"batch":null}', "invalid:bad_batch")
add("batch", "not-a-list-number", '{"batch":3}', "invalid:bad_batch")
add("batch", "good-and-bad", '{"batch":[' + B + ',{"type":"track"},' + track_text(userId=[1]) + "]}",
    ["scored", "invalid", "invalid:bad_type"])
add("batch", "element-not-object", '{"batch":[' + B + ',1,"x",null,[],true]}',
    ["scored"] + ["invalid:not_object"] * 5)
add("batch", "nested-envelope", '{"batch":[{"batch":[' + B + "]}," + B + "]}", ["invalid:nested_batch", "scored"])
add("batch", "nested-envelope-with-type", '{"batch":[{"type":"track","batch":[]}]}', "invalid:nested_batch")
add("batch", "envelope-with-type-track", '{"type":"track","event":"Login","userId":"u","timestamp":"' + TS +
    '","batch":[]}', [])
add("batch", "envelope-context-merged", '{"context":{"groupId":"acct-env"},"batch":[' +
    track_text(context=DEL, userId=DEL) + "]}", "scored")
add("batch", "envelope-context-string-ignored", '{"context":"x","batch":[' + B + "]}", "scored")
add("batch", "envelope-context-list-ignored", '{"context":[1],"batch":[' + B + "]}", "scored")
add("batch", "envelope-sentAt-receivedAt", '{"sentAt":"2026-11-02T10:00:05Z","receivedAt":"2026-11-02T10:00:07Z",'
    '"batch":[' + track_text(timestamp=DEL, originalTimestamp="2026-11-02T10:00:00Z") + "]}", "scored")
add("batch", "envelope-receivedAt-only", '{"receivedAt":"' + TS + '","batch":[' + track_text(timestamp=DEL) + "]}",
    "scored")
add("batch", "envelope-bad-receivedAt-used", '{"receivedAt":"garbage","batch":[' + track_text(timestamp=DEL) + "]}",
    "invalid:bad_timestamp")
add("batch", "envelope-bad-sentAt-unused", '{"sentAt":"garbage","batch":[' + B + "]}", "scored")
add("batch", "mixed-calls", '{"batch":[' + ",".join([
    j({"type": "identify", "userId": "u", "timestamp": TS}),
    j({"type": "group", "userId": "u", "groupId": "g", "timestamp": TS}),
    j({"type": "page", "userId": "u", "timestamp": TS}), B,
    j({"type": "screen", "anonymousId": "a", "timestamp": TS}), j({"type": "boom", "timestamp": TS})]) + "]}",
    ["valid", "valid", "scored", "scored", "scored", "invalid:unknown_type"])
add("batch", "batch-in-properties-is-not-envelope", track_text(properties={"batch": [1]}), "scored")
add("batch", "batch-and-hostile-elements", '{"batch":[' + track_text(context={"groupId": "a\nb"}) + "," +
    track_text(timestamp="0000-01-01T00:00:00Z") + "," + track_text(timestamp="9999-12-31T23:59:59Z") + "]}",
    ["scored", "invalid:bad_timestamp", "invalid:future_timestamp"])
add("batch", "batch-deeply-nested-envelopes", '{"batch":[' * 50 + "]}" * 50, "invalid:nested_batch")

# --- duplicate keys (the last one wins, as in every JSON parser Pulse uses) -------------------------
add("dupkeys", "type-twice-last-identify", '{"type":"track","type":"identify","userId":"u","timestamp":"' + TS + '"}',
    "valid")
add("dupkeys", "type-twice-last-track", '{"type":"identify","type":"track","event":"Login","userId":"u",'
    '"timestamp":"' + TS + '"}', "scored")
add("dupkeys", "userId-twice-last-bad", B[:-1] + ',"userId":5.5}', "invalid:bad_type")
add("dupkeys", "userId-twice-last-good", '{"userId":5.5,' + B[1:], "scored")
add("dupkeys", "timestamp-twice-last-good", '{"timestamp":"garbage",' + B[1:], "scored")
add("dupkeys", "timestamp-twice-last-bad", B[:-1] + ',"timestamp":"garbage"}', "invalid:bad_timestamp")
add("dupkeys", "batch-twice-last-list", '{"batch":"x","batch":[' + B + "]}", "scored")
add("dupkeys", "batch-twice-last-string", '{"batch":[' + B + '],"batch":"x"}', "invalid:bad_batch")
add("dupkeys", "context-twice", B[:-1] + ',"context":{"groupId":"acct-second"}}', "scored")
add("dupkeys", "1000-duplicate-keys", "{@@" + B[1:], "scored", X("@@", '"type":"x",', 1000))


def main() -> None:
    names = [c["name"] for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, dupes
    with (HERE / "cases.jsonl").open("w", encoding="utf-8") as f:
        for c in CASES:
            f.write(json.dumps(c, ensure_ascii=True) + "\n")
    print(f"{len(CASES)} cases -> {HERE / 'cases.jsonl'}")


if __name__ == "__main__":
    main()
