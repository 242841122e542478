"""Where the CPU time of one listing request goes, measured stage by stage in one process.

Run by bench/products_listing.py in a child process pinned like the servers. Each stage is
the previous one plus one more step of the request, in a fresh session like a real request,
and runs `--iterations` times in a row. The stages take turns for `--rounds` rounds and the
median per stage is kept, so a burst of other work on the machine hits all of them alike.
The difference between two stages is the CPU cost of the step between them:

    session        check a connection out, BEGIN, COMMIT
    auth           + the dev token's RS256 check and the user row
    gps fix        + the location update (record_fix: the user and stay UPDATEs)
    page query     + the page of products and its photos (SQLAlchemy Core rows)
    page out       + the response models and their JSON
    asgi request   the whole request through the app (middleware, routing, dependencies,
                   response validation, the request log line), without a socket
    bare request   bench/products_bare.py's whole request, without a socket

Printed as one JSON line: {"stage": ms of CPU per request, ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

Step = Callable[[int], Awaitable[Any]]


async def _asgi_get(app: Any, path: str, token: str) -> int:
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "root_path": "",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _lifespan(app: Any) -> tuple[asyncio.Queue[dict[str, str]], asyncio.Task[None]]:
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.Event()

    async def receive() -> dict[str, str]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await queue.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), timeout=120)
    return queue, task


async def measure(args: argparse.Namespace) -> dict[str, float]:
    import bench.products_bare as bare

    from taskgo.app import create_fastapi_app
    from taskgo.auth.service import authenticate
    from taskgo.db.session import commit, get_sessionmaker
    from taskgo.products import service
    from taskgo.products.router import page_response

    tokens = args.tokens_file.read_text().split()
    path = args.path
    app = create_fastapi_app()
    queue, life = await _lifespan(app)
    bare_queue, bare_life = await _lifespan(bare.app)
    sessions = get_sessionmaker()
    lat, lng = -24.9555, -53.4552

    async def request_like(index: int, depth: int) -> None:
        async with sessions() as session:
            await session.connection()
            if depth >= 1:
                user, _ = await authenticate(session, tokens[index % len(tokens)])
            if depth >= 2:
                city_id = await service.resolve_listing_city(
                    session, user=user, lat=lat, lng=lng, accuracy=None
                )
            if depth >= 3:
                page = await service.list_city_products(
                    session,
                    city_id=city_id,
                    filters=service.ListingFilters(),
                    cursor=None,
                    limit=20,
                )
            if depth >= 4:
                page_response(page, city_id=city_id)
            await commit(session)

    def depth_step(depth: int) -> Step:
        return lambda index: request_like(index, depth)

    stages: dict[str, Step] = {
        "session": depth_step(0),
        "auth": depth_step(1),
        "gps fix": depth_step(2),
        "page query": depth_step(3),
        "page out": depth_step(4),
        "asgi request": lambda index: _asgi_get(app, path, tokens[index % len(tokens)]),
        "bare request": lambda index: _asgi_get(bare.app, path, tokens[index % len(tokens)]),
    }
    samples: dict[str, list[float]] = {name: [] for name in stages}
    for step in stages.values():  # warm caches: prepared statements, compiled SQL
        for index in range(30):
            await step(index)
    for _ in range(args.rounds):
        for name, step in stages.items():
            started = time.process_time()
            for index in range(args.iterations):
                await step(index)
            samples[name].append((time.process_time() - started) * 1000 / args.iterations)
    for waiting, task in ((queue, life), (bare_queue, bare_life)):
        await waiting.put({"type": "lifespan.shutdown"})
        await task
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def run() -> None:
    parser = argparse.ArgumentParser(description="CPU per stage of the products listing request.")
    parser.add_argument(
        "--tokens-file", type=lambda value: __import__("pathlib").Path(value), required=True
    )
    parser.add_argument("--path", required=True)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The environment (DATABASE_URL, dev auth, BARE_*) is set by the caller.
    os.environ.setdefault("LOG_LEVEL", "INFO")
    result = asyncio.run(measure(args))
    print("BREAKDOWN " + json.dumps(result), flush=True)


if __name__ == "__main__":
    run()
