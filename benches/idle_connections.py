#!/usr/bin/env python3
"""The HTTP endpoint under idle and stalled clients: starts the daemon on
127.0.0.1 with examples/fleet.json, holds IDLE idle TCP connections and SLOW
clients that send half a request head and stall, then times GET /healthz and
GET /metrics on fresh connections (Connection: close), ROUNDS times a second
apart. With `reconnect`, each held connection the daemon closes is opened
again at once, so that IDLE + SLOW stay held for the whole run. Prints the
daemon's RSS before and while holding.

  python3 benches/idle_connections.py [BINARY] [IDLE=1000] [SLOW=10] [ROUNDS=5] [reconnect]

BINARY defaults to target/release/routewarden. The contract (docs/metrics.md):
with 1,000 idle connections held, /healthz within 1 s and /metrics within 2 s.
Everything stays on 127.0.0.1; the client needs IDLE + SLOW + 50 open files."""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(__file__), "..")
args = [a for a in sys.argv[1:] if a != "reconnect"]
reconnect = "reconnect" in sys.argv[1:]
binary = args[0] if args else os.path.join(ROOT, "target", "release", "routewarden")
idle_n = int(args[1]) if len(args) > 1 else 1000
slow_n = int(args[2]) if len(args) > 2 else 10
rounds = int(args[3]) if len(args) > 3 else 5
GIVE_UP = 60  # seconds a request may take before it counts as unanswered


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


async def get(port, path):
    """(status, seconds); status 0 when nothing answered within GIVE_UP."""
    start = time.monotonic()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), GIVE_UP)
        w.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(r.read(), GIVE_UP - (time.monotonic() - start))
        w.close()
    except (asyncio.TimeoutError, OSError):
        return 0, time.monotonic() - start
    return (int(data.split(b" ")[1]) if data else 0), time.monotonic() - start


async def hold(port, head, stop):
    """One held connection (sending `head` if any); reopened when closed if asked."""
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            if head:
                w.write(head)
            await r.read()  # returns when the daemon closes it
            w.close()
        except OSError:
            await asyncio.sleep(0.1)
        if not reconnect:
            await stop.wait()


def show(path, answer):
    status, took = answer
    return f"{path} {status or 'no answer'} in {took:.3f} s"


async def measure(port, pid):
    print(f"daemon RSS before: {rss_kib(pid)} KiB")
    print(f"unloaded: {show('/healthz', await get(port, '/healthz'))}, {show('/metrics', await get(port, '/metrics'))}")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(hold(port, b"", stop)) for _ in range(idle_n)]
    slow_head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "
    tasks += [asyncio.create_task(hold(port, slow_head, stop)) for _ in range(slow_n)]
    await asyncio.sleep(0.5)
    print(f"holding {idle_n} idle + {slow_n} slow-header connections"
          f"{', reopened when closed' if reconnect else ''}; daemon RSS {rss_kib(pid)} KiB")
    worst = [0.0, 0.0]
    for i in range(rounds):
        h = await get(port, "/healthz")
        m = await get(port, "/metrics")
        worst = [max(worst[0], h[1]), max(worst[1], m[1])]
        print(f"round {i + 1}: {show('/healthz', h)}, {show('/metrics', m)}")
        await asyncio.sleep(1)
    print(f"worst: /healthz {worst[0]:.3f} s, /metrics {worst[1]:.3f} s")
    stop.set()
    for t in tasks:
        t.cancel()


def main():
    port = free_port()
    home = tempfile.mkdtemp()
    env = {"PATH": os.environ["PATH"], "HOME": home, "AWS_ACCESS_KEY_ID": "AKIDROUTEWARDENBENCH",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    daemon = subprocess.Popen(
        [binary, "--listen", f"127.0.0.1:{port}", "--log-format", "json",
         "--routes", os.path.join(ROOT, "examples", "fleet.json")],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(home, "daemon.log"), "w"))
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(get(port, "/readyz"))[0] != 200:
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit(f"the daemon did not become ready; see {home}/daemon.log")
            time.sleep(0.1)
        asyncio.run(measure(port, daemon.pid))
    finally:
        daemon.kill()
        daemon.wait()


if __name__ == "__main__":
    main()
