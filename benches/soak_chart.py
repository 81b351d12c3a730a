#!/usr/bin/env python3
"""Draws the soak test's samples (benches/soak.rs) as an SVG: resident memory,
open file descriptors, threads and tokio tasks, and the /metrics scrape time,
against minutes, with the fault phases shaded.

Usage: soak_chart.py SAMPLES.csv OUT.svg"""

import csv
import sys

PHASES = ["throttle, hints", "throttle, no hints", "per-API faults",
          "churn", "credentials fail", "healthy"]
SHADES = ["#f2f2f2", "#e6e6e6", "#ffe9e0", "#e8f0ff", "#ffd9d9", "#eaf7ea"]
W, H, PAD = 760, 170, 50


def panel(y0, rows, series, title, unit, floor_zero=True):
    xs = [r["seconds"] / 60 for r in rows]
    values = [v for _, key, _ in series for v in (r[key] for r in rows)]
    top = max(values) * 1.25 or 1
    bottom = 0 if floor_zero else min(values) * 0.8
    x_max = max(xs) or 1

    def px(x):
        return PAD + x / x_max * (W - 2 * PAD)

    def py(y):
        return y0 + H - 30 - (y - bottom) / (top - bottom) * (H - 50)

    parts = []
    # Phase bands.
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i]["phase"] != rows[start]["phase"]:
            x1, x2 = px(xs[start]), px(xs[min(i, len(rows) - 1)])
            parts.append(f'<rect x="{x1:.1f}" y="{y0 + 20}" width="{max(x2 - x1, 1):.1f}" '
                         f'height="{H - 50}" fill="{SHADES[int(rows[start]["phase"])]}"/>')
            start = i
    parts.append(f'<text x="{W / 2}" y="{y0 + 14}" text-anchor="middle" font-size="13">{title}</text>')
    parts.append(f'<line x1="{PAD}" y1="{y0 + H - 30}" x2="{W - PAD}" y2="{y0 + H - 30}" stroke="#333"/>')
    parts.append(f'<line x1="{PAD}" y1="{y0 + 20}" x2="{PAD}" y2="{y0 + H - 30}" stroke="#333"/>')
    for frac in (0, 0.5, 1):
        v = bottom + frac * (top - bottom)
        parts.append(f'<text x="{PAD - 4}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="10">{v:.3g}</text>')
    for minute in range(0, int(x_max) + 1, 5):
        parts.append(f'<text x="{px(minute):.1f}" y="{y0 + H - 16}" text-anchor="middle" font-size="10">{minute}</text>')
    parts.append(f'<text x="{W - PAD}" y="{y0 + H - 4}" text-anchor="end" font-size="10">minutes</text>')
    parts.append(f'<text x="12" y="{y0 + H / 2}" font-size="10" transform="rotate(-90 12 {y0 + H / 2})" '
                 f'text-anchor="middle">{unit}</text>')
    for i, (name, key, colour) in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(r[key]):.1f}" for x, r in zip(xs, rows))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        parts.append(f'<text x="{W - PAD - 4}" y="{y0 + 34 + 13 * i}" text-anchor="end" font-size="11" '
                     f'fill="{colour}">{name}</text>')
    return parts


def main():
    samples, out = sys.argv[1], sys.argv[2]
    with open(samples) as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if not rows:
        sys.exit("no samples")
    for r in rows:
        r["rss_mib"] = r["rss_kib"] / 1024
    panels = [
        ([("resident memory", "rss_mib", "#d62728")], "Resident memory", "MiB"),
        ([("open fds", "fds", "#1f77b4")], "Open file descriptors", "fds"),
        ([("tokio tasks", "tasks", "#2ca02c"), ("OS threads", "threads", "#9467bd")],
         "Tokio tasks and OS threads", "count"),
        ([("/metrics scrape", "scrape_ms", "#8c564b")], "/metrics scrape time", "ms"),
    ]
    body = []
    for i, (series, title, unit) in enumerate(panels):
        body += panel(i * H, rows, series, title, unit)
    legend_y = len(panels) * H + 14
    x = PAD
    for name, shade in zip(PHASES, SHADES):
        body.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{shade}" stroke="#999"/>')
        body.append(f'<text x="{x + 16}" y="{legend_y}" font-size="11">{name}</text>')
        x += 16 + 7 * len(name) + 14
    height = len(panels) * H + 24
    with open(out, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif">\n')
        f.write(f'<rect width="{W}" height="{height}" fill="white"/>\n')
        f.write("\n".join(body) + "\n</svg>\n")
    print(f"chart: {out}")


if __name__ == "__main__":
    main()
