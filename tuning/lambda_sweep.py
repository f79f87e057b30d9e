"""Choose MEMIT's preservation weight λ for a small model by measurement, as the layer is
chosen (layer_sweep.py): MEMIT single edits of real facts at the preset's single layer for
each λ on a grid, scored with ES/PS/NS (S = their harmonic mean), ROME as the reference.

    python -m tuning lambda --model smollm2-135m --lambdas 15000 5000 1500 500 150 --n 10

For one key MEMIT writes the fraction s/(λ + s) of the residual (s = kᵀC0⁻¹k), so λ is
tied to a model's key statistics; the paper's value does not transfer. The rule: the
highest S; ties (within 0.5) go to the larger λ (more weight on preservation). Also
prints each setting's median unwritten residual ‖ΔK−R‖/‖R‖. Writes the table as CSV
(default figures/tuning/lambda_sweep_<model>.csv).
"""
from pathlib import Path

import pandas as pd

from editlib.evaluation.data import TUNE_SEED, TUNE_SIZE
from editlib.evaluation.statistics import interval_table, summary_table
from editlib.experiments import Setting, batch_edits, save_table
from tuning.common import tuning_cases, tuning_parser


def main(argv=None):
    ap = tuning_parser(__doc__, "lambda")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[15000, 5000, 1500, 500, 150, 50])
    a = ap.parse_args(argv)
    model, tok, cases = tuning_cases(a)
    lambdas = {f"memit λ={lam:g}": lam for lam in a.lambdas}      # setting label -> λ
    settings = [Setting("rome", "rome")] + [Setting(label, "memit", "single", {"mom2_update_weight": lam})
                                            for label, lam in lambdas.items()]
    metrics, diags = batch_edits(model, tok, cases, settings, (1,), a.model, a.dataset, a.seed)
    metrics["lambda"] = metrics["setting"].map(lambdas)
    table = summary_table(metrics, ["setting"])
    written = diags.groupby("setting")["relative_residual"].median().rename("median ‖ΔK−R‖/‖R‖")
    metrics = metrics.assign(split=a.split, tune_seed=TUNE_SEED, tune_size=TUNE_SIZE)
    print(f"{a.model}: single edits at layers {diags['layers'].iloc[0]}, {a.n} {a.dataset} cases "
          f"of the {a.split!r} split (seed {a.seed})")
    print(pd.concat([interval_table(metrics, ["setting"]), written], axis=1).to_string())
    memit = table.loc[list(lambdas)]
    lam = max(lambdas[s] for s in memit.index[memit["S"] >= memit["S"].max() - 0.5])
    print(f"chosen λ (highest S, ties to the larger λ): {lam:g}")
    out = Path(a.out or f"figures/tuning/lambda_sweep_{a.model}.csv")
    save_table(metrics, out.parent, out.stem)


if __name__ == "__main__":
    main()
