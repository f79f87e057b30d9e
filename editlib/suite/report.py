"""Markdown tables (mean [95% interval]) from a figures folder's CSVs, for the docs:

    python -m editlib.suite.report figures/paper        # every notebook table found there

One table per notebook and model, with the run's profile, hardware and wall time.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..evaluation.statistics import interval_table


def _after_last_batch(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["n_edits"] == table["n_edits"].max()]


# notebook -> (grouping, metrics, the rows a table shows)
GROUPS = {"01_objectives": (["setting"], ("ES", "PS", "NS", "S", "EM", "NM", "GE"), None),
          "02_edit_distribution": (["method", "mode"], ("ES", "PS", "NS", "S", "EM", "NM"), None),
          "03_emmet_batch_size": (["setting", "batch_size"], ("S", "EM", "NS"), None),
          "04_sequential_editing": (["setting", "scope"], ("ES", "PS", "NS", "EM", "NM"), _after_last_batch)}
SIDE_TABLES = ("_diagnostics", "_conditioning", "_trajectory")


def tables(folder: Path, notebook: str) -> list[tuple[str, Path]]:
    """(name, path) of a notebook's main tables in a folder: ``.csv``, or ``.csv.gz`` for the
    large ones kept compressed."""
    found = [(p.name.removesuffix(".gz").removesuffix(".csv"), p) for pattern in ("*.csv", "*.csv.gz")
             for p in folder.glob(f"{notebook}_{pattern}")]
    return sorted((n, p) for n, p in found if not n.endswith(SIDE_TABLES))


def markdown(df: pd.DataFrame) -> str:
    df = df.reset_index()
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(map(str, row)) + " |\n" for row in df.itertuples(index=False))


def run_line(table: pd.DataFrame) -> str:
    cols = [c for c in ("profile", "hardware", "threads", "z_dtype", "dataset", "split") if c in table]
    parts = [f"{c} {table[c].iloc[0]}" for c in cols]
    if "wall_s" in table:
        parts.append(f"notebook wall time {table['wall_s'].max():.0f} s")
    return "; ".join(parts)


def notebook_tables(folder: Path) -> list[str]:
    out = []
    for notebook, (by, metrics, select) in GROUPS.items():
        for name, path in tables(folder, notebook):
            table = pd.read_csv(path)
            shown = select(table) if select else table
            out.append(f"**{name}** ({run_line(table)})\n\n" + markdown(interval_table(shown, by, metrics)))
            diags = path.with_name(name + "_diagnostics.csv")
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
