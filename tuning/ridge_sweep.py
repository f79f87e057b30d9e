"""Choose a ridge for a small model on the tuning split, as λ and the layer are chosen:
batch edits for each value on a grid (MEMIT at the preset's λ as reference) at batch sizes
up to the split's size, with the lighter z budget of notebook 03.

    python -m tuning ridge --model gemma3-270m --values 0 0.01 0.03 0.1 0.3 --batches 1 16 64
    python -m tuning ridge --model gemma3-270m --method alphaedit --values 0.1 1 10 100

- EMMET's μ (``--method emmet``, the default): EMMET solves (Kᵀ(λC0)⁻¹K + μI) — μ is
  relative to C0 scaled by λ, as in the authors' code and the presets — so μ = 0.1 means
  different things on models whose kᵀ(λC0)⁻¹k differ.
- AlphaEdit's α (``--method alphaedit``): Δ = R Kᵀ P (K Kᵀ P + α I)⁻¹ — α is absolute,
  weighed against K Kᵀ, so a model with small keys needs a small α.

Rule: the highest S at the largest batch, ties (within 0.5) broken by EM. Writes the table
as CSV (default figures/tuning/<ridge>_sweep_<model>.csv: ridge_sweep for μ, alpha_sweep for α).
"""
from pathlib import Path

from editlib.evaluation.data import TUNE_SEED, TUNE_SIZE
from editlib.evaluation.statistics import interval_table, summarize
from editlib.experiments import Setting, batch_edits, save_table
from editlib.suite.profiles import LIGHT_Z
from tuning.common import tuning_cases, tuning_parser

RIDGES = {"emmet": ("mu", "μ", "ridge_sweep", [0.0, 0.01, 0.03, 0.1, 0.3]),
          "alphaedit": ("alpha", "α", "alpha_sweep", [0.1, 1.0, 10.0, 100.0])}


def main(argv=None):
    ap = tuning_parser(__doc__, "ridge")
    ap.add_argument("--method", default="emmet", choices=sorted(RIDGES))
    ap.add_argument("--values", "--mus", type=float, nargs="+", default=None, help="the ridge's grid")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    a = ap.parse_args(argv)
    field, symbol, stem, grid = RIDGES[a.method]
    model, tok, cases = tuning_cases(a)
    values = {f"{a.method} {symbol}={v:g}": v for v in (a.values or grid)}
    settings = [Setting("memit", "memit", "single", LIGHT_Z)] + [
        Setting(label, a.method, "single", {**LIGHT_Z, field: v}) for label, v in values.items()]
    metrics, diags = batch_edits(model, tok, cases, settings, a.batches, a.model, a.dataset, a.seed)
    metrics = metrics.assign(**{field: metrics["setting"].map(values)}, split=a.split, tune_seed=TUNE_SEED,
                             tune_size=TUNE_SIZE)
    print(f"{a.model}: batch edits at the preset's single layer, {a.n} {a.dataset} cases of the {a.split!r} "
          f"split (seed {a.seed}), z with {LIGHT_Z}")
    print(interval_table(metrics, ["setting", "batch_size"], ("ES", "PS", "NS", "S", "EM", "NM")).to_string())
    if "projection_rank" in diags:
        print("rank of P:", sorted(diags["projection_rank"].dropna().astype(int).unique()))
    s = summarize(metrics[metrics.batch_size == max(a.batches)], ["setting"]).pivot_table(
        index="setting", columns="metric", values="mean").loc[list(values)]
    best = s[s["S"] >= s["S"].max() - 0.5]["EM"].idxmax()
    print(f"chosen at batch {max(a.batches)} (highest S, ties by EM): {symbol} = {values[best]:g}")
    out = Path(a.out or f"figures/tuning/{stem}_{a.model}.csv")
    save_table(metrics, out.parent, out.stem)


if __name__ == "__main__":
    main()
