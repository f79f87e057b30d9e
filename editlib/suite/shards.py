"""One notebook run split by its settings into shards (processes side by side on one GPU, or
on several machines), and put back together.

    python -m editlib.reproduce --profile paper --notebooks 04 --out figures/paper/04a \\
        -p settings "['memit', 'emmet_ridge']"
    python -m editlib.reproduce --profile paper --notebooks 04 --out figures/paper/04b \\
        -p settings "['emmet_preserved', 'alphaedit']"
    python -m editlib.suite.shards figures/paper figures/paper/04a figures/paper/04b

Each shard writes the notebook's tables for its settings; :func:`merge` concatenates the
tables of the same name (every row keeps the hardware and wall time of the shard that
produced it), copies each shard's executed notebook beside the others with the shard's
name, and draws the notebook's figures again from the merged tables. Shards must come from
the same notebook, model, profile and data, with different settings. A shard can be a
committed run's tables (``.csv.gz`` read as they are) joined by a run of further settings;
a side table that only some shards have is the concatenation of theirs.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

from ..experiments import experiment_of, plots
from .report import SIDE_TABLES

SAME = ("model", "dataset", "seed", "profile", "split", "batch_size")    # must agree across shards


def _check(tables: list[pd.DataFrame], name: str) -> None:
    for col in SAME:
        values = {tuple(sorted(map(str, t[col].dropna().unique()))) for t in tables if col in t}
        if len(values) > 1:
            raise ValueError(f"shards of {name} differ in {col}: {sorted(values)}")
    settings = [set(t["setting"]) - {"unedited"} for t in tables if "setting" in t]
    seen = set()
    for s in settings:
        if seen & s:
            raise ValueError(f"shards of {name} repeat the setting(s) {sorted(seen & s)}")
        seen |= s


def _tables(folder: Path) -> dict[str, Path]:
    """A shard's tables by stem (``.csv``, or ``.csv.gz`` as committed)."""
    return {p.name.removesuffix(".gz").removesuffix(".csv"): p
            for p in sorted(folder.glob("*.csv*")) if p.name.endswith((".csv", ".csv.gz"))}


def merge(out_dir, shards) -> list[Path]:
    """Merge the shard folders' tables into ``out_dir`` and redraw their figures. Every
    shard has the main tables; a side table (``_windows``...) that a shard's code predates
    is merged from the shards that have it."""
    out_dir, shards = Path(out_dir), [Path(s) for s in shards]
    found = [_tables(s) for s in shards]
    stems = sorted(set().union(*found))
    if not stems:
        raise FileNotFoundError(f"no tables in {', '.join(map(str, shards))}")
    for stem in stems:
        lacking = [str(s) for s, f in zip(shards, found) if stem not in f]
        if lacking and not stem.endswith(SIDE_TABLES):
            raise FileNotFoundError(f"{stem} is not in every shard: {', '.join(lacking)} lack(s) it")
    written, tables = [], {}
    for stem in stems:
        parts = [pd.read_csv(f[stem]) for f in found if stem in f]
        _check(parts, stem)
        tables[stem] = pd.concat(parts, ignore_index=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        tables[stem].to_csv(out_dir / f"{stem}.csv", index=False)
        written.append(out_dir / f"{stem}.csv")
    for stem in stems:                              # each notebook's figures, drawn from the merged tables
        experiment = experiment_of(stem)
        side = {k[len(stem):]: t for k, t in tables.items() if k.startswith(stem) and k[len(stem):] in SIDE_TABLES}
        if experiment is not None and experiment.claim_metrics and not stem.endswith(SIDE_TABLES):
            run = {"": tables[stem], **side}
            written += plots.save_all(experiment.figures(run, experiment.claims(run)), out_dir, stem)
    for s in shards:
        for nb in (s / "executed").glob("*.ipynb"):
            dst = out_dir / "executed" / f"{nb.stem}_{s.name}.ipynb"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nb, dst)
            written.append(dst)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="folder for the merged tables and figures")
    ap.add_argument("shards", nargs="+", help="the shards' output folders (reproduce --out)")
    a = ap.parse_args(argv)
    for p in merge(a.out, a.shards):
        print("wrote", p)


if __name__ == "__main__":
    main()
