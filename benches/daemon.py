#!/usr/bin/env python3
"""Daemon cost with 100k routes (fleet-file source): peak RSS, CPU time per
audit cycle, and CPU used while idle between cycles. The baseline, measured in
the same run, is CPython's json.load of the same fleet file: the least any
tool must spend just to read it.

Run with `bash benches/run.sh` (which builds the release binary first)."""

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

APIS, ROUTES_PER_API = 4000, 25
INTERVAL = 10  # seconds between cycle starts (the shortest the config takes)
CYCLES = 3
BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "routewarden")
TICK = os.sysconf("SC_CLK_TCK")


def fleet(path):
    auths = ["NONE", "JWT", "AWS_IAM", "CUSTOM", "JWT"]
    apis = []
    for a in range(APIS):
        routes = []
        for r in range(ROUTES_PER_API):
            i = a * ROUTES_PER_API + r
            route = {"RouteId": f"r{i:07d}", "RouteKey": f"GET /svc{a}/item{r}/{{id}}",
                     "AuthorizationType": auths[i % len(auths)], "Target": f"integrations/i{a}"}
            if route["AuthorizationType"] in ("JWT", "CUSTOM") and i % 7:
                route["AuthorizerId"] = "auth1"
            if route["AuthorizationType"] == "JWT" and i % 3:
                route["AuthorizationScopes"] = ["read"]
            routes.append(route)
        apis.append({"ApiId": f"api{a:06d}", "Name": f"service-{a}", "ProtocolType": "HTTP",
                     "Tags": {"env": "prod"}, "TargetName": f"account-{a % 20}", "Region": "eu-west-1",
                     "Routes": routes})
    with open(path, "w") as f:
        json.dump({"Apis": apis}, f)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def scrape(port, path="/metrics"):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def cycles(log):
    """Cycles finished so far, from the daemon's JSON log: reading it costs the
    daemon nothing, where scraping /metrics would be measured as its CPU."""
    with open(log) as f:
        return sum(1 for line in f if "audit cycle finished" in line)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    work = tempfile.mkdtemp(prefix="routewarden-bench-")
    path = os.path.join(work, "fleet-100k.json")
    fleet(path)
    size_mb = os.path.getsize(path) / 1e6

    # Baseline: CPython parsing the same file, in a child so its CPU is counted alone.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", f"import json; json.load(open({path!r}))"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    baseline_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    baseline_rss = after.ru_maxrss / 1024  # MiB (ru_maxrss is kB)

    config = os.path.join(work, "routewarden.toml")
    with open(config, "w") as f:
        f.write(f'[audit]\ninterval = "{INTERVAL}s"\njitter = "0s"\n')
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info", "HOME": work}
    log = os.path.join(work, "daemon.log")
    daemon = subprocess.Popen([BINARY, "-c", config, "--routes", path, "--listen", f"127.0.0.1:{port}",
                               "--log-format", "json"],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        deadline = time.time() + 120
        while cycles(log) < 1:
            assert time.time() < deadline, "no first cycle"
            time.sleep(0.2)
        # CPU per cycle, over CYCLES cycles, measured between cycle ends.
        start_cpu, start_n = cpu_seconds(daemon.pid), cycles(log)
        while cycles(log) < start_n + CYCLES:
            time.sleep(0.2)
        per_cycle = (cpu_seconds(daemon.pid) - start_cpu) / CYCLES
        # One scrape, to know what /metrics costs and that it works.
        scrape_cpu = cpu_seconds(daemon.pid)
        code, body = scrape(port)
        assert code == 200, code
        scrape_cpu = cpu_seconds(daemon.pid) - scrape_cpu
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        # Idle: a window inside the pause after a cycle, with no scrapes.
        n = cycles(log)
        while cycles(log) == n:
            time.sleep(0.2)
        time.sleep(1.0)
        idle_start, t0 = cpu_seconds(daemon.pid), time.time()
        time.sleep(INTERVAL - 3)
        idle_window = time.time() - t0
        idle = cpu_seconds(daemon.pid) - idle_start
        peak_rss = status(daemon.pid, "VmHWM") / 1024
        rss = status(daemon.pid, "VmRSS") / 1024
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)

    print(f"daemon with {APIS * ROUTES_PER_API} routes ({APIS} APIs, fleet file {size_mb:.1f} MB), interval {INTERVAL}s")
    print("| measure | routewarden daemon | baseline: CPython json.load | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| CPU time per cycle | {per_cycle:.3f} s | {baseline_cpu:.3f} s | {per_cycle / baseline_cpu:.2f}x |")
    print(f"| peak RSS | {peak_rss:.1f} MiB | {baseline_rss:.1f} MiB | {peak_rss / baseline_rss:.2f}x |")
    print(f"| RSS between cycles | {rss:.1f} MiB | | |")
    print(f"| one /metrics scrape ({series} series) | {scrape_cpu:.3f} s CPU | | |")
    print(f"| CPU while idle | {idle * 1000:.0f} ms over {idle_window:.1f} s ({100 * idle / idle_window:.2f}% of a core) | | |")


if __name__ == "__main__":
    main()
