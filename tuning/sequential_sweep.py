"""Choose a sequential method's weight on the tuning split, as notebook 04 edits: batch after
batch written into the same model (:func:`editlib.experiments.sequential_edits`) for each
value on a grid, with notebook 04's quick z (light, bfloat16 passes).

    python -m tuning alpha-sequential                                  # AlphaEdit's α, SmolLM2
    python -m tuning alpha-sequential --model gemma3-270m --values 0.1 1 10
    python -m tuning norm-sequential --model smollm2-135m --values 0 1 10 100   # ENCORE's λ_n

AlphaEdit's α is absolute, weighed against K Kᵀ (Δ = R Kᵀ P ((K Kᵀ + K_p K_pᵀ) P + αI)⁻¹): one-batch
sweeps (python -m tuning ridge --method alphaedit) favour a small α, but in a sequence α is
also what keeps each batch's update small. ENCORE's λ_n plays the same part beside λC0 + K_pK_pᵀ
(Δ = R Kᵀ(λC0 + λ_n I + K_pK_pᵀ + KKᵀ)⁻¹, λ the preset's MEMIT λ). The tuning split has 64
cases: 4 batches of 16.

Rule: the highest retention S (ES, PS, NS of a fixed sample of the facts written so far)
after the last batch; ties (within 0.5) to the larger value, the smaller update. Writes the
scores and the trajectory as CSV (figures/tuning/<param>_sequential_<model>.csv, _trajectory).
"""
from pathlib import Path

from editlib.evaluation.data import TUNE_SEED, TUNE_SIZE
from editlib.evaluation.statistics import interval_table, summarize
from editlib.experiments import Setting, save_table, sequential_edits
from editlib.suite.runs import notebook_parameters
from tuning.common import tuning_cases, tuning_parser

# sweep name: (method, its setting, the name of the output files, the grid)
SWEPT = {"alpha-sequential": ("alphaedit", "alpha", "alpha_sequential", [0.1, 1.0, 10.0]),
         "norm-sequential": ("encore", "norm_constraint", "norm_sequential", [0.0, 1.0, 10.0, 100.0])}


def main(argv=None, sweep: str = "alpha-sequential"):
    method, param, stem, grid = SWEPT[sweep]
    ap = tuning_parser(__doc__, sweep)
    ap.add_argument("--values", type=float, nargs="+", default=grid)
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args(argv)
    model, tok, cases = tuning_cases(a)
    quick_z = notebook_parameters("04", a.model, "quick")["edit_overrides"]     # notebook 04's quick z
    n_batches = len(cases) // a.batch_size
    values = {f"{method} {param}={v:g}": v for v in a.values}
    settings = [Setting(label, method, "single", {**quick_z, param: v}) for label, v in values.items()]
    metrics, traj = sequential_edits(model, tok, cases, settings, a.batch_size, n_batches, model_name=a.model,
                                     dataset=a.dataset, seed=a.seed, retention=32, ability_every=n_batches,
                                     ppl_tokens=2048, ge_cases=0, scored=a.batch_size)
    tag = {"split": a.split, "tune_seed": TUNE_SEED, "tune_size": TUNE_SIZE}
    metrics = metrics.assign(**{param: metrics["setting"].map(values)}, **tag)
    traj = traj.drop(columns=["window_nll"], errors="ignore").assign(**{param: traj["setting"].map(values)}, **tag)
    last = metrics.n_edits.max()
    print(f"{a.model}: {n_batches} batches of {a.batch_size} written in sequence at the preset's single layer, "
          f"{len(cases)} {a.dataset} cases of the {a.split!r} split (seed {a.seed}), z with {quick_z}")
    final = metrics[metrics.n_edits == last]
    print(interval_table(final, ["setting", "scope"], ("ES", "PS", "NS", "S", "EM", "NM")).to_string())
    end = traj.dropna(subset=["perplexity"]).groupby("setting").last()
    base = traj.loc[traj.n_edits == 0, "perplexity"].iloc[0]
    print(end[["perplexity", "weight_drift"]].assign(perplexity=end.perplexity / base)
          .rename(columns={"perplexity": "perplexity / unedited"}).round(3).to_string())
    ret = metrics[(metrics.n_edits == last) & (metrics.scope == "retention")]
    s = summarize(ret, ["setting"]).pivot_table(index="setting", columns="metric", values="mean").loc[list(values)]
    best = max((label for label in values if s.loc[label, "S"] >= s["S"].max() - 0.5), key=values.get)
    print(f"chosen after {last} sequential edits (highest retention S, ties to the larger value): "
          f"{param} = {values[best]:g}")
    out = Path(a.out or f"figures/tuning/{stem}_{a.model}.csv")
    save_table(metrics, out.parent, out.stem)
    save_table(traj, out.parent, f"{out.stem}_trajectory")


if __name__ == "__main__":
    main()
