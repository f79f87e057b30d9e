"""The time of the edits themselves in two runs of one notebook, from their diagnostics
(``edit_s``: keys and values at the edit layers, the solve and the write), summed per
method group: MEMIT's edits, and every other method's.

    python benchmarks/edit_time.py RUN_A/figures/paper RUN_B/figures/paper \
        [--model smollm2-135m] [--notebooks 01_objectives 02_edit_distribution 03_emmet_batch_size]

A spread edit has one diagnostics row per layer, each with the edit's own ``edit_s``; each
edit is counted once. MEMIT's edit is the reference for the machine's drift between two
runs when only the other methods' code differs.
"""
import argparse
from pathlib import Path

import pandas as pd

NOTEBOOKS = ("01_objectives", "02_edit_distribution", "03_emmet_batch_size")


def diagnostics(folder: Path, notebook: str, model: str) -> pd.DataFrame:
    stem = folder / f"{notebook}_{model}_diagnostics.csv"
    return pd.read_csv(stem if stem.exists() else stem.with_suffix(".csv.gz"))


def edit_time(table: pd.DataFrame) -> pd.DataFrame:
    """Seconds and count of edits per group, each edit once."""
    edits = table.drop_duplicates(["setting", "case_ids", "batch_size", "edit_s"])
    group = edits.method.str.contains("memit").map({True: "MEMIT", False: "other methods"})
    return edits.groupby(group).edit_s.agg(seconds="sum", edits="count")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, type=Path)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS))
    args = parser.parse_args()
    for notebook in args.notebooks:
        a, b = (edit_time(diagnostics(run, notebook, args.model)) for run in args.runs)
        print(f"{notebook}:")
        print(pd.concat({"A": a, "B": b}, axis=1).round(1).to_string(), "\n")


if __name__ == "__main__":
    main()
