"""Markdown tables (mean [95% interval]) from a figures folder's CSVs, for the docs:

    python -m editlib.report figures/paper        # every notebook table found there

One table per notebook and model, with the run's profile, hardware and wall time.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .evaluate import interval_table

GROUPS = {"01_objectives": (["setting"], ("ES", "PS", "NS", "S", "EM", "NM", "GE")),
          "02_edit_distribution": (["method", "mode"], ("ES", "PS", "NS", "S", "EM", "NM")),
          "03_emmet_batch_size": (["setting", "batch_size"], ("S", "EM", "NS"))}


def markdown(df: pd.DataFrame) -> str:
    df = df.reset_index()
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(map(str, row)) + " |\n" for row in df.itertuples(index=False))


def run_line(table: pd.DataFrame) -> str:
    cols = [c for c in ("profile", "hardware", "dataset", "split") if c in table]
    parts = [f"{c} {table[c].iloc[0]}" for c in cols]
    if "wall_s" in table:
        parts.append(f"notebook wall time {table['wall_s'].max():.0f} s")
    return "; ".join(parts)


def notebook_tables(folder: Path) -> list[str]:
    out = []
    for name, (by, metrics) in GROUPS.items():
        for path in sorted(folder.glob(f"{name}_*.csv")):
            if path.stem.endswith(("_diagnostics", "_conditioning")):
                continue
            table = pd.read_csv(path)
            out.append(f"**{path.stem}** ({run_line(table)})\n\n" + markdown(interval_table(table, by, metrics)))
            diags = path.with_name(path.stem + "_diagnostics.csv")
            if diags.exists() and "error" in (d := pd.read_csv(diags)):
                refused = d[d["error"].notna()][["setting", "batch_size", "error"]]
                if len(refused):
                    out.append("refused solves:\n\n" + markdown(refused.set_index("setting")))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", default="figures")
    print("\n\n".join(notebook_tables(Path(ap.parse_args(argv).folder))))


if __name__ == "__main__":
    main()
