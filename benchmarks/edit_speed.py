"""Facts per minute for the whole edit path (z + keys + solve) on SmolLM2-135M, CPU.

    python benchmarks/edit_speed.py [--batches 16 64] [--threads 2] [--dtype bfloat16] [--steps 10 --prefixes 2]
                                    [--flops]

Uses the preset's (paper) hyperparameters at the preset's single layer, CounterFact facts
when a data directory holds them (else the embedded facts), no z cache, covariance from
the disk cache (its throughput is measured by covariance_speed.py). Prints the settings,
the time split, facts/min, the edit success rate (ES on the edited facts) and peak memory.
The one-fact-at-a-time reference runs the same algorithm with batch size 1.

``--flops`` also counts the matmul FLOPs z executes for the first batch (forward and
backward, ``torch.utils.flop_counter``), measures this machine's matmul rate at the same
precision, and prints the bound they imply: the facts/min z could reach if every FLOP
ran at the matmul peak.
"""
import argparse
import resource
import time

import torch

from editlib import Editor, load_model
from editlib.engine.targets.requests import EditRequest
from editlib.evaluation.data import load_cases
from editlib.evaluation.metrics.scoring import target_nll


def success(model, tok, cases) -> float:
    rw = [c["requested_rewrite"] for c in cases]
    prompts = [r["prompt"].format(r["subject"]) for r in rw]
    new = target_nll(model, tok, prompts, [r["target_new"]["str"] for r in rw])
    true = target_nll(model, tok, prompts, [r["target_true"]["str"] for r in rw])
    return float((new < true).mean() * 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--single", type=int, default=4, help="facts for the one-at-a-time reference (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", default="emmet")
    ap.add_argument("--dtype", default=None, help="autocast dtype for z (e.g. bfloat16)")
    ap.add_argument("--steps", type=int, default=None, help="z steps (default: the preset's)")
    ap.add_argument("--prefixes", type=int, default=None,
                    help="generated context-template prefixes (default: the preset's; notebook 03 uses 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flops", action="store_true", help="count z's FLOPs and print the bound at the matmul peak")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, device="cpu")
    try:
        pool = load_cases("counterfact_simple", n=max(a.batches) + a.single, seed=a.seed)
        dataset = "counterfact_simple"
    except FileNotFoundError:
        pool = load_cases("embedded", n=max(a.batches) + a.single, seed=a.seed)
        dataset = "embedded"
    z_over = {}
    if a.steps is not None:
        z_over["v_num_grad_steps"] = a.steps
    if a.prefixes is not None:
        z_over["context_template_lengths"] = [[10, a.prefixes]]
    editor = Editor(model, tok, method=a.method, use_cache=False, progress=False, compute_dtype=a.dtype, **z_over)
    editor.use_cache = True
    editor.covariances()          # statistics are not part of the per-fact cost
    editor.use_cache = False
    editor.templates
    hp = editor.hparams
    print(f"{a.model} · {a.method} · layers {hp.layers} · {a.threads} threads · z dtype {a.dtype or 'float32'} · "
          f"{dataset} seed {a.seed}")
    print(f"v_num_grad_steps={hp.v_num_grad_steps} v_lr={hp.v_lr} clamp={hp.clamp_norm_factor} "
          f"kl={hp.kl_factor} wd={hp.v_weight_decay} templates={len(editor.templates)} config={vars(editor.config)}")
    runs = [(f"batch {b}", [pool[:b]]) for b in a.batches]
    if a.single:
        runs.append((f"one at a time ({a.single})", [[c] for c in pool[-a.single:]]))
    for label, batches in runs:
        n = sum(map(len, batches))
        rates, split = [], {"z_s": 0.0, "solve_s": 0.0}
        for batch in batches:
            with editor.edited([EditRequest.from_dict(c) for c in batch]) as res:
                rates.append(success(model, tok, batch) * len(batch))
                for k in split:
                    split[k] += res.timings[k]
        edit_s = split["z_s"] + split["solve_s"]
        print(f"{label:>24}: {n} facts, edit {edit_s:6.1f} s (z {split['z_s']:.1f} s, keys+solve "
              f"{split['solve_s']:.1f} s) → {n / edit_s * 60:5.1f} facts/min; edits taking "
              f"{sum(rates) / n:.0f}%")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if a.flops:
        flop_bound(editor, [EditRequest.from_dict(c) for c in pool[:a.batches[0]]], a.dtype)


def matmul_rate(dtype: str | None, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n × n matmul at ``dtype`` on this CPU."""
    dt = getattr(torch, dtype) if dtype in ("bfloat16", "float16") else torch.float32
    x, y = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    x @ y
    t0 = time.perf_counter()
    for _ in range(reps):
        x @ y
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def flop_bound(editor, requests, dtype):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        _, info = editor._targets(requests, editor.hparams.layers[-1])
    flops = counter.get_total_flops()
    steps = sum(info["steps"]) + len(requests)
    rate = matmul_rate(dtype)
    per_fact = flops / len(requests)
    print(f"z FLOPs ({len(requests)} facts, {steps / len(requests):.1f} steps per fact on average): "
          f"{per_fact / 1e9:,.0f} GFLOP per fact; matmul peak at {dtype or 'float32'}: {rate / 1e9:,.0f} GFLOP/s "
          f"→ z bound {rate / per_fact * 60:.1f} facts/min")


if __name__ == "__main__":
    main()
