"""A real HTTP server on 127.0.0.1 standing in for openrouter.ai in tests.

Each path has a queue of canned responses (the last one repeats), so a test can script
"429, then 200" or swap the 2026-07-12 capture for the 2026-08-22 one between polls. It runs in
a thread, so async tests and CLI subprocesses can both reach it. Requests are recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openrouter"

MODELS = "/api/frontend/v1/rankings/models"
MARKET = "/api/frontend/v1/rankings/market-share"
DAILY = "/api/v1/datasets/rankings-daily"
MODEL_LIST = "/api/v1/models"

# The tracker fixtures renamed OpenRouter's fields; SOURCES.md lists the renames we undo here.
RAW_NAMES = {
    "permaslug": "model_permaslug",
    "prompt_tokens": "total_prompt_tokens",
    "completion_tokens": "total_completion_tokens",
    "reasoning_tokens": "total_native_tokens_reasoning",
    "requests": "count",
}


def real_models_payload(day: str) -> dict:
    """The real rankings/models rows captured on `day`, under OpenRouter's own field names."""
    path = FIXTURES / f"token-economy-tracker_openrouter_{day}.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["payload"]["models_week"]
    return {"data": [{RAW_NAMES.get(k, k): v for k, v in row.items()} for row in rows]}


def market_share_payload() -> dict:
    """market-share shape rebuilt from the EG_Dashboard excerpt (derived from the real endpoint):
    {"data": [{"x": Monday, "ys": {author: tokens, ..., "others": n}}]}; zeros meant "not named"."""
    path = FIXTURES / "eg_dashboard_openrouter-rankings-data_2026-09-02_marketShare_excerpt.json"
    chart = json.loads(path.read_text(encoding="utf-8"))["marketShare"]
    data = []
    for i, monday in enumerate(chart["dates"]):
        ys = {s["key"]: s["values"][i] for s in chart["series"] if s["values"][i]}
        data.append({"x": monday, "ys": ys})
    return {"data": data}


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # to provoke client timeouts (the client's limit is set tiny)
    drip_s: float = 0.0  # pause between 100-byte pieces of the body: slow but never silent


def json_response(payload, status: int = 200, **headers) -> Canned:
    return Canned(
        status,
        json.dumps(payload).encode("utf-8"),
        {"Content-Type": "application/json", **headers},
    )


class OpenRouterStandIn:
    def __init__(self) -> None:
        self.routes: dict[str, list[Canned]] = defaultdict(list)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                server.requests.append(
                    {
                        "path": parts.path,
                        "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                        "authorization": self.headers.get("Authorization"),
                        "accept": self.headers.get("Accept"),
                    }
                )
                queue = server.routes.get(parts.path)
                canned = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else Canned(404)
                if canned.delay_s:
                    time.sleep(canned.delay_s)
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                # The client may have given up already (timeout tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if not canned.drip_s:
                        self.wfile.write(canned.body)
                    for i in range(0, len(canned.body) if canned.drip_s else 0, 100):
                        self.wfile.write(canned.body[i : i + 100])
                        self.wfile.flush()
                        time.sleep(canned.drip_s)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def set(self, path: str, *responses: Canned) -> None:
        self.routes[path] = list(responses)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
