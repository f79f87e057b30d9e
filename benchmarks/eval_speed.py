"""Cases per minute for the CounterFact metrics without generation (ES/PS/NS/EM/PM/NM)
on SmolLM2-135M, CPU: batched scoring vs one case at a time.

    python benchmarks/eval_speed.py [--n 40] [--dataset embedded]
"""
import argparse
import time

import numpy as np
import pandas as pd
import torch

from editlib import load_model
from editlib.evaluation.data import load_cases
from editlib.evaluation.metrics.counterfact import probe_scores


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--dataset", default="embedded")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, device="cpu")
    cases = load_cases(a.dataset, n=a.n, seed=0)
    n_prompts = sum(1 + len(c["paraphrase_prompts"]) + len(c["neighborhood_prompts"]) for c in cases)
    probe_scores(model, tok, cases[:1])          # warm-up: the first forward pays one-off costs
    t0 = time.perf_counter()
    batched = probe_scores(model, tok, cases)
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = pd.concat([probe_scores(model, tok, [c]) for c in cases], ignore_index=True)
    ts = time.perf_counter() - t0
    diff = np.nanmax(np.abs(batched.drop(columns="case_id").to_numpy() - single.drop(columns="case_id").to_numpy()))
    print(f"{a.model} · {a.n} {a.dataset} cases · {n_prompts} prompts × 2 targets · {a.threads} threads")
    print(f"batched:        {tb:6.1f} s → {a.n / tb * 60:6.1f} cases/min")
    print(f"one at a time:  {ts:6.1f} s → {a.n / ts * 60:6.1f} cases/min")
    print(f"speed-up {ts / tb:.1f}×; largest difference between the two (×100 scale): {diff:.2g}")


if __name__ == "__main__":
    main()
