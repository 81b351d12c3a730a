#!/usr/bin/env python3
"""`--check` on generated fleets of 1k, 10k, 100k and 1M routes: wall time
(median of 3) and peak RSS, with the text report. The baseline, measured in the
same run on the same files, is CPython's json.load: the least a tool spends to
read the file. Writes an SVG chart of time and memory against fleet size.

Run with `bash benches/run.sh` (or after `cargo build --release`)."""

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.path.join(HERE, "..", "target", "release", "routewarden")
SIZES = [1_000, 10_000, 100_000, 1_000_000]
RUNS = 3

spec = importlib.util.spec_from_file_location("daemon_bench", os.path.join(HERE, "daemon.py"))
daemon_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(daemon_bench)


def timed(args):
    """Wall seconds (perf_counter) and peak RSS in MiB (GNU time) of one run."""
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode not in (0, 1):
        sys.exit(f"{args} failed ({out.returncode}): {out.stderr}")
    return wall, int(out.stderr.strip().splitlines()[-1]) / 1024


def svg(rows, path):
    """A two-panel line chart: time and peak RSS against routes (log scale)."""
    import math
    w, h, pad = 360, 220, 45
    def panel(x0, values, label, unit):
        xs = [math.log10(r[0]) for r in rows]
        top = math.log10(max(max(v) for v in values) * 1.5)
        bottom = math.log10(min(min(v) for v in values) / 1.5)
        def px(x):
            return x0 + pad + (x - xs[0]) / (xs[-1] - xs[0]) * (w - 2 * pad)
        def py(y):
            return h - pad - (math.log10(y) - bottom) / (top - bottom) * (h - 2 * pad)
        parts = [f'<text x="{x0 + w / 2}" y="18" text-anchor="middle" font-size="13">{label}</text>',
                 f'<line x1="{x0 + pad}" y1="{h - pad}" x2="{x0 + w - pad}" y2="{h - pad}" stroke="#333"/>',
                 f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{h - pad}" stroke="#333"/>']
        for r, x in zip(rows, xs):
            parts.append(f'<text x="{px(x)}" y="{h - pad + 15}" text-anchor="middle" font-size="10">{r[0]:,}</text>')
        parts.append(f'<text x="{x0 + pad - 4}" y="{pad + 4}" text-anchor="end" font-size="10">{10 ** top:.3g}</text>')
        parts.append(f'<text x="{x0 + pad - 4}" y="{h - pad}" text-anchor="end" font-size="10">{10 ** bottom:.2g}</text>')
        parts.append(f'<text x="{x0 + 12}" y="{h / 2}" font-size="10" transform="rotate(-90 {x0 + 12} {h / 2})" text-anchor="middle">{unit} (log scale)</text>')
        colours = ["#d62728", "#1f77b4"]
        names = ["routewarden --check", "CPython json.load"]
        for i, series in enumerate(values):
            points = " ".join(f"{px(x)},{py(y)}" for x, y in zip(xs, series))
            parts.append(f'<polyline fill="none" stroke="{colours[i]}" stroke-width="2" points="{points}"/>')
            parts.append(f'<text x="{x0 + pad + 8}" y="{pad + 14 + 14 * i}" font-size="10" fill="{colours[i]}">{names[i]}</text>')
        parts.append(f'<text x="{x0 + w / 2}" y="{h - 8}" text-anchor="middle" font-size="10">routes (log scale)</text>')
        return parts
    body = panel(0, [[r[1] for r in rows], [r[3] for r in rows]], "wall time", "s")
    body += panel(w, [[r[2] for r in rows], [r[4] for r in rows]], "peak RSS", "MiB")
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" font-family="sans-serif">\n')
        f.write(f'<rect width="{2 * w}" height="{h}" fill="white"/>\n')
        f.write("\n".join(body) + "\n</svg>\n")


def main():
    work = tempfile.mkdtemp(prefix="routewarden-offline-")
    rows = []
    for size in SIZES:
        daemon_bench.APIS = size // daemon_bench.ROUTES_PER_API
        path = os.path.join(work, f"fleet-{size}.json")
        daemon_bench.fleet(path)
        ours = [timed([BINARY, "--check", "--routes", path, "--fail-on", "never", "-o", os.devnull]) for _ in range(RUNS)]
        base = [timed([sys.executable, "-c", f"import json; json.load(open({path!r}))"]) for _ in range(RUNS)]
        rows.append((size, statistics.median(t for t, _ in ours), max(m for _, m in ours),
                     statistics.median(t for t, _ in base), max(m for _, m in base)))
        os.remove(path)
    print("| routes | --check wall | peak RSS | json.load wall | json.load RSS | time ratio | µs per route |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size, wall, rss, bwall, brss in rows:
        print(f"| {size:,} | {wall:.3f} s | {rss:.1f} MiB | {bwall:.3f} s | {brss:.1f} MiB | {wall / bwall:.2f}x | {wall / size * 1e6:.2f} |")
    per_route = [r[1] / r[0] for r in rows[1:]]
    linear = per_route[-1] <= per_route[0] * 1.5
    hundred_k = next(r for r in rows if r[0] == 100_000)
    print(f"growth linear or better (time per route, 10k -> 1M): {'yes' if linear else 'NO'}")
    print(f"target 100k routes <= 1 s: {'met' if hundred_k[1] <= 1 else 'MISSED'} ({hundred_k[1]:.2f} s); "
          f"<= 64 MiB: {'met' if hundred_k[2] <= 64 else 'MISSED'} ({hundred_k[2]:.1f} MiB)")
    chart = os.path.join(HERE, "..", "docs", "offline-scaling.svg")
    svg(rows, chart)
    print(f"chart: docs/offline-scaling.svg")


if __name__ == "__main__":
    main()
