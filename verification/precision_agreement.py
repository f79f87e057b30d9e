"""Mixed precision against float32 on real facts: does bfloat16 change the edit?

    python verification/precision_agreement.py [--model smollm2-135m] [--n 64] [--dtype bfloat16]

One batch of ``--n`` CounterFact facts (eval split; the embedded cases without a data
directory) is written with EMMET at the preset's layer and hyperparameters, three ways:
float32 throughout (the reference), z at ``--dtype`` (C0 float32), and z and C0's forward
both at ``--dtype``. Prints, against the reference: z's per-fact cosine and relative
difference, C0's relative difference, ΔW's relative difference, the time z took, and the
CounterFact scores after the edit with 95 % intervals. Writes the table to
``figures/performance/precision_agreement_<model>.csv``.
"""
import argparse
import time

import pandas as pd
import torch

from editlib import Editor, load_model
from editlib.engine.targets.requests import EditRequest
from editlib.evaluation.data import load_cases
from editlib.evaluation.evaluate import evaluate
from editlib.evaluation.statistics import interval_table, summarize
from editlib.experiments import RunRecord, save_table, slug
from editlib.experiments.provenance import hardware


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--method", default="emmet")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="figures/performance")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    started = time.time()
    model, tok = load_model(a.model)
    device = next(model.parameters()).device
    try:
        cases, dataset = load_cases("counterfact_simple", n=a.n, seed=a.seed), "counterfact_simple"
    except FileNotFoundError:
        cases, dataset = load_cases("embedded", n=a.n, seed=a.seed), "embedded"
    requests = [EditRequest.from_dict(c) for c in cases]
    runs = {"float32": {}, f"z {a.dtype}": {"compute_dtype": a.dtype},
            f"z and C0 {a.dtype}": {"compute_dtype": a.dtype, "mom2_dtype": a.dtype}}
    out, scores = {}, []
    for label, over in runs.items():
        ed = Editor(model, tok, method=a.method, progress=True, **over)
        cov = ed.covariances()[ed.hparams.layers[-1]]        # cached on disk after the first run
        ed.use_cache = False                                  # z is what is timed and compared
        t0 = time.perf_counter()
        with ed.edited(requests) as res:
            z_s = time.perf_counter() - t0 - res.timings["solve_s"] - res.timings["stats_s"]
            long = evaluate(model, tok, cases, params={"run": label})
        scores.append(long)
        (name, delta), = res.deltas.items()
        out[label] = {"z": res.z, "delta": delta, "cov": cov, "z_s": z_s}
    ref = out["float32"]
    rows = []
    for label, o in out.items():
        cos = torch.nn.functional.cosine_similarity(o["z"], ref["z"], dim=-1)
        rel = (o["z"] - ref["z"]).norm(dim=-1) / ref["z"].norm(dim=-1)
        rows.append({"run": label, "z cosine (min)": cos.min().item(), "z cosine (mean)": cos.mean().item(),
                     "z rel. diff (max)": rel.max().item(), "z rel. diff (mean)": rel.mean().item(),
                     "C0 rel. diff": ((o["cov"] - ref["cov"]).norm() / ref["cov"].norm()).item(),
                     "ΔW rel. diff": ((o["delta"] - ref["delta"]).norm() / ref["delta"].norm()).item(),
                     "z time (s)": o["z_s"], "z facts/min": a.n / o["z_s"] * 60})
    agree = pd.DataFrame(rows).set_index("run")
    long = pd.concat(scores)
    table = agree.join(interval_table(long, ["run"]))
    pd.set_option("display.width", 250)
    print(f"\n{a.model} · {a.method} · {a.n} facts of {dataset} (seed {a.seed}) · {hardware(device)}")
    print(agree.round(4).to_string())
    print(interval_table(long, ["run"]).to_string())
    s = summarize(long, ["run"])
    print(s[s.metric.isin(["ES", "PS", "NS", "S"])].round(2).to_string(index=False))
    record = RunRecord("benchmark", "eval", hardware(device), started)
    save_table(table.reset_index().assign(model=a.model, dataset=dataset, seed=a.seed, n=a.n), a.out,
               f"precision_agreement_{slug(a.model)}", record)


if __name__ == "__main__":
    main()
