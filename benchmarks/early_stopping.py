"""z's stopping rules compared on the same facts: the paper's rule (loss < 5e-2 or the step
cap) against ENCORE's most-probable early stopping (MPES), for single edits on CPU.

    python benchmarks/early_stopping.py [--model smollm2-135m] [--method memit] [--n 48] [--counts 2]
                                        [--threads 2] [--seed 0]

Each rule edits the same ``--n`` cases of the evaluation split one at a time (one fact's z
optimised alone, then the solve; statistics computed once per rule and not timed), scores
each edited fact (ES, PS, NS) and restores the model. Prints, per rule: z's Adam steps per
fact, seconds per edit (z + solve), facts per minute, and S with its interval; then each
MPES cutoff against the paper's rule, paired on the cases: S, ES, PS, NS differences with
their BCa intervals, permutation p-values and verdicts (docs/statistics.md). No z cache is
read or written, so the times are the work itself.
"""
import argparse
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from editlib import Editor, load_model
from editlib.evaluation.data import load_cases
from editlib.evaluation.evaluate import evaluate
from editlib.evaluation.statistics import SCORE_PARTS, paired_difference, summarize


def edit_each(model, tok, cases, method: str, label: str, **overrides):
    """Single edits of ``cases`` under one z rule: (long metrics table, per-edit rows)."""
    editor = Editor(model, tok, method=method, use_cache=False, progress=False, **overrides)
    editor.covariances()                       # once per rule, outside the timed edits
    editor.templates
    metrics, rows = [], []
    for case in tqdm(cases, desc=label, unit="edit"):
        t0 = time.perf_counter()
        with editor.edited([case]) as result:
            edit_s = time.perf_counter() - t0
            metrics.append(evaluate(model, tok, [case], params={"rule": label}))
        rows.append({"rule": label, "case_id": case["case_id"], "edit_s": edit_s,
                     "z_s": result.timings["z_s"], "steps": result.z_info["steps"][0],
                     "z_loss": result.z_info["loss"][0]})
    return pd.concat(metrics, ignore_index=True), pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--method", default="memit")
    ap.add_argument("--n", type=int, default=48, help="cases of the evaluation split")
    ap.add_argument("--counts", type=int, nargs="+", default=[2], help="MPES cutoffs (z_stop_count) to compare")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, device="cpu")
    cases = load_cases("counterfact_simple", n=a.n, seed=a.seed, split="eval")
    rules = {"loss": {}} | {f"most_probable ×{c}": {"z_stop": "most_probable", "z_stop_count": c} for c in a.counts}
    metrics, edits = {}, {}
    for label, over in rules.items():
        metrics[label], edits[label] = edit_each(model, tok, cases, a.method, label, **over)
    print(f"{a.model}, {a.method} single edits at the preset's layer, {a.n} counterfact_simple eval cases "
          f"(seed {a.seed}), {a.threads} thread(s), {torch.__version__}")
    table = []
    for label in rules:
        e = edits[label]
        s = summarize(metrics[label][metrics[label].metric.isin(SCORE_PARTS)], by=["rule"])
        s = s[s.metric == "S"].iloc[0]
        table.append({"rule": label, "steps/fact": e.steps.mean(), "z s/edit": e.z_s.mean(),
                      "s/edit": e.edit_s.mean(), "facts/min": 60 / e.edit_s.mean(),
                      "S": f"{s['mean']:.1f} [{s['ci_low']:.1f}, {s['ci_high']:.1f}]"})
    print(pd.DataFrame(table).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    base = metrics["loss"]
    for label in list(rules)[1:]:
        speed = 1 - edits[label].edit_s.sum() / edits["loss"].edit_s.sum()
        print(f"\n{label} − loss (paired on {a.n} cases); time per edit {-100 * speed:+.0f} %")
        rows = [{"metric": m, **paired_difference(metrics[label], base, m)} for m in ("S", *SCORE_PARTS)]
        out = pd.DataFrame(rows)[["metric", "a_mean", "b_mean", "difference", "ci_low", "ci_high", "p_value",
                                  "verdict"]]
        print(out.to_string(index=False, float_format=lambda x: f"{x:.3g}" if abs(x) < 0.01 else f"{x:.2f}"))
    print(f"\nsteps per fact: loss {np.mean(edits['loss'].steps):.1f}; "
          + "; ".join(f"{k} {np.mean(edits[k].steps):.1f}" for k in list(rules)[1:]))


if __name__ == "__main__":
    main()
