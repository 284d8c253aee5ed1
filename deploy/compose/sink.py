"""A webhook sink for docker-compose.yml: answers 204 to every POST and prints one line per
request (`docker compose logs -f sinks`), so the compose notifier has somewhere to deliver.
Standard library only: it runs in the Pulse image (`python /opt/pulse/sink.py [PORT]`)."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            alert = json.loads(body)
            line = (f"{self.path} {alert.get('kind')} {alert.get('account')}: "
                    f"{alert.get('from')} -> {alert.get('to')} ({alert.get('reason')})")
        except ValueError:
            line = f"{self.path} {len(body)} bytes (not JSON)"
        print(f"[sink] {line} webhook-id={self.headers.get('webhook-id')}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # the line above is the log
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = Server(("0.0.0.0", port), Sink)
    print(f"[sink] listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
