"""The dashboard's web server (aiohttp): HTML pages, the JSON API under /api/, live updates (SSE).

    /              Portfolio            /api/portfolio?trait=
    /at-risk       At-risk list         /api/at-risk?band=&trait=&value=&owner=&sort=mrr|drop
    /account?id=   Account page         /api/account?id=
    /pql           PQLs                 /api/pql
                                        /api/alerts   the latest alerts of all accounts
                                        /api/live     server-sent events: `alert`, `status`
    /healthz       200 once loaded (503 while loading), with the loading phase
    /static/...    CSS and JS shipped in the package
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from scoring.timefmt import format_us
from streams.dashboard import pages
from streams.dashboard.delivery import delivery_status
from streams.dashboard.follow import Follower
from streams.dashboard.views import Views

STATIC = Path(__file__).parent / "static"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": "default-src 'self'; style-src 'self'; "
                                                            "img-src 'self' data:; object-src 'none'",
                                 "X-Content-Type-Options": "nosniff"})


@dataclass
class Dashboard:
    views: Views
    follower: Follower
    redis_url: str | None
    redis_prefix: str
    sse_interval: float = 2.0

    def status(self) -> dict[str, Any]:
        f = self.follower
        return {"ready": f.ready, "phase": f.phase, "accounts": f.rm.scored,
                "alerts": f.book.count, "updated_at": f.updated_at, "behind": f.behind(),
                "as_of": self._as_of(), "now": time.time()}

    def _as_of(self) -> str | None:
        rm = self.follower.rm
        return format_us(rm.clock_max) if rm.scored else None

    def _q(self, req: web.Request, key: str) -> str | None:
        v = req.query.get(key)
        return v if v else None

    # -- JSON ---------------------------------------------------------------
    async def api_portfolio(self, req: web.Request) -> web.Response:
        return _json(self.views.portfolio(self._q(req, "trait")))

    def _risk(self, req: web.Request) -> dict[str, Any]:
        sort = "drop" if req.query.get("sort") == "drop" else "mrr"
        return self.views.at_risk(self._q(req, "band"), self._q(req, "trait"), self._q(req, "value"),
                                  self._q(req, "owner"), sort)

    async def api_at_risk(self, req: web.Request) -> web.Response:
        return _json(self._risk(req))

    async def _account(self, req: web.Request) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        a = self.views.account(req.query.get("id", ""))
        if a is None:
            return None, {}
        ids = [al["alert_id"] for al in a["alerts"]]
        return a, await delivery_status(self.redis_url, self.redis_prefix, ids)

    async def api_account(self, req: web.Request) -> web.Response:
        a, deliveries = await self._account(req)
        if a is None:
            return _json({"error": "no such account"}, 404)
        for al in a["alerts"]:
            al["delivery"] = deliveries.get(al["alert_id"])
        return _json(a)

    async def api_pql(self, req: web.Request) -> web.Response:
        return _json(self.views.pql())

    async def api_alerts(self, req: web.Request) -> web.Response:
        return _json([{k: v for k, v in a.items() if k != "at_us"}
                      for a in reversed(self.follower.book.recent)])

    async def healthz(self, req: web.Request) -> web.Response:
        st = self.status()
        return _json(st, 200 if st["ready"] else 503)

    async def live(self, req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(req)
        q = self.follower.book.subscribe()
        try:
            await resp.write(b"event: status\ndata: " + orjson.dumps(self.status()) + b"\n\n")
            while True:
                try:
                    alert = await asyncio.wait_for(q.get(), self.sse_interval)
                    data = {k: v for k, v in alert.items() if k != "at_us"}
                    await resp.write(b"event: alert\ndata: " + orjson.dumps(data) + b"\n\n")
                except TimeoutError:
                    await resp.write(b"event: status\ndata: " + orjson.dumps(self.status()) + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.follower.book.unsubscribe(q)
        return resp

    # -- HTML ---------------------------------------------------------------
    def _page(self, title: str, active: str, body: str, status: int = 200) -> web.Response:
        as_of = self._as_of()
        if not self.follower.ready:
            body = f'<p class="loading" role="status">Loading: {pages.esc(self.follower.phase)}…</p>' + body
        recent = list(reversed(self.follower.book.recent))
        return _html(pages.layout(title, active, body, as_of, recent), status)

    async def page_portfolio(self, req: web.Request) -> web.Response:
        body = pages.portfolio(self.views.portfolio(self._q(req, "trait")))
        return self._page("Portfolio", "portfolio", body)

    async def page_at_risk(self, req: web.Request) -> web.Response:
        r = self._risk(req)
        trait = r["filters"]["trait"]
        values = self.views.values(trait) if trait else []
        return self._page("At risk", "at-risk", pages.at_risk(r, values))

    async def page_account(self, req: web.Request) -> web.Response:
        a, deliveries = await self._account(req)
        if a is None:
            return self._page("No such account", "", "<p>No account with that id has been scored.</p>", 404)
        return self._page(f"Account {a['snapshot']['account']}", "", pages.account(a, deliveries))

    async def page_pql(self, req: web.Request) -> web.Response:
        return self._page("Product-qualified leads", "pql", pages.pql(self.views.pql()))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.page_portfolio)
        app.router.add_get("/at-risk", self.page_at_risk)
        app.router.add_get("/account", self.page_account)
        app.router.add_get("/pql", self.page_pql)
        app.router.add_get("/api/portfolio", self.api_portfolio)
        app.router.add_get("/api/at-risk", self.api_at_risk)
        app.router.add_get("/api/account", self.api_account)
        app.router.add_get("/api/pql", self.api_pql)
        app.router.add_get("/api/alerts", self.api_alerts)
        app.router.add_get("/api/live", self.live)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_static("/static/", STATIC)
        return app
