#!/usr/bin/env python3
"""Turns the raw results of scripts/bench into summary.md (one row per
figure: Aires, peer, ratio, target, command, date and machine) and
chart.png (emit cost and pipeline throughput against the peers).

Usage: tools/bench_report.py target/bench-results
Medians are taken over the runs found (criterion-runN.tsv, pipeline.jsonl).
"""
import csv
import glob
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "target/bench-results"


def load_json(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None


def load_jsonl(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip().startswith("{")]


machine = load_json("machine.json") or {}
where = f"{machine.get('date', '?')}, {machine.get('cpus', '?')} vCPU {machine.get('cpu', '')}".strip()

# Criterion medians over runs: benchmark id -> median ns.
runs = {}
# And, for the benches that declare a throughput, events per second.
rates = {}
for path in sorted(glob.glob(os.path.join(out, "criterion-run*.tsv"))):
    for row in csv.DictReader(open(path), delimiter="\t"):
        runs.setdefault(row["benchmark"], []).append(float(row["median_ns"]))
        if row["elements_per_s"]:
            rates.setdefault(row["benchmark"], []).append(float(row["elements_per_s"]))
crit = {bench: statistics.median(values) for bench, values in runs.items()}
rates = {bench: statistics.median(values) for bench, values in rates.items()}
n_runs = len(glob.glob(os.path.join(out, "criterion-run*.tsv")))

instructions = {}
path = os.path.join(out, "emit-instructions.tsv")
if os.path.exists(path):
    for row in csv.DictReader(open(path), delimiter="\t"):
        instructions[row["setup"]] = int(row["instructions_per_event"])

pipeline = {}
for run in load_jsonl("pipeline.jsonl"):
    pipeline.setdefault((run["sdk"], run["producers"]), []).append(run)


def pipeline_median(sdk, producers, key):
    values = [r[key] for r in pipeline.get((sdk, producers), [])]
    return statistics.median(values) if values else None


rows = []


def row(figure, aires, peer, ratio, target, command):
    rows.append((figure, aires, peer, ratio, target, command))


def fmt_ns(ns):
    return "—" if ns is None else (f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns")


def met(ok):
    return "met" if ok else "**not met**"


CRIT_EMIT = "`scripts/bench` (criterion `cargo bench -p aires-benches --bench emit`)"
aires_ns = crit.get("emit_vs_peers/aires")
peers = [
    ("tracing JSON, non_blocking (a)", "emit_vs_peers/tracing_json_non_blocking", "tracing-json", 5.0),
    ("tracing + OpenTelemetry batch (b)", "emit_vs_peers/tracing_opentelemetry_batch", "tracing-opentelemetry", 3.0),
    ("log + env_logger (c)", "emit_vs_peers/log_env_logger", "log", None),
]
CHART_LABELS = {
    "emit_vs_peers/tracing_json_non_blocking": "tracing JSON\nnon_blocking (a)",
    "emit_vs_peers/tracing_opentelemetry_batch": "tracing +\nOpenTelemetry (b)",
    "emit_vs_peers/log_env_logger": "log +\nenv_logger (c)",
}
if aires_ns is not None:
    row("emit, static message + 3 fields (wall)", fmt_ns(aires_ns), "—", "—",
        f"≤ 50 ns: {met(aires_ns <= 50)}", CRIT_EMIT)
    for name, bench, _, target in peers:
        peer_ns = crit.get(bench)
        if peer_ns is None:
            continue
        ratio = peer_ns / aires_ns
        target_text = f"≥ {target:.0f}× cheaper: {met(ratio >= target)}" if target else ""
        row(f"emit vs {name}", fmt_ns(aires_ns), fmt_ns(peer_ns), f"{ratio:.1f}× cheaper",
            target_text, CRIT_EMIT)
    for name, bench, _, _ in peers:
        disabled, peer_disabled = crit.get("emit_vs_peers/aires_disabled"), crit.get(bench + "_disabled")
        if disabled and peer_disabled:
            row(f"disabled level vs {name}", fmt_ns(disabled), fmt_ns(peer_disabled),
                f"{peer_disabled / disabled:.2f}×", "", CRIT_EMIT)
if "aires" in instructions:
    for name, _, setup, _ in peers:
        if setup in instructions:
            row(f"emit instructions vs {name} (callgrind)", f"{instructions['aires']}",
                f"{instructions[setup]}", f"{instructions[setup] / instructions['aires']:.1f}× fewer", "",
                "`scripts/bench` (callgrind on `emit-profile`)")

# The headline five-field event (user_id, path, status, latency_ms, ok).
aires_5 = crit.get("emit_vs_peers/aires_5")
if aires_5 is not None:
    row("emit, static message + 5 fields (wall)", fmt_ns(aires_5), "—", "—", "", CRIT_EMIT)
    for name, bench, target in (
        ("tracing + OpenTelemetry batch (b), 5 fields", "emit_vs_peers/tracing_opentelemetry_batch_5", 12.0),
        ("tracing JSON, non_blocking (a), 5 fields", "emit_vs_peers/tracing_json_non_blocking_5", 40.0),
        ("log + env_logger (c), 5 fields", "emit_vs_peers/log_env_logger_5", None),
    ):
        peer_ns = crit.get(bench)
        if peer_ns is None:
            continue
        ratio = peer_ns / aires_5
        target_text = f"≥ {target:.0f}× cheaper: {met(ratio >= target)}" if target else ""
        row(f"emit vs {name}", fmt_ns(aires_5), fmt_ns(peer_ns), f"{ratio:.1f}× cheaper",
            target_text, CRIT_EMIT)
# The same tracing::info! through the Aires layer (issue targets: at least
# 4x cheaper than tracing into OpenTelemetry, within 2x of aires::info!).
layer_5 = crit.get("emit_vs_peers/tracing_aires_5")
otel_5 = crit.get("emit_vs_peers/tracing_opentelemetry_batch_5")
if layer_5 is not None and otel_5 is not None:
    ratio = otel_5 / layer_5
    row("tracing::info! through the Aires layer vs tracing + OpenTelemetry batch, 5 fields (wall)",
        fmt_ns(layer_5), fmt_ns(otel_5), f"{ratio:.1f}× cheaper", f"≥ 4×: {met(ratio >= 4)}", CRIT_EMIT)
if layer_5 is not None and aires_5 is not None:
    ratio = layer_5 / aires_5
    row("tracing::info! through the Aires layer vs aires::info!, 5 fields (wall)",
        fmt_ns(layer_5), fmt_ns(aires_5), f"{ratio:.1f}× the cost", f"≤ 2×: {met(ratio <= 2)}", CRIT_EMIT)
# What tracing itself costs any layer: the same call into one that only visits.
floor_5 = crit.get("emit_vs_peers/tracing_visit_only_5")
if floor_5 is not None and aires_5 is not None:
    row("tracing::info! into a layer that only visits the fields (tracing's own part) vs aires::info!, 5 fields (wall)",
        fmt_ns(floor_5), fmt_ns(aires_5), f"{floor_5 / aires_5:.2f}× the cost", "—", CRIT_EMIT)
# One producer and two into the null transport, nothing dropped.
one = rates.get("info_5_to_null_transport/producers/1")
two = rates.get("info_5_to_null_transport/producers/2")
if one is not None and two is not None:
    row("sustained, 5 fields, 2 producers vs 1: events/s (criterion, blocking policy)",
        f"{two:,.0f}", f"{one:,.0f} (1 producer)", f"{two / one:.2f}×", "",
        "`cargo bench -p aires-benches --bench throughput -- info_5_to_null_transport`")
if "aires-5" in instructions:
    for name, setup in (("tracing + OpenTelemetry batch (b), 5 fields", "tracing-opentelemetry-5"),
                        ("tracing JSON, non_blocking (a), 5 fields", "tracing-json-5")):
        if setup in instructions:
            row(f"emit instructions vs {name} (callgrind)", f"{instructions['aires-5']}",
                f"{instructions[setup]}", f"{instructions[setup] / instructions['aires-5']:.1f}× fewer",
                "", "`scripts/bench` (callgrind on `emit-profile`)")

# The burst: 2M calls of the five-field event from one thread.
burst = {}
for run in load_jsonl("burst.jsonl"):
    burst.setdefault(run["setup"], []).append(run)


def burst_median(setup, key):
    values = [r[key] for r in burst.get(setup, [])]
    return statistics.median(values) if values else None


BURST = "`scripts/bench` (`target/release/burst SETUP`)"
sustained = None
if burst_median("aires-block", "emit_seconds"):
    sustained = 2_000_000 / burst_median("aires-block", "emit_seconds")
    row("sustained, 1 producer, 5 fields, nothing dropped: events/s", f"{sustained:,.0f}", "—", "—",
        f"≥ 5M/s: {met(sustained >= 5e6)}", BURST + " `aires-block`")
if sustained and burst.get("aires"):
    # Per run: delivered against the queue plus 0.9 x sustained x the burst's duration.
    shares = [r["delivered"] / (r["queue_capacity"] + 0.9 * sustained * r["emit_seconds"])
              for r in burst["aires"]]
    delivered = burst_median("aires", "delivered")
    row("burst at defaults: delivered / (queue + 0.9 × sustained × duration)",
        f"{delivered:,.0f} delivered", "—", f"{statistics.median(shares):.2f}",
        f"≥ 1: {met(statistics.median(shares) >= 1)}", BURST + " `aires`")
for setup, label in (("aires", "defaults"), ("aires-grow", "grow()")):
    a = burst_median(setup, "delivered")
    o = burst_median("opentelemetry", "delivered")
    if a and o:
        row(f"burst, 2M calls, {label}: delivered", f"{a:,.0f}", f"{o:,.0f} (OpenTelemetry defaults)",
            f"{a / o:.2f}×", "", BURST)

PIPE = "`scripts/bench` (`target/release/pipeline-vs-otel --seconds 5`)"
for producers in (1, 2):
    a = pipeline_median("aires", producers, "events_per_cpu_second")
    o = pipeline_median("opentelemetry", producers, "events_per_cpu_second")
    if a and o:
        row(f"pipeline over gRPC, {producers} producer(s): events per CPU-second (client + receiver)",
            f"{a:,.0f}", f"{o:,.0f}", f"{a / o:.1f}×", f"≥ 3×: {met(a / o >= 3)}", PIPE)
    a = pipeline_median("aires", producers, "events_per_second")
    o = pipeline_median("opentelemetry", producers, "events_per_second")
    d = pipeline_median("opentelemetry", producers, "dropped")
    if a and o:
        row(f"pipeline over gRPC, {producers} producer(s): events/s delivered",
            f"{a:,.0f} (none dropped)", f"{o:,.0f} ({d:,.0f} dropped)", f"{a / o:.1f}×", "", PIPE)

wire = load_json("wire-size.json")
if wire:
    for scenario, label in (("one_trace_per_event", "every event in its own trace"),
                            ("eight_events_per_trace", "eight events per trace"),
                            ("no_trace_ids", "no trace ids")):
        sizes = wire.get(scenario)
        if not sizes:
            continue
        for kind in ("raw", "zstd", "gzip"):
            ratio = sizes["aires"][kind] / sizes["otlp"][kind]
            target = f"≤ 0.6×: {met(ratio <= 0.6)}" if kind != "raw" else ""
            row(f"wire bytes per event, {kind}, {label}", f"{sizes['aires'][kind]}",
                f"{sizes['otlp'][kind]} (OTLP)", f"{ratio:.2f}×", target,
                "`cargo bench -p aires-benches --bench wire_size`")

# The collector bench declares its throughput, so its rows carry events/s.
collector_eps = [float(r["elements_per_s"])
                 for p in sorted(glob.glob(os.path.join(out, "criterion-run*.tsv")))
                 for r in csv.DictReader(open(p), delimiter="\t")
                 if r["benchmark"] == "collector_sustained_null_sink/clients/32" and r["elements_per_s"]]
if collector_eps:
    per_s = statistics.median(collector_eps)
    row("collector into the null sink, 32 concurrent calls: events/s", f"{per_s:,.0f}", "—", "—",
        f"≥ 1M/s: {met(per_s >= 1e6)}", "`cargo bench -p aires-benches --bench collector`")

memory = load_json("memory-sdk.json")
if memory:
    for kind, label in (("null_transport", "null transport"), ("grpc", "gRPC to the collector")):
        m = memory[kind]
        row(f"SDK peak RSS, 2 threads offering 1M events/s ({label})",
            f"{m['peak_rss_bytes'] / 2**20:.0f} MiB at {m['events_per_s_emitted']:,.0f} events/s, "
            f"{m['dropped']:,} dropped (counted)", "—", "—", "",
            "`aires-loadgen --rate 1000000 --duration 10 --threads 2`")
for m in load_jsonl("memory-collector.jsonl"):
    row(f"collector peak RSS under overload, queue capacity {m['queue_capacity']:,}",
        f"{m['collector_peak_rss_bytes'] / 2**20:.0f} MiB ({m['offered_events']:,} offered, "
        f"{m['stored_events']:,} stored)", "—", "—", "bounded by the queue settings",
        "`scripts/bench` (2 × `aires-loadgen --duration 20` flat out, ClickHouse behind)")

e2e = load_json("e2e.json")
if e2e:
    row("end to end into ClickHouse, defaults: events/s", f"{e2e['events_per_s_delivered']:,.0f}",
        f"{e2e['engine_ceiling_rows_per_s_100k']:,} (engine's own insert ceiling, same run)",
        f"{e2e['ratio_to_ceiling_100k']:.2f} of the ceiling",
        f"≥ 300K/s: {met(e2e['events_per_s_delivered'] >= 300_000)}", "`scripts/bench-e2e 200000`")
    share = e2e.get("engine_share_during_load")
    if share:
        row("end to end: the engine's time during the load, inserts / queries / idle",
            f"{share['inserts']:.2f} / {share['queries']:.2f} / {share['idle']:.2f}",
            f"{e2e['engine_ceiling_rows_per_s_10k']:,} (10K-row inserts)",
            f"{e2e['events_per_s_delivered'] / e2e['engine_ceiling_rows_per_s_10k']:.2f} of it", "—",
            "`scripts/bench-e2e 200000`")
    q = e2e.get("queryable_latency_ms")
    if q:
        row("end to end: event-to-queryable p50 / p99", f"{q['p50']:.0f} / {q['p99']:.0f} ms", "—", "—",
            f"p99 < 1.5 s: {met(q['p99'] < 1500)}", "`scripts/bench-e2e 200000`")

with open(os.path.join(out, "summary.md"), "w") as f:
    f.write(f"Measured {where}; criterion medians over {n_runs} run(s), pipeline medians over "
            f"{max((len(v) for v in pipeline.values()), default=0)} run(s).\n\n")
    f.write("| figure | Aires | peer | ratio | target | command |\n|---|---|---|---|---|---|\n")
    for r in rows:
        f.write("| " + " | ".join(r) + " |\n")

# The chart: emit cost and pipeline efficiency against the peers.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("matplotlib is missing: scripts/python-venv tools/bench-requirements.txt")

fig, (left, right, third) = plt.subplots(1, 3, figsize=(17, 4.8))
labels, values = [], []
if aires_ns is not None:
    labels.append("Aires")
    values.append(aires_ns)
for name, bench, _, _ in peers:
    if bench in crit:
        labels.append(CHART_LABELS[bench])
        values.append(crit[bench])
bars = left.bar(labels, values, color=["#d95f02"] + ["#7570b3"] * (len(values) - 1))
left.set_ylabel("ns per event on the calling thread")
left.set_title("Emit cost: static message + 3 fields")
left.bar_label(bars, labels=[fmt_ns(v) for v in values])
left.tick_params(axis="x", labelsize=9)

groups = [p for p in (1, 2) if pipeline_median("aires", p, "events_per_cpu_second")]
width = 0.38
for offset, sdk, color in ((-width / 2, "aires", "#d95f02"), (width / 2, "opentelemetry", "#7570b3")):
    heights = [pipeline_median(sdk, p, "events_per_cpu_second") or 0 for p in groups]
    bars = right.bar([g + offset for g in range(len(groups))], heights, width,
                     label="Aires SDK → aires-collector" if sdk == "aires"
                     else "OpenTelemetry SDK → OTLP receiver", color=color)
    right.bar_label(bars, labels=[f"{h / 1000:.0f}K" for h in heights])
right.set_xticks(range(len(groups)), [f"{p} producer thread{'s' if p > 1 else ''}" for p in groups])
right.set_ylabel("events delivered per CPU-second (client + receiver)")
right.set_title("Pipeline over gRPC on loopback")
right.legend(fontsize=8)
setups = [(s, l) for s, l in (("aires", "Aires\ndefaults"), ("aires-grow", "Aires\ngrow()"),
                              ("opentelemetry", "OpenTelemetry\ndefaults")) if burst.get(s)]
heights = [burst_median(s, "delivered") for s, _ in setups]
bars = third.bar([l for _, l in setups], heights,
                 color=["#d95f02" if s != "opentelemetry" else "#7570b3" for s, _ in setups])
third.bar_label(bars, labels=[f"{h / 1e6:.2f}M" for h in heights])
third.set_ylabel("events delivered of 2M calls")
third.set_title("Burst: 2M calls (5 fields), one thread")
fig.suptitle(f"Aires vs peers — {where}", fontsize=10)
fig.tight_layout()
fig.savefig(os.path.join(out, "chart.png"), dpi=110)
print(f"wrote {out}/summary.md and {out}/chart.png")
