"""An independent, deliberately naive re-reading of the Events and scoring rules of the spec.

Written from the spec alone, without reading or importing `scoring/` or `streams/`, as the
differential oracle of `tests/unit/test_differential.py` and `tests/unit/test_client_shapes.py`.
It keeps every accepted event and recomputes window scores by brute force; decay mode keeps
(score, clock) per account and adds an older event with its decayed weight. Times are integer
microseconds. Only the counts, scores, bands and changes are modelled (no reason codes, no
health, no explanations).

`run(events_path, model_path, now_us=None, skew_s=300)`: `now_us` is the wall-clock instant of
the future-skew rule (None: no check).
"""
import json, tomllib
from datetime import datetime, timedelta, timezone

US = 1_000_000
DIG = "0123456789"
MAX_EVENT = 32_768
MAX_RECORD = 500_000
CALLS = ("track", "page", "screen", "identify", "group", "alias", "delete")
NAMES = ["at_risk", "red", "yellow", "green", "thriving"]


def band(s, b):
    if s < b["at_risk_below"]: return 0
    if s <= b["red_max"]: return 1
    if s <= b["yellow_max"]: return 2
    if s <= b["green_max"]: return 3
    return 4


def digits(s):
    return len(s) > 0 and all(c in DIG for c in s)


def iso_us(s):
    """YYYY-MM-DD, T or space, HH:MM:SS, optional .fraction (cut at 6 digits), zone Z/z/±HH:MM/±HHMM/none."""
    if not isinstance(s, str) or len(s) < 19:
        return None
    d, sep, t, rest = s[:10], s[10], s[11:19], s[19:]
    if sep not in ("T", " "):
        return None
    if d[4] != "-" or d[7] != "-" or not digits(d[:4] + d[5:7] + d[8:10]):
        return None
    if t[2] != ":" or t[5] != ":" or not digits(t[:2] + t[3:5] + t[6:8]):
        return None
    hh, mi, ss = int(t[:2]), int(t[3:5]), int(t[6:8])
    if hh > 23 or mi > 59 or ss > 59:
        return None
    try:
        day = datetime(int(d[:4]), int(d[5:7]), int(d[8:10]), tzinfo=timezone.utc)
    except ValueError:
        return None
    micro = 0
    if rest.startswith("."):
        j = 1
        while j < len(rest) and rest[j] in DIG:
            j += 1
        if j == 1:
            return None
        micro = int((rest[1:j] + "000000")[:6])
        rest = rest[j:]
    if rest in ("", "Z", "z"):
        off = 0
    elif len(rest) in (5, 6) and rest[0] in "+-":
        hm = rest[1:3] + rest[4:6] if len(rest) == 6 else rest[1:5]
        if len(rest) == 6 and rest[3] != ":":
            return None
        if not digits(hm) or int(hm[:2]) > 23 or int(hm[2:]) > 59:
            return None
        off = (int(hm[:2]) * 60 + int(hm[2:])) * 60 * US
        if rest[0] == "-":
            off = -off
    else:
        return None
    days = (day - datetime(1970, 1, 1, tzinfo=timezone.utc)).days
    return (days * 86400 + hh * 3600 + mi * 60 + ss) * US + micro - off


def absent(v):
    return v is None or (isinstance(v, str) and v == "")


def an_id(v):
    """(valid?, value as a string or None)"""
    if absent(v): return True, None
    if isinstance(v, bool): return False, None
    if isinstance(v, str): return True, v
    if isinstance(v, int): return True, str(v)
    return False, None


def an_obj(v):
    if absent(v) or (isinstance(v, list) and len(v) == 0): return True, {}
    if isinstance(v, dict): return True, v
    return False, None


def size(o):
    # the event as the client wrote it: the server's receivedAt stamp is not counted
    body = {k: v for k, v in o.items() if k != "receivedAt"}
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


class Bad(Exception):
    pass


def event_time(e, env_sent, env_recv):
    def val(k):
        v = e.get(k)
        if absent(v) and k == "sentAt": v = env_sent
        if absent(v) and k == "receivedAt": v = env_recv
        return None if absent(v) else v

    def need(v):
        t = iso_us(v)
        if t is None: raise Bad()
        return t
    if val("timestamp") is not None:
        return need(val("timestamp"))
    o, s, r = val("originalTimestamp"), val("sentAt"), val("receivedAt")
    if o is not None and s is not None and r is not None:
        return need(r) - (need(s) - need(o))
    if o is not None: return need(o)
    if r is not None: return need(r)
    raise Bad()


def check(e, env_ctx, env_sent, env_recv, now_us, skew_us):
    """A valid call as a small dict, or raise Bad."""
    typ = e.get("type")
    if not isinstance(typ, str) or typ not in CALLS: raise Bad()
    ids = {}
    for k in ("userId", "anonymousId", "groupId", "messageId"):
        ok, ids[k] = an_id(e.get(k))
        if not ok: raise Bad()
    ev = e.get("event")
    if absent(ev): ev = None
    elif not isinstance(ev, str): raise Bad()
    objs = {}
    for k in ("context", "properties", "traits"):
        ok, objs[k] = an_obj(e.get(k))
        if not ok: raise Bad()
    ctx = objs["context"]
    if isinstance(env_ctx, dict):
        ctx = {**env_ctx, **ctx}
    ok, cg = an_id(ctx.get("groupId"))
    if not ok: raise Bad()
    ok, pa = an_id(objs["properties"].get("accountId"))
    if not ok: raise Bad()
    t = event_time(e, env_sent, env_recv)
    if now_us is not None and t > now_us + skew_us: raise Bad()
    sender = ids["userId"] if ids["userId"] is not None else ids["anonymousId"]
    if typ == "track" and ev is None: raise Bad()
    if typ == "group" and (ids["groupId"] is None or sender is None): raise Bad()
    name = {"page": "Page Viewed", "screen": "Screen Viewed"}.get(typ, ev)
    return dict(type=typ, t=t, name=name, sender=sender, group=ids["groupId"], mid=ids["messageId"],
                hint=cg if cg is not None else pa)


def run(events, model, now_us=None, skew_s=300):
    m = tomllib.load(open(model, "rb")); sc = m["score"]; B = m["bands"]; Wt = m["weights"]
    h = sc.get("hysteresis", 0.0); mode = sc["mode"]; bs = sc.get("bucket_seconds", 86400) * US
    W = sc["window_days"] * 86400 * US // bs
    hl = sc.get("half_life_days", 14) * 86400 * US; mem = sc["window_days"] * 86400 * US
    day = 86400 * US; skew_us = int(skew_s * US)
    acc = {}  # id -> dict(C, ev=[(t, w)], band, ds)
    groups = {}; pairs = {}; cnt = dict(accepted=0, duplicate=0, late=0, invalid=0)
    changes = []; stream = None; next_pt = None

    def score(a, C):
        st = acc[a]
        if mode == "window":
            return float(sum(w for t, w in st["ev"] if t // bs > C // bs - W))
        return st["ds"] * 2 ** (-(C - st["C"]) / hl)

    def advance(a, C):
        st = acc[a]
        if C > st["C"]:
            if mode == "decay": st["ds"] = score(a, C)
            st["C"] = C

    def evaluate(a):
        st = acc[a]; s = score(a, st["C"]); b = band(s, B)
        if st["band"] is None:
            st["band"] = b; changes.append((a, None, b, s, st["C"])); return
        cur = st["band"]
        if b > cur and band(s - h, B) > cur or b < cur and band(s + h, B) < cur:
            st["band"] = b; changes.append((a, cur, b, s, st["C"]))

    def handle(e, env_ctx=None, env_sent=None, env_recv=None):
        nonlocal stream, next_pt
        try:
            c = check(e, env_ctx, env_sent, env_recv, now_us, skew_us)
        except Bad:
            cnt["invalid"] += 1; return
        if c["type"] == "group":
            groups[c["sender"]] = c["group"]; return
        if c["type"] not in ("track", "page", "screen"): return
        a = c["hint"] or (groups.get(c["sender"]) if c["sender"] is not None else None) or c["sender"]
        if a is None:
            cnt["invalid"] += 1; return
        t = c["t"]
        if next_pt is None:
            next_pt = (t // day + 1) * day
        while next_pt <= t:
            for k in sorted(acc): advance(k, next_pt); evaluate(k)
            next_pt += day
        stream = t if stream is None else max(stream, t)
        mid = c["mid"]
        C = acc[a]["C"] if a in acc else None
        if mid is not None and (a, mid) in pairs:
            if C - pairs[(a, mid)] > mem: del pairs[(a, mid)]
            else: cnt["duplicate"] += 1; return
        if mode == "window" and C is not None and t // bs <= C // bs - W:
            cnt["late"] += 1
            if mid is not None: pairs[(a, mid)] = C
            return
        w = float(Wt.get(c["name"], 0))
        if a not in acc: acc[a] = dict(C=t, ev=[], band=None, ds=0.0)
        st = acc[a]
        if mode == "decay":
            if t >= st["C"]:
                advance(a, t); st["ds"] += w
            else:
                st["ds"] += w * 2 ** (-(st["C"] - t) / hl)
        st["ev"].append((t, w)); st["C"] = max(st["C"], t)
        cnt["accepted"] += 1
        if mid is not None: pairs[(a, mid)] = st["C"]
        evaluate(a)

    def strict_json(raw):
        def no_const(x): raise ValueError(x)
        return json.loads(raw, parse_constant=no_const)

    for line in open(events, "rb"):
        if line.endswith(b"\r\n"): line = line[:-2]
        elif line.endswith(b"\n"): line = line[:-1]
        if not line.strip(): continue
        if len(line) > MAX_RECORD: cnt["invalid"] += 1; continue
        try: o = strict_json(line)
        except Exception: cnt["invalid"] += 1; continue
        if not isinstance(o, dict): cnt["invalid"] += 1; continue
        if "batch" in o:
            if not isinstance(o["batch"], list): cnt["invalid"] += 1; continue
            ectx = o.get("context") if isinstance(o.get("context"), dict) else None
            for el in o["batch"]:
                if not isinstance(el, dict) or "batch" in el or size(el) > MAX_EVENT:
                    cnt["invalid"] += 1; continue
                handle(el, ectx, o.get("sentAt"), o.get("receivedAt"))
        elif size(o) > MAX_EVENT:
            cnt["invalid"] += 1
        else:
            handle(o)
    if stream is not None:
        for k in sorted(acc): advance(k, stream); evaluate(k)
    iso = lambda t: (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=t)).isoformat()
    scores = [{"account": k, "score": score(k, acc[k]["C"]), "band": NAMES[acc[k]["band"]]} for k in sorted(acc)]
    ch = [{"account": a, "from": None if f is None else NAMES[f], "to": NAMES[b], "score": s, "at": iso(C)}
          for a, f, b, s, C in changes]
    summ = dict(cnt, accounts=len(acc), changes=len(ch))
    return scores, ch, summ
