"""An independent, deliberately naive re-reading of DESIGN.md (window mode).

Written by a second engineer from DESIGN.md alone, without reading `scoring/` or `streams/`, to
double-check the hand-computed worked examples; kept as the differential oracle of
`tests/unit/test_differential.py`. It keeps every accepted event and recomputes window scores by
brute force. Limits: whole-second timestamps, decay mode only for in-order events, no size
limits (the generated telemetry has none of those).
"""
import json, sys, math, tomllib
from datetime import datetime, timezone

def band(s, b):
    if s < b["at_risk_below"]: return 0
    if s <= b["red_max"]: return 1
    if s <= b["yellow_max"]: return 2
    if s <= b["green_max"]: return 3
    return 4
NAMES = ["at_risk", "red", "yellow", "green", "thriving"]

def run(events, model):
    m = tomllib.load(open(model, "rb")); sc = m["score"]; B = m["bands"]; Wt = m["weights"]
    h = sc["hysteresis"]; mode = sc["mode"]; bs = sc["bucket_seconds"]; W = sc["window_days"]*86400//bs
    hl = sc.get("half_life_days", 14)*86400; mem = sc["window_days"]*86400
    acc = {}  # id -> dict(C, ev list, band, score, dscore)
    groups = {}; pairs = {}; cnt = dict(accepted=0, duplicate=0, late=0, invalid=0)
    changes = []; stream = None; first = None; next_pt = None
    def score(a, C):
        st = acc[a]
        if mode == "window":
            return float(sum(w for t, w in st["ev"] if t // bs > C // bs - W))
        return st["ds"] * 2 ** (-(C - st["C"]) / hl)
    def advance(a, C):
        st = acc[a]
        if mode == "decay":
            st["ds"] = score(a, C)
        st["C"] = max(st["C"], C)
    def evaluate(a):
        st = acc[a]; s = score(a, st["C"]); b = band(s, B)
        if st["band"] is None:
            st["band"] = b; changes.append((a, None, b, s, st["C"])); return
        cur = st["band"]
        if b > cur and band(s - h, B) > cur or b < cur and band(s + h, B) < cur:
            st["band"] = b; changes.append((a, cur, b, s, st["C"]))
    def handle(e):
        nonlocal stream, first, next_pt
        if not isinstance(e, dict): cnt["invalid"] += 1; return
        for k in ("userId", "anonymousId", "messageId", "event"):
            if k in e and e[k] is not None and not isinstance(e[k], str): cnt["invalid"] += 1; return
        for k in ("context", "properties", "traits"):
            if k in e and e[k] is not None and not isinstance(e[k], dict): cnt["invalid"] += 1; return
        g = lambda d, k: (d or {}).get(k) or None
        typ = e.get("type")
        if typ not in ("track", "page", "screen", "identify", "group"): cnt["invalid"] += 1; return
        ts = e.get("timestamp")
        try:
            dt = datetime.fromisoformat(ts)
            if dt.tzinfo is None: raise ValueError
            t = int(dt.timestamp())
        except Exception:
            cnt["invalid"] += 1; return
        if typ == "identify": return
        if typ == "group":
            if not g(e, "userId") or not g(e, "groupId"): cnt["invalid"] += 1; return
            groups[e["userId"]] = e["groupId"]; return
        name = {"page": "Page Viewed", "screen": "Screen Viewed"}.get(typ) or g(e, "event")
        a = g(e.get("context"), "groupId") or g(e.get("properties"), "accountId") \
            or (groups.get(e["userId"]) if g(e, "userId") else None) or g(e, "userId") or g(e, "anonymousId")
        if not a: cnt["invalid"] += 1; return
        if first is None:
            first = t; next_pt = (t // 86400 + 1) * 86400
        while next_pt <= t:
            for k in sorted(acc): advance(k, next_pt); evaluate(k)
            next_pt += 86400
        stream = t if stream is None else max(stream, t)
        mid = g(e, "messageId")
        C = acc[a]["C"] if a in acc else None
        if mid is not None and (a, mid) in pairs:
            if C - pairs[(a, mid)] > mem: del pairs[(a, mid)]
            else: cnt["duplicate"] += 1; return
        if mode == "window" and C is not None and t // bs <= C // bs - W:
            cnt["late"] += 1
            if mid is not None: pairs[(a, mid)] = C
            return
        w = float(Wt.get(name, 0))
        if a not in acc: acc[a] = dict(C=t, ev=[], band=None, ds=0.0)
        st = acc[a]
        if mode == "decay":
            assert t >= st["C"], "ooo in decay example"
            advance(a, t); st["ds"] += w
        st["ev"].append((t, w)); st["C"] = max(st["C"], t)
        cnt["accepted"] += 1
        if mid is not None: pairs[(a, mid)] = st["C"]
        evaluate(a)
    for line in open(events, "rb"):
        if not line.strip(): continue
        try: o = json.loads(line)
        except Exception: cnt["invalid"] += 1; continue
        if isinstance(o, dict) and "batch" in o:
            if not isinstance(o["batch"], list): cnt["invalid"] += 1; continue
            ectx = o.get("context") or {}
            for el in o["batch"]:
                if isinstance(el, dict) and isinstance(el.get("context", {}), dict):
                    el = dict(el); el["context"] = {**ectx, **(el.get("context") or {})}
                handle(el)
        else: handle(o)
    for k in sorted(acc): advance(k, stream); evaluate(k)
    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).isoformat()
    scores = [{"account": k, "score": score(k, acc[k]["C"]), "band": NAMES[acc[k]["band"]]} for k in sorted(acc)]
    ch = [{"account": a, "from": None if f is None else NAMES[f], "to": NAMES[b], "score": s, "at": iso(C)} for a, f, b, s, C in changes]
    summ = dict(cnt, accounts=len(acc), changes=len(ch))
    return scores, ch, summ
