#!/usr/bin/env python3
"""freehold generate vs llama.cpp llama-bench on the writer's random-weight models.

For every model: REPS rounds, each round interleaving llama-bench pp512, freehold pp512,
llama-bench tg128, freehold tg128 (same threads), with a read-bandwidth probe right before and
right after freehold's tg128 for the decode roofline (bandwidth / weight bytes read per token).
Prints a markdown table of means, ratios (freehold / llama.cpp) and % of roofline; writes every
raw run to results.jsonl.
Two rooflines: mean decode rate against the probe's best pass (the strict one), and freehold's
median token against the probe's median pass (the same statistic on both sides, so the slow
spells other tenants of a shared host cause count on neither).

Environment: FREEHOLD (binary with `generate`), LLAMA_BENCH, TOOL (kernel_bench_tool),
MODELS (dir from make_models.sh), THREADS (2), REPS (3), OUT (results dir), ONLY (substring filter),
DEADLINE (unix time after which no new model is started). The table is rewritten to OUT/table.md
after every model.
"""
import json, os, statistics, subprocess, sys, time

FREEHOLD = os.environ.get("FREEHOLD", "/work/main/build-kernel/apps/freehold/freehold")
LLAMA_BENCH = os.environ.get("LLAMA_BENCH", "/work/llama-build/bin/llama-bench")
TOOL = os.environ.get("TOOL", "/work/main/build-kernel/tests/kernel/kernel_bench_tool")
MODELS = os.environ.get("MODELS", "/work/bench-models")
THREADS = int(os.environ.get("THREADS", "2"))
REPS = int(os.environ.get("REPS", "3"))
OUT = os.environ.get("OUT", "/work/bench-results")
ONLY = os.environ.get("ONLY", "")
DEADLINE = float(os.environ.get("DEADLINE", "0"))  # unix time: start no new model after it
PP, TG = 512, 128


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed: {r.stderr[-400:]}")
    return r.stdout


def safe(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # a failed run is recorded as NaN and reported, not fatal
        print(f"run failed: {e}", file=sys.stderr)
        return float("nan")


def llama(model, pp, tg):
    out = run([LLAMA_BENCH, "-m", model, "-t", str(THREADS), "-p", str(pp), "-n", str(tg), "-r", "1", "-o", "json"])
    return json.loads(out)[0]["avg_ts"]


def freehold_pp(model, vocab):
    ids = ",".join(str((i * 7919) % (vocab - 3) + 3) for i in range(PP))
    out = json.loads(run([FREEHOLD, "generate", "--model", "local/" + model, "--tokens", ids, "-n", "1",
                          "--threads", str(THREADS), "--json"]))
    return out["prompt_tokens_per_s"]


def freehold_tg(model):
    """(mean, median-token) decode tokens/s."""
    out = json.loads(run([FREEHOLD, "generate", "--model", "local/" + model, "--tokens", "1", "-n", str(TG + 1),
                          "--threads", str(THREADS), "--json"]))
    assert out["generated_tokens"] == TG + 1, out
    return out["decode_tokens_per_s"], out["decode_median_tokens_per_s"]


def main():
    os.makedirs(OUT, exist_ok=True)
    raw = open(os.path.join(OUT, "results.jsonl"), "a")
    rows = []
    names = [f"{s}-{m}.gguf" for s in ("tinyllama", "smollm") for m in ("Q4_0", "Q8_0", "Q4_K_M")]
    for name in names:
        if ONLY and ONLY not in name:
            continue
        if DEADLINE and time.time() > DEADLINE:
            print(f"deadline reached, skipping {name}", file=sys.stderr)
            continue
        model = os.path.join(MODELS, name)
        info = json.loads(run([TOOL, "info", model]))
        vocab = 32000 if name.startswith("tinyllama") else 49152
        res = {"pp_fh": [], "pp_ll": [], "tg_fh": [], "tg_fh_med": [], "tg_ll": [], "bw": [], "bw_med": []}
        for rep in range(REPS):
            res["pp_ll"].append(safe(llama, model, PP, 0))
            res["pp_fh"].append(safe(freehold_pp, model, vocab))
            res["tg_ll"].append(safe(llama, model, 0, TG))
            # The roofline's bandwidth is probed right before and right after freehold's decode
            # (the mean of the two): this host's bandwidth moves within tens of seconds, and a
            # probe taken a whole round earlier could land in another spell than the decode.
            before = json.loads(run([TOOL, "bandwidth", str(THREADS), "1024"]))
            tg = safe(freehold_tg, model)
            after = json.loads(run([TOOL, "bandwidth", str(THREADS), "1024"]))
            res["bw"].append((before["read_gbps"] + after["read_gbps"]) / 2)
            res["bw_med"].append((before["read_gbps_median"] + after["read_gbps_median"]) / 2)
            res["tg_fh"].append(tg[0] if isinstance(tg, tuple) else tg)
            res["tg_fh_med"].append(tg[1] if isinstance(tg, tuple) else tg)
            rec = {"model": name, "rep": rep, "threads": THREADS, "time": time.time(),
                   **{k: v[-1] for k, v in res.items()}, "bytes_per_token": info["weight_bytes_per_token"]}
            raw.write(json.dumps(rec) + "\n")
            raw.flush()
            print(json.dumps(rec), file=sys.stderr)
        # A failed run (NaN: say, no llama-bench on this machine) leaves its column NaN, not the table.
        ok = {k: [x for x in v if x == x] for k, v in res.items()}
        m = {k: (statistics.mean(v) if v else float("nan")) for k, v in ok.items()}
        sd = {k: (statistics.stdev(v) if len(v) > 1 else 0.0) for k, v in ok.items()}
        roof = m["bw"] * 1e9 / info["weight_bytes_per_token"]
        roof_med = m["bw_med"] * 1e9 / info["weight_bytes_per_token"]
        rows.append((name, m, sd, info["weight_bytes_per_token"], roof, roof_med))
        with open(os.path.join(OUT, "table.md"), "w") as f:
            f.write(table(rows))
    print(table(rows))


def table(rows):
    out = [f"threads {THREADS}, {REPS} interleaved rounds; t/s mean ± sd; ratio = freehold / llama.cpp\n",
           "| model | pp512 freehold | pp512 llama.cpp | pp ratio | tg128 freehold | tg128 llama.cpp | tg ratio "
           "| read GB/s | MB/token | roofline t/s | freehold % roof | llama.cpp % roof | freehold % roof (medians) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m, sd, bpt, roof, roof_med in rows:
        out.append(f"| {name[:-5]} | {m['pp_fh']:.1f} ± {sd['pp_fh']:.1f} | {m['pp_ll']:.1f} ± {sd['pp_ll']:.1f} "
                   f"| {m['pp_fh'] / m['pp_ll']:.2f} | {m['tg_fh']:.1f} ± {sd['tg_fh']:.1f} | {m['tg_ll']:.1f} ± {sd['tg_ll']:.1f} "
                   f"| {m['tg_fh'] / m['tg_ll']:.2f} | {m['bw']:.1f} | {bpt / 1e6:.1f} | {roof:.0f} "
                   f"| {100 * m['tg_fh'] / roof:.0f} % | {100 * m['tg_ll'] / roof:.0f} % "
                   f"| {100 * m['tg_fh_med'] / roof_med:.0f} % |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
