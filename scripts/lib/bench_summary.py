"""Summarizes scripts/bench results: median of the runs with min-max, as Markdown."""
import json
import statistics
import sys
from collections import defaultdict

path, cores, server = sys.argv[1], sys.argv[2], sys.argv[3]
runs = defaultdict(list)
for line in open(path):
    row = json.loads(line)
    runs[(row["name"], row["system"])].append(row["result"])


def figure(results, key, digits=0):
    values = [r[key] for r in results if key in r]
    if not values:
        return "-"
    median = statistics.median(values)
    fmt = f"{{:,.{digits}f}}"
    if len(values) == 1:
        return fmt.format(median)
    return f"{fmt.format(median)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


print(f"Machine: {cores} cores; {server}; figures are medians (min–max) of the runs.\n")
print("| measurement | system | figure |")
print("| --- | --- | --- |")
for (name, system), results in sorted(runs.items()):
    if name.startswith("latency"):
        text = f"p50 {figure(results, 'p50_ms', 2)} ms, p99 {figure(results, 'p99_ms', 2)} ms"
    elif name == "fairness":
        text = f"B fully started after {figure(results, 'seconds_until_b_started', 3)} s; A started meanwhile {figure(results, 'a_started_meanwhile')}"
    elif name == "sustained":
        r = results[0]
        text = (f"{r['rate']:,.0f} jobs/s overall; first tenth {r['first_tenth_rate']:,.0f}/s, last tenth "
                f"{r['last_tenth_rate']:,.0f}/s ({100 * r['last_over_first']:.0f}%); jobs table afterwards "
                f"{r['table_total_bytes'] / 1048576:.1f} MB with indexes, {r['rows_left']:,} rows")
    elif name.startswith("balances-"):
        text = f"{results[0]['invoices']:,} invoices in {figure(results, 'seconds', 2)} s"
    elif name == "import-invoices":
        text = (f"{results[0]['rows']:,} rows in {figure(results, 'seconds', 1)} s "
                f"({figure(results, 'rate')} rows/s); CLI peak RSS {figure(results, 'peak_rss_mb', 1)} MB")
    elif name == "dunning-run":
        r = results[0]
        text = (f"{r['invoices']:,} invoices, {r['customers']:,} customers: {r['reminders']:,} reminders, "
                f"{r['invoices_moved']:,} invoices moved in {figure(results, 'seconds', 2)} s; worker peak RSS "
                f"{figure(results, 'worker_peak_rss_mb', 1)} MB; phases (last run) {results[-1]['phases']}")
    elif name == "dunning-baseline":
        text = f"read {results[0]['invoices']:,} invoices, write as many items and levels: {figure(results, 'seconds', 2)} s"
    elif name == "risk-recalc":
        r = results[-1]
        text = (f"{r['invoices']:,} invoices, {r['customers']:,} customers scored, {r['alerts']:,} alerts in "
                f"{figure(results, 'seconds', 2)} s; worker peak RSS {figure(results, 'worker_peak_rss_mb', 1)} MB; "
                f"phases (last run) {r['phases']}; grades {r['grades']}")
    elif name == "risk-recalc-next":
        r = results[-1]
        text = (f"a month later, {r['customers']:,} customers with their previous states: {r['alerts']:,} alerts, "
                f"{r['policy_switches']:,} policy switches in {figure(results, 'seconds', 2)} s; phases (last run) {r['phases']}")
    elif name in ("risk-baseline-aging", "report-dso"):
        text = f"{results[0]['invoices']:,} invoices in {figure(results, 'seconds', 2)} s"
    elif name.startswith("disputes-escalate-"):
        r = results[-1]
        text = (f"{r['disputes']:,} disputes: {r['escalated']:,} escalated, {r['breached']:,} breached, "
                f"{r['notifications']:,} notifications in {figure(results, 'seconds', 2)} s; phases (last run) {r['phases']}")
    elif name == "disputes-worker-rss":
        text = f"worker peak RSS {figure(results, 'worker_peak_rss_mb', 1)} MB"
    elif name == "disputes-floor-update":
        text = f"one UPDATE of {results[0]['disputes']:,} disputes in {figure(results, 'seconds', 2)} s"
    elif name.startswith("deliver-"):
        text = f"{figure(results, 'rate')} messages/s"
    else:
        text = f"{figure(results, 'rate')} jobs/s"
        if "peak_rss_mb" in results[0]:
            text += f"; worker peak RSS {figure(results, 'peak_rss_mb', 1)} MB"
    print(f"| {name} | {system} | {text} |")

# Each burn-down against the ceiling of its own run (the n-th of each is the same run).
ceiling = [r["rate"] for r in runs.get(("burndown-batch100", "pgbench-ceiling"), [])]
if ceiling:
    print("\n| burn-down ÷ pgbench ceiling of the same run | per run | median |")
    print("| --- | --- | --- |")
    for (name, system), results in sorted(runs.items()):
        if not name.startswith("burndown-") or system == "pgbench-ceiling":
            continue
        ratios = [100 * r["rate"] / c for r, c in zip(results, ceiling) if c > 0]
        if ratios:
            per_run = ", ".join(f"{ratio:.0f} %" for ratio in ratios)
            print(f"| {name} ({system}) | {per_run} | {statistics.median(ratios):.0f} % |")
