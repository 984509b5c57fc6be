"""Every scenario, in the order a run takes them: name, what it measures, sizes, targets.

Throughput targets are same-run ratios (the library against raw aiohttp, or against
itself alone, in neighbouring runs).
"""

from __future__ import annotations

from . import local, net, processes
from .harness import Scenario
from .harness import Target as T

__all__ = ["SCENARIOS"]

MB, PCT, US = "{:.1f} MB", "{:.2%}", "{:.1f} us"

# fmt: off
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("overhead", "the client's CPU per request against a plain aiohttp loop, loopback",
        net.overhead, full={"records": 20_000, "rounds": 7, "concurrency": 10},
        quick={"records": 2_000, "rounds": 5, "concurrency": 10}, targets=(
            T("cpu_ratio", "plain loop / lock_many, CPU per request (median of rounds)", ">=",
              1.00, "{:.3f}"),
            T("cpu_ratio_min", "the same, the lowest round", fmt="{:.3f}"),
            T("cpu_ratio_max", "the same, the highest round", fmt="{:.3f}"),
            T("library_cpu_us", "lock_many: CPU per request (median)", fmt=US),
            T("raw_cpu_us", "plain loop: CPU per request (median)", fmt=US),
            T("ratio", "lock_many / plain loop, records/s"),
            T("tls_cpu_ratio", "over HTTPS: plain loop / lock_many, CPU per request", fmt="{:.3f}"),
            T("tls_library_cpu_us", "over HTTPS: lock_many, CPU per request", fmt=US),
            T("tls_raw_cpu_us", "over HTTPS: plain loop, CPU per request", fmt=US))),
    Scenario("saturation", "lock_many at cap 20 against a server taking 20 in flight at 50 ms",
        net.saturation, full={"records": 4_000, "rounds": 3},
        quick={"records": 800, "rounds": 1}, targets=(
            T("ratio", "lock_many (cap 20) / raw aiohttp (20 workers), requests/s", ">=", 0.95),
            T("share_of_ideal", "lock_many requests/s as a share of 400/s", fmt=PCT),
            T("raw_share_of_ideal", "raw aiohttp requests/s as a share of 400/s", fmt=PCT))),
    Scenario("overload", "lock_many at cap 40, twice what the server takes: throughput and 429s",
        net.overload, full={"records": 4_000, "rounds": 3, "contrast_records": 1_000},
        quick={"records": 800, "rounds": 1, "contrast_records": 400}, targets=(
            T("ratio", "lock_many (cap 40) / raw aiohttp (20 workers), records/s", ">=", 0.90),
            T("share_429", "share of lock_many's requests answered 429", "<", 0.02, PCT),
            T("share_of_ideal", "lock_many records/s as a share of 400/s", fmt=PCT))),
    Scenario("limiter", "rate_limit=100: the rate achieved and the busiest second at the server",
        net.limiter, full={"requests": 3_000, "rate": 100.0},
        quick={"requests": 300, "rate": 100.0}, targets=(
            T("deviation", "achieved rate against 100/s", "within", 0.02, "{:+.2%}"),
            T("server_max_in_window_1s", "most requests in any 1 s at the server", "<=", 100,
              "{:.0f}"))),
    Scenario("memory", "peak RSS of lock_many(keep_successes=False) over a generator of ids",
        local.memory, full={"ids": (100_000, 1_000_000)}, quick={"ids": (10_000, 100_000)},
        targets=(T("peak_rss_mb", "peak RSS at the larger size", "<", 100, MB),
                 T("growth_mb", "peak RSS growth from the smaller size", "<", 20, MB))),
    Scenario("latency", "CPU per request in process (no sockets), and a profile of lock_many",
        local.latency, full={"requests": 50_000, "repeats": 3, "profile_requests": 20_000},
        quick={"requests": 5_000, "repeats": 1, "profile_requests": 2_000},
        targets=(T("overhead_us", "library CPU per request over a minimal loop", fmt=US),)),
    Scenario("otel", "CPU per request of lock_many with OpenTelemetry off, API only, an SDK",
        local.otel, full={"requests": 20_000, "rounds": 9},
        quick={"requests": 3_000, "rounds": 1}, targets=(
            T("api_ratio", "API installed, no provider / off, CPU per request (median of "
              "rounds)", "<=", 1.03),
            T("api_extra_us", "the same, microseconds more per request", fmt=US),
            T("sdk_extra_us", "an SDK recording: microseconds more per request", fmt=US))),
    Scenario("first-second", "the CLI process against a raw aiohttp process, cap 20 and cap 40",
        processes.first_second, full={"records": 1_500, "rounds": 5},
        quick={"records": 400, "rounds": 1}, targets=(
            T("cap20_ratio", "cap 20: CLI / raw aiohttp, requests/s at the server", ">=", 0.97),
            T("cap40_ratio", "cap 40: CLI / raw aiohttp (20 workers)", ">=", 0.93),
            T("cap40_share_429", "cap 40: share of requests answered 429", "<", 0.01, PCT),
            T("cap40_cold_share_429", "cap 40, cold round only: 429s", "<", 0.01, PCT))),
    Scenario("demo", "requests per record of zoho-locking demo's lock and unlock",
        processes.demo, full={}, quick={}, targets=(
            T("lock_per_record", "lock: requests per record, less one look-up per rule-locked "
              "deal", "<=", 1.0),
            T("unlock_per_record", "unlock: requests per record", "<=", 1.0),
            T("faults", "retries, 429s and unexpected codes", "==", 0, "{:.0f}"))),
    Scenario("where", "a --where run of the CLI against the same run from an ids file",
        processes.where, full={"records": 25_000, "rounds": 5},
        quick={"records": 12_000, "rounds": 1}, targets=(
            T("ratio", "--where / --ids, locks/s at the server", ">=", 0.97),
            T("coql_requests", "COQL requests of a --where run", fmt="{:.0f}"))),
    Scenario("selection-memory", "memory and CPU of lock_many over client.select_ids, in process",
        local.selection_memory, full={"ids": (20_000, 200_000), "timing_rounds": 3},
        quick={"ids": (2_000, 20_000), "timing_rounds": 1}, targets=(
            T("growth_mb", "peak RSS growth from the smaller size", "<", 20, MB),
            T("share_growth_mb", "growth of the selection's own traced memory", "<", 1,
              "{:+.2f} MB"),
            T("extra_cpu_us", "CPU per record over a plain generator", fmt=US))),
    Scenario("shared-budget", "processes sharing one org budget through Redis against one alone",
        processes.shared_budget,
        full={"records": 3_000, "processes": 4, "rounds": 3, "cost_requests": 5_000},
        quick={"records": 1_500, "processes": 4, "rounds": 1, "cost_requests": 1_000}, targets=(
            T("ratio", "shared / alone, requests/s at the server", ">=", 0.95),
            T("share_429", "429s, worst round", "<=", 0.005, PCT),
            T("fairness", "slowest / fastest process", ">=", 0.8, "{:.2f}"),
            T("redis_extra_cpu_us", "CPU per request of the Redis flow over in-process",
              fmt=US))),
)
# fmt: on
