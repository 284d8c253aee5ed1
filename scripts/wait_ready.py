"""Wait until a local service answers 200 on a URL (used by scripts/demo.sh).

    python scripts/wait_ready.py URL LOG [PID]

Polls URL every 0.1 s for up to 60 s. With PID, stops at once if that process has exited,
instead of polling a service that will never come up. Exits 0 when ready; otherwise exits
with a message that names the URL and the log file to read.
"""

from __future__ import annotations

import os
import sys
import time

import httpx


def main(url: str, log: str, pid: int | None) -> int:
    for _ in range(600):
        if pid is not None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                sys.exit(f"the service behind {url} exited before it was ready: see {log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return 0
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"no answer 200 from {url} within 60 s: see {log}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else None))
