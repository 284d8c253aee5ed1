"""The hostile input corpus (tests/data/hostile/cases.jsonl) and streams with some of it mixed in.

`load` reads the corpus (or any file in its format: a held-out corpus): one JSON object per line
with `name`, the record as `text` or `b64`, optional `expand` (a marker replaced by a repeated
unit, for the 10 MB cases) and `expect` (one outcome token per event: `scored`, `valid`,
`invalid[:reason]`, or `any`). `mix` replaces a fraction of a generated stream's records with
corpus cases that are wholly invalid, for `pulse bench stream --hostile-fraction` and its test.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "hostile" / "cases.jsonl"


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: list[str]

    @property
    def scored(self) -> int:
        return self.expect.count("scored")

    @property
    def invalid(self) -> int:
        return sum(1 for e in self.expect if e.startswith("invalid"))

    @property
    def pinned(self) -> bool:
        """Every outcome is pinned (no `any`)."""
        return "any" not in self.expect


def load(path: Path = CORPUS) -> list[Case]:
    cases = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        d = orjson.loads(line)
        raw = base64.b64decode(d["b64"]) if "b64" in d else d["text"].encode("utf-8")
        for x in d.get("expand", []):
            raw = raw.replace(x["at"].encode(), x["unit"].encode("utf-8") * x["times"])
        cases.append(Case(d["name"], raw, list(d["expect"])))
    return cases


def wholly_invalid(cases: list[Case], max_bytes: int = 64 * 1024) -> list[Case]:
    """The cases every event of which is a dead letter with a pinned reason, at most `max_bytes`
    (the broker refuses records over 1 MB; the large cases would dominate a stream's bytes)."""
    return [c for c in cases if c.pinned and c.expect and len(c.raw) <= max_bytes
            and all(e.startswith("invalid:") for e in c.expect)]


@dataclass(frozen=True)
class Mixed:
    records: list[bytes]  # the stream, in order (offset i on one partition = records[i])
    hostile: dict[int, Case]  # index -> the case put there
    good: list[bytes]  # the records that were kept, in order


def mix(lines: list[bytes], fraction: float, cases: list[Case]) -> Mixed:
    """`lines` with every (1/fraction)-th record replaced by the next case (round robin): the
    same number of records, `fraction` of them hostile."""
    if not 0 < fraction < 1 or not cases:
        return Mixed(list(lines), {}, list(lines))
    every = max(1, round(1 / fraction))
    records: list[bytes] = []
    hostile: dict[int, Case] = {}
    good: list[bytes] = []
    for i, line in enumerate(lines):
        if i % every == every // 2:
            case = cases[len(hostile) % len(cases)]
            hostile[i] = case
            records.append(case.raw)
        else:
            records.append(line)
            good.append(line)
    return Mixed(records, hostile, good)
