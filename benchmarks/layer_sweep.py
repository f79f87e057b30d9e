"""Choose the edit layers of a small model by measurement: ROME single edits of real
facts at each candidate layer, scored with ES/PS/NS (S = their harmonic mean).

    python benchmarks/layer_sweep.py --model smollm2-135m --layers 0 2 4 6 8 10 12 --n 8

Prints the per-layer summary and writes it as CSV (default figures/tuning/layer_sweep_<model>.csv).
"""
import argparse
from pathlib import Path

import torch

from editlib.data import SPLITS, TUNE_SEED, TUNE_SIZE, load_cases
from editlib.evaluate import interval_table, summary_table
from editlib.experiments import layer_sweep, save_table
from editlib.models import load_model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--layers", type=int, nargs="+", required=True)
    ap.add_argument("--n", type=int, default=TUNE_SIZE)
    ap.add_argument("--dataset", default="counterfact_simple")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="tune", choices=SPLITS,
                    help="tune (default): the held-out tuning split, never reported")
    ap.add_argument("--method", default="rome")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model, tok = load_model(a.model)
    cases = load_cases(a.dataset, n=a.n, seed=a.seed, split=a.split)
    df = layer_sweep(model, tok, cases, a.layers, a.method, a.model, a.dataset, a.seed)
    table = summary_table(df, ["layer"])
    df = df.assign(split=a.split, tune_seed=TUNE_SEED, tune_size=TUNE_SIZE)
    print(f"{a.model}: {a.method} single edits, {a.n} {a.dataset} cases of the {a.split!r} split (seed {a.seed})")
    print(interval_table(df, ["layer"]).to_string())
    out = Path(a.out or f"figures/tuning/layer_sweep_{a.model}.csv")
    save_table(df, out.parent, out.stem)
    print("best layer by S:", int(table["S"].idxmax()))


if __name__ == "__main__":
    main()
