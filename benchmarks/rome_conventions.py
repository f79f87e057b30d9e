"""Which of ROME's original conventions makes ``rome_original`` differ from the unified
``rome``: single edits with ROME's conventions, and with one of them set back to the
unified ROME's value at a time (same cases, layer and C0), scored with ES/PS/NS.

    python benchmarks/rome_conventions.py --model gemma3-270m --n 10

Settings: rome (unified); rome_original; rome_original with clamp 0.75 (the unified clamp);
rome_original with the unified templates and key average ("{}" + 5 of 10 tokens, ½ plain
+ ½ prefixed). Prints S/ES/PS/NS/NM and the median ‖Δ‖, preservation cost and z loss.
"""
import argparse

import pandas as pd
import torch

from editlib.data import load_cases
from editlib.evaluate import summary_table
from editlib.experiments import Setting, batch_edits
from editlib.models import load_model

UNIFIED_KEYS = {"context_template_lengths": ((10, 5),), "key_average": "half_plain"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--dataset", default="embedded")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model, tok = load_model(a.model)
    cases = load_cases(a.dataset, n=a.n, seed=a.seed)
    settings = [Setting("rome", "rome"), Setting("rome_original", "rome_original"),
                Setting("original, clamp 0.75", "rome_original", "single", {"clamp_norm_factor": 0.75}),
                Setting("original, unified templates+keys", "rome_original", "single", UNIFIED_KEYS)]
    metrics, diags = batch_edits(model, tok, cases, settings, (1,), a.model, a.dataset, a.seed)
    table = summary_table(metrics, ["setting"])[["S", "ES", "PS", "NS", "NM"]]
    med = diags.groupby("setting")[["update_norm", "preservation_cost", "z_loss"]].median()
    print(f"{a.model}: single edits at layers {diags['layers'].iloc[0]}, {a.n} {a.dataset} cases (seed {a.seed})")
    print(pd.concat([table, med.round(4)], axis=1).loc[[s.label for s in settings]].to_string())


if __name__ == "__main__":
    main()
