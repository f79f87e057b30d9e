"""Choose EMMET's ridge μ for a small model on the tuning split, as λ and the layer are
chosen: EMMET batch edits for each μ on a grid (MEMIT at the preset's λ as reference) at
batch sizes up to the split's size, with the lighter z budget of notebook 03.

    python benchmarks/ridge_sweep.py --model gemma3-270m --mus 0 0.01 0.03 0.1 0.3 --batches 1 16 64

EMMET solves (Kᵀ(λC0)⁻¹K + μI) — μ is relative to C0 scaled by λ, as in the authors' code
and the presets — so μ = 0.1 means different things on models whose kᵀ(λC0)⁻¹k differ. Rule:
the highest S at the largest batch, ties (within 0.5) broken by EM. Writes the table as CSV
(default figures/tuning/ridge_sweep_<model>.csv).
"""
import argparse
from pathlib import Path

import torch

from editlib.data import SPLITS, TUNE_SEED, TUNE_SIZE, load_cases
from editlib.evaluate import interval_table, summarize
from editlib.experiments import Setting, batch_edits, save_table
from editlib.models import load_model
from editlib.profiles import LIGHT_Z


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--mus", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1, 0.3])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--n", type=int, default=TUNE_SIZE)
    ap.add_argument("--dataset", default="counterfact_simple")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="tune", choices=SPLITS)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model, tok = load_model(a.model)
    cases = load_cases(a.dataset, n=a.n, seed=a.seed, split=a.split)
    mus = {f"emmet μ={mu:g}": mu for mu in a.mus}
    settings = [Setting("memit", "memit", "single", LIGHT_Z)] + [
        Setting(label, "emmet", "single", {**LIGHT_Z, "mu": mu}) for label, mu in mus.items()]
    metrics, _ = batch_edits(model, tok, cases, settings, a.batches, a.model, a.dataset, a.seed)
    metrics = metrics.assign(mu=metrics["setting"].map(mus), split=a.split, tune_seed=TUNE_SEED, tune_size=TUNE_SIZE)
    print(f"{a.model}: batch edits at the preset's single layer, {a.n} {a.dataset} cases of the {a.split!r} "
          f"split (seed {a.seed}), z with {LIGHT_Z}")
    print(interval_table(metrics, ["setting", "batch_size"], ("ES", "PS", "NS", "S", "EM", "NM")).to_string())
    s = summarize(metrics[metrics.batch_size == max(a.batches)], ["setting"]).pivot_table(
        index="setting", columns="metric", values="mean").loc[list(mus)]
    best = s[s["S"] >= s["S"].max() - 0.5]["EM"].idxmax()
    print(f"chosen at batch {max(a.batches)} (highest S, ties by EM): μ = {mus[best]:g}")
    out = Path(a.out or f"figures/tuning/ridge_sweep_{a.model}.csv")
    save_table(metrics, out.parent, out.stem)


if __name__ == "__main__":
    main()
