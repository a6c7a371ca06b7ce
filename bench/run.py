"""One command for the benchmarks: ``python bench/run.py`` (see bench/README.md).

Writes ``bench/RESULTS.md`` and ``bench/ops_by_alg.png`` (and ``bench/out/results.json``) and prints the
tables as it goes. ``--quick`` runs fewer rounds (for a smoke test; numbers are noisier); ``--capacity`` adds the
capacity measurements of ``bench/capacity.py`` (PostgreSQL commit rate, Redis, several instances).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import library  # noqa: E402


def machine() -> dict[str, Any]:
    import cryptography
    import jwt

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cores": os.cpu_count(), "pyjwt": jwt.__version__, "cryptography": cryptography.__version__,
            "load_average_at_start": os.getloadavg()}


def plot(rows: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return False
    algs = [r["alg"] for r in rows]
    width = 0.27
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (key, label) in enumerate((("raw", "raw cryptography verify (limit)"),
                                      ("pyjwt", "PyJWT jwt.decode (baseline)"),
                                      ("attest", "attest full verification"))):
        xs = [j + (i - 1) * width for j in range(len(algs))]
        bars = ax.bar(xs, [r[key] for r in rows], width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(algs)), algs)
    ax.set_ylabel("verifications per second (one core)")
    ax.set_title("Realistic 13-field attestation token: ops/s by algorithm")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def plot_growth(growth: dict[str, list[tuple[int, float]]], path: Path) -> bool:
    """Verification time by issuers in the trust store (log scale) and by patients in the attestation."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    xs, ys = zip(*growth["issuers"], strict=True)
    left.plot(xs, ys, marker="o")
    left.set_xscale("log")
    left.set_xlabel("issuers in the trust store")
    left.set_ylabel("microseconds per verification")
    left.set_ylim(bottom=0)
    left.set_title("by issuers in the trust store")
    xs, ys = zip(*growth["patients"], strict=True)
    right.plot(xs, ys, marker="o", label="measured")
    per = ys[-1] / xs[-1]
    right.plot([0, xs[-1]], [0, ys[-1]], linestyle="--", linewidth=1, label=f"proportional ({per:.0f} us per patient)")
    right.set_xlabel("patients in the attestation")
    right.set_ylim(bottom=0)
    right.set_title("by patients in the attestation")
    right.legend(fontsize=8)
    fig.suptitle("EdDSA, realistic attestation: verification time", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer rounds (smoke test)")
    ap.add_argument("--no-service", action="store_true", help="library benchmarks only")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the instruction counts (valgrind, ~6 minutes: the library for ES256 and RS256, "
                         "the service in process)")
    ap.add_argument("--capacity", action="store_true",
                    help="also the capacity measurements (bench/capacity.py: ~3 more minutes)")
    args = ap.parse_args()
    # SIGTERM (a timeout, a stopped job) ends the run through its finally blocks: every server it started stops
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rounds, per_round = (3, 200) if args.quick else (9, 600)
    now = int(time.time())
    import attest

    out: dict[str, Any] = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "build": attest.BUILD}
    print(f"== verification path: {attest.BUILD}")

    print("== library: ops/s (median of interleaved rounds)")
    rows = library.measure_algorithms(now, rounds, per_round)
    for r in rows:
        print(f"{r['alg']:6} {r['token_bytes']:5} B  raw {r['raw']:8.0f}  pyjwt {r['pyjwt']:7.0f}  "
              f"attest {r['attest']:7.0f}  attest/pyjwt {r['attest_vs_pyjwt']:.2f}  "
              f"attest/raw {r['attest_vs_raw']:.2f}")
    out["algorithms"] = rows

    print("== library: cost by stage (us per call, each stage timed alone)")
    stages = {alg: library.stage_split(now, alg, 500 if args.quick else 2000) for alg in library.ALGORITHMS}
    for name in stages["ES256"]:
        print(f"  {name:34} " + "  ".join(f"{alg} {stages[alg][name]:7.1f}" for alg in library.ALGORITHMS))
    out["stages"] = stages

    print("== library: growth (EdDSA, us per verification)")
    growth = library.growth(now, 200 if args.quick else 1000)
    for kind, points in growth.items():
        print(f"  by {kind}: " + ", ".join(f"{n}: {us:.0f}" for n, us in points))
    out["growth"] = growth

    if not (args.quick or args.no_callgrind):
        import callgrind

        print("== library: instructions per verification (callgrind; compiled, pure Python, PyJWT)")
        out["callgrind"] = callgrind.measure(["ES256", "RS256"])
        if not args.no_service:
            import service_parts

            print("== service in process: instructions per request (callgrind; baseline, attest)")
            try:
                out["service_callgrind"] = service_parts.callgrind(["baseline", "attest"])
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:  # the rest of the run still counts
                print(f"  not measured: {exc}")
                out["service_callgrind"] = {"skipped": str(exc).splitlines()[0]}

    import helseid

    print("== HelseID path: access token + DPoP proof (library)")
    lib = helseid.measure_library(3 if args.quick else 9, 300 if args.quick else 1200)
    print(f"  pyjwt {lib['pyjwt']:.0f}/s  attest {lib['attest']:.0f}/s  attest/pyjwt {lib['ratio']:.2f} "
          f"(rounds {lib['ratio_min']:.2f}-{lib['ratio_max']:.2f})")
    out["helseid"] = {k: v for k, v in lib.items() if k != "samples"}
    if not args.no_service:
        print("== HelseID path: forward-auth behind nginx")
        fa = helseid.measure_forward_auth(duration=4 if args.quick else 10, rounds=2 if args.quick else 3)
        if fa is not None:
            print(f"  pyjwt {fa['pyjwt']['rps']:.0f} req/s  attest {fa['attest']['rps']:.0f} req/s  "
                  f"attest/pyjwt {fa['ratio']:.2f} (rounds {fa['ratio_min']:.2f}-{fa['ratio_max']:.2f})")
            out["forward_auth"] = fa

    if not args.no_service:
        import service

        print("== service: throughput and latency")
        out["service"] = service.run_all(quick=args.quick)

    if args.capacity:
        import capacity

        out["capacity"] = capacity.run_all(quick=args.quick)

    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "results.json").write_text(json.dumps(out, indent=2))
    has_plot = plot(rows, HERE / "ops_by_alg.png") and plot_growth(growth, HERE / "growth.png")
    import report

    text = report.render(out, has_plot)
    if not args.capacity:  # keep the capacity section of an earlier bench/capacity.py run
        import capacity

        old = (HERE / "RESULTS.md").read_text() if (HERE / "RESULTS.md").exists() else ""
        if capacity.BEGIN in old and capacity.END in old:
            text += "\n" + old[old.index(capacity.BEGIN):old.index(capacity.END) + len(capacity.END)] + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
