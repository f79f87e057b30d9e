"""Choose the edit layers of a small model by measurement: ROME single edits of real
facts at each candidate layer, scored with ES/PS/NS (S = their harmonic mean).

    python -m tuning layers --model smollm2-135m --layers 0 2 4 6 8 10 12 --n 8

Prints the per-layer summary and writes it as CSV (default figures/tuning/layer_sweep_<model>.csv).
"""
from pathlib import Path

from editlib.evaluation.data import TUNE_SEED, TUNE_SIZE
from editlib.evaluation.statistics import interval_table, summary_table
from editlib.experiments import layer_sweep, save_table
from tuning.common import tuning_cases, tuning_parser


def main(argv=None):
    ap = tuning_parser(__doc__, "layers")
    ap.add_argument("--layers", type=int, nargs="+", required=True)
    ap.add_argument("--method", default="rome")
    a = ap.parse_args(argv)
    model, tok, cases = tuning_cases(a)
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
