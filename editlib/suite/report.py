"""Reports from a figures folder's tables, without re-running any edit.

    python -m editlib.suite.report tables figures/paper        # Markdown tables: mean [95 % interval]
    python -m editlib.suite.report regenerate                  # figures/ and figures/paper/: every
        # notebook figure drawn again, claims.csv written
    python -m editlib.suite.report regenerate --render         # ... and the claims tables in README.md
        # and docs/statistics.md and the result tables in docs/notebooks.md rendered from them

``regenerate`` reads only the committed per-case tables (and their side tables): the
figures, the paired comparisons (:mod:`editlib.experiments.claims`) and the tables in the
docs all come from them, so no number in a claims table is typed by hand. A table that is
not a whole run of its notebook (:meth:`~editlib.experiments.experiment.Experiment.check_table`)
is refused before any claim is drawn from it. ``--render`` needs both folders, and writes
the docs only once every page's new text has been made: all of them or none.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..base.errors import HyperparameterError
from ..evaluation.statistics import interval_table
from ..experiments import experiments, plots
from ..experiments.claims import ONE_MEASUREMENT, adjusted
from .reproduce import DEFAULT_MODELS
from .runs import ROOT

# the experiments with a finding to report (the quickstart has none), and every side table's suffix
REPORTED = [e for e in experiments() if e.claim_metrics]
SIDE_TABLES = tuple(dict.fromkeys(s for e in experiments() for s in e.side_tables))
FOLDERS = ("figures", "figures/paper")
RENDERED = {"README.md": "summary", "docs/statistics.md": "all"}
TABLES_PAGE = "docs/notebooks.md"                   # the per-notebook tables of each folder
TUNING_PAGE = "docs/presets.md"                     # the tuning sweeps' tables (figures/tuning/)
RUNTIMES_PAGE = "docs/performance.md"               # each committed run's wall time, from its table
TUNING_METRICS = ("ES", "PS", "NS", "S", "EM", "NM")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def tables(folder: Path, notebook: str) -> list[tuple[str, Path]]:
    """(name, path) of a notebook's main tables in a folder: ``.csv``, or ``.csv.gz`` for the
    large ones kept compressed."""
    found = [(p.name.removesuffix(".gz").removesuffix(".csv"), p) for pattern in ("*.csv", "*.csv.gz")
             for p in Path(folder).glob(f"{notebook}_{pattern}")]
    return sorted((n, p) for n, p in found if not n.endswith(SIDE_TABLES) and not n.endswith("_claims"))


def run_tables(path: Path) -> dict[str, pd.DataFrame]:
    """A run's per-case table ("") and the side tables beside it, by suffix."""
    name = path.name.removesuffix(".gz").removesuffix(".csv")
    out = {"": _read(path)}
    for suffix in SIDE_TABLES:
        for ext in (".csv", ".csv.gz"):
            side = path.with_name(f"{name}{suffix}{ext}")
            if side.exists():
                out[suffix] = _read(side)
    return out


def markdown(df: pd.DataFrame) -> str:
    df = df.reset_index()
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(map(str, row)) + " |\n" for row in df.itertuples(index=False))


def _values(column: pd.Series) -> list[str]:
    """A column's distinct values in order of appearance, NaN left out (1.0 written 1)."""
    return [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            for v in dict.fromkeys(column.dropna())]


def _each(table: pd.DataFrame, col: str) -> str:
    """A column's value, or each shard's in a merged table ("—" where it has none)."""
    return " / ".join(_values(table[col])) if col in table and _values(table[col]) else "—"


def run_line(table: pd.DataFrame) -> str:
    """What a table was made with. A table merged from shards that ran on different
    hardware gives each value, shard by shard, and each shard's wall time."""
    cols = [c for c in ("profile", "hardware", "threads", "z_dtype", "dataset", "split") if c in table]
    parts = [f"{c} {' / '.join(_values(table[c]))}" for c in cols if _values(table[c])]
    if "wall_s" in table:
        walls = [f"{w:,.0f} s" for w in dict.fromkeys(table["wall_s"].dropna())]
        parts.append(f"notebook wall time {' / '.join(walls)}" + (" (shards)" if len(walls) > 1 else ""))
    return "; ".join(parts)


def notebook_tables(folder: Path) -> list[str]:
    out = []
    for experiment in REPORTED:
        for name, path in tables(folder, experiment.name):
            table = _read(path)
            shown = experiment.report_rows(table)
            out.append(f"**{name}** ({run_line(table)})\n\n" + markdown(interval_table(
                shown, list(experiment.report_by), experiment.report_metrics)))
            out += [f"{title}:\n\n" + markdown(frame) for title, frame in experiment.report_extras(run_tables(path))]
            diags = path.with_name(name + "_diagnostics.csv")
            if diags.exists() and "error" in (d := pd.read_csv(diags)):
                refused = d[d["error"].notna()][["setting", "batch_size", "error"]]
                if len(refused):
                    out.append("refused solves:\n\n" + markdown(refused.set_index("setting")))
    return out


# ------------------------------------------------------------------ regenerate

def regenerate(folder: Path, progress=print) -> pd.DataFrame:
    """Draw every notebook figure of ``folder`` again from its tables and write its
    claims.csv; returns the claims."""
    folder = Path(folder)
    claims = []
    for experiment in REPORTED:
        runs = {}
        for name, path in tables(folder, experiment.name):
            run = run_tables(path)
            experiment.check_table(run[""], str(path))
            c = experiment.claims(run)
            claims.append(c)
            runs[run[""]["model"].iloc[0]] = run
            for p in plots.save_all(experiment.figures(run, c), folder, name):
                progress(f"wrote {p}")
        claims.append(across_models(experiment, runs))
    out = pd.concat(claims, ignore_index=True) if claims else pd.DataFrame()
    out.to_csv(folder / "claims.csv", index=False)
    progress(f"wrote {folder / 'claims.csv'} ({len(out)} comparisons)")
    return out


def across_models(experiment, runs: dict) -> pd.DataFrame:
    """The experiment's comparisons between models (:meth:`~editlib.experiments.experiment.Experiment.across_models`)
    for every pair of its runs, the suite's default models first and in their order, each
    pair and metric a family of its own for Holm's adjustment."""
    order = [m for m in DEFAULT_MODELS if m in runs] + sorted(m for m in runs if m not in DEFAULT_MODELS)
    rows = [r for i, m1 in enumerate(order) for m2 in order[i + 1:]
            for r in experiment.across_models(runs[m1], runs[m2])]
    return adjusted(pd.DataFrame(rows)) if rows else pd.DataFrame()


def _number(x: float) -> str:
    return f"{x:+.1f}" if abs(x) < 1000 else f"{x:+,.0f}"


def _cell(r) -> str:
    if r.verdict == ONE_MEASUREMENT:
        return f"{r.a_mean:.4g} vs {r.b_mean:.4g}"
    if not np.isfinite(r.difference):
        return "—"
    if not np.isfinite(r.ci_low):
        return _number(r.difference)
    return f"{_number(r.difference)} [{_number(r.ci_low)}, {_number(r.ci_high)}]"


def _p(p: float) -> str:
    return "—" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _where(r) -> str:
    parts = []
    if pd.notna(r.batch_size):
        parts.append(f"batch {int(r.batch_size)}")
    if isinstance(r.scope, str) and r.scope:
        parts.append({"retention": "earlier edits", "batch": "last batch", "model": "the model"}.get(r.scope, r.scope))
    return ", ".join(parts)


def claims_markdown(claims: pd.DataFrame) -> str:
    """One row per comparison and metric: n, A − B [95 % interval], p, Holm's adjusted p, the verdict read."""
    head = ("| finding | model | profile | comparison (A − B) | where | metric | n | A − B [95 % CI] | p | p (Holm) "
            "| verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r.finding} | {r.model} | {r.profile} | {r.comparison} | {_where(r)} | {r.metric} | {r.n} | {_cell(r)} "
            f"| {_p(r.p_value)} | {_p(getattr(r, 'p_adjusted', np.nan))} | {r.reading} |" for r in claims.itertuples()]
    return head + "\n".join(rows) + "\n"


SUMMARY_PROFILE = "paper"        # the README shows the runs sized to resolve the findings


def summary(claims: pd.DataFrame) -> pd.DataFrame:
    """The rows the README shows: each experiment's choice (:meth:`Experiment.summary`) among
    the paper profile's claims, in the registry's order, then by model (every profile's rows
    are in docs/statistics.md)."""
    claims = claims[claims.profile == SUMMARY_PROFILE]
    parts = [experiment.summary(claims[claims.notebook == experiment.name]) for experiment in REPORTED]
    s = pd.concat([p for p in parts if len(p)]) if any(len(p) for p in parts) else claims.iloc[:0]
    order = {e.name: i for i, e in enumerate(REPORTED)}
    return s.assign(_o=s.notebook.map(order)).sort_values(["_o", "profile", "model"], kind="stable").drop(columns="_o")


def _replace_block(text: str, tag: str, body: str, where: Path) -> str:
    new, k = re.subn(rf"(<!-- {re.escape(tag)} -->\n).*?(<!-- /{tag.split()[0]} -->)",
                     lambda m: m.group(1) + body + m.group(2), text, flags=re.S)
    if not k:
        raise ValueError(f"{where} has no <!-- {tag} --> … <!-- /{tag.split()[0]} --> block")
    return new


def render_text(path: Path, claims: pd.DataFrame, which: str) -> str:
    """``path``'s text with the block between ``<!-- claims -->`` and ``<!-- /claims -->`` rendered."""
    table = claims_markdown(summary(claims) if which == "summary" else claims)
    return _replace_block(path.read_text(), "claims", table, path)


def tables_text(text: str, path: Path, folder: Path) -> str:
    """``text`` (of ``path``) with the block between ``<!-- tables FOLDER -->`` and
    ``<!-- /tables -->`` rendered from :func:`notebook_tables` of ``folder`` (relative to the repository)."""
    body = "\n".join(t.rstrip("\n") + "\n" for t in notebook_tables(ROOT / folder))
    return _replace_block(text, f"tables {folder}", body, path)


def runtimes_markdown(folders=FOLDERS) -> str:
    """One row per committed run (folder, model, notebook): the wall time its table records
    (the experiment's own run: loading, edits, scoring, figures; not the kernel's start),
    the hardware and thread count it ran on, and z's precision; for a table merged from
    shards, each shard's."""
    from ..experiments import experiments

    rows = []
    for folder in folders:
        for experiment in experiments():
            for name, path in tables(ROOT / folder, experiment.name):
                t = _read(path)
                model = t["model"].iloc[0] if "model" in t else name.removeprefix(f"{experiment.name}_").split("_")[0]
                rows.append({"profile": t["profile"].iloc[0], "model": model, "notebook": experiment.name,
                             "wall time": " / ".join(f"{w:,.0f} s" for w in dict.fromkeys(t["wall_s"].dropna())),
                             "hardware": _each(t, "hardware"), "threads": _each(t, "threads"),
                             "z dtype": _each(t, "z_dtype")})
    frame = pd.DataFrame(rows).drop_duplicates(["profile", "model", "notebook"])
    return markdown(frame.set_index("profile"))


def tuning_table(path: Path, rows: dict | None = None) -> str:
    """A tuning sweep's table (``figures/tuning/``): each setting's mean [95 % interval] of
    ES, PS, NS, S, EM and NM over the split's cases, in the sweep's order; on the rows whose
    columns take the values of ``rows`` ({column: value}: one batch size where the sweep has
    several, the retention sample after the last batch of a sequence)."""
    table = _read(path)
    for column, value in (rows or {}).items():
        if column not in table:
            raise ValueError(f"{path} has no column {column!r}")
        kept = table[table[column].astype(str) == str(value)]
        if kept.empty and pd.api.types.is_numeric_dtype(table[column]):
            kept = table[table[column] == float(value)]
        if kept.empty:
            raise ValueError(f"{path} has no rows with {column} = {value}")
        table = kept
    wide = interval_table(table, ["setting"], TUNING_METRICS)
    return markdown(wide.loc[list(dict.fromkeys(table.setting))].rename_axis(None, axis=1))


def tuning_text(text: str, path: Path) -> str:
    """``text`` (of ``path``) with every block ``<!-- tuning FILE [column=value ...] -->`` …
    ``<!-- /tuning -->`` rendered from ``figures/tuning/FILE`` (:func:`tuning_table`)."""
    for name, filters in re.findall(r"<!-- tuning (\S+)((?: \w+=\S+)*) -->", text):
        rows = dict(f.split("=", 1) for f in filters.split())
        body = tuning_table(ROOT / "figures" / "tuning" / name, rows)
        text = _replace_block(text, f"tuning {name}{filters}", body, path)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tables", help="Markdown tables of means with 95 % intervals")
    t.add_argument("folder", nargs="?", default="figures")
    g = sub.add_parser("regenerate", help="figures, claims.csv and the docs' claims tables from the tables")
    g.add_argument("folders", nargs="*", default=list(FOLDERS))
    g.add_argument("--render", action="store_true", help="also render the claims and tables into README.md, "
                   "docs/statistics.md and docs/notebooks.md (needs both folders; all pages or none)")
    a = ap.parse_args(argv)
    if a.command == "tables":
        print("\n\n".join(notebook_tables(Path(a.folder))))
        return
    if a.render and sorted(a.folders) != sorted(FOLDERS):
        raise HyperparameterError(f"--render draws the docs from {' and '.join(FOLDERS)} together; got "
                                  f"{', '.join(a.folders)} (leave --render out to write only their figures and claims)")
    claims = pd.concat([regenerate(Path(f)) for f in a.folders], ignore_index=True)
    if a.render:
        for path in render_docs(claims, a.folders):
            print(f"rendered {path.relative_to(ROOT)}")


def render_docs(claims: pd.DataFrame, folders=FOLDERS) -> list[Path]:
    """Every docs page's rendered blocks, made in memory first (:func:`rendered_pages`) and
    then written: a page that cannot be rendered leaves every page as it was."""
    pages = rendered_pages(claims, folders)
    for path, text in pages.items():
        path.write_text(text)
    return list(pages)


def rendered_pages(claims: pd.DataFrame, folders=FOLDERS) -> dict[Path, str]:
    """{page: its text with every rendered block made from the tables}."""
    pages = {ROOT / name: render_text(ROOT / name, claims, which) for name, which in RENDERED.items()}
    tables_page = ROOT / TABLES_PAGE
    text = pages.get(tables_page, tables_page.read_text())
    for folder in folders:
        text = tables_text(text, tables_page, Path(folder))
    pages[tables_page] = text
    runtimes = ROOT / RUNTIMES_PAGE
    pages[runtimes] = _replace_block(pages.get(runtimes, runtimes.read_text()), "runtimes", runtimes_markdown(folders),
                                     runtimes)
    pages[ROOT / TUNING_PAGE] = tuning_text(pages.get(ROOT / TUNING_PAGE, (ROOT / TUNING_PAGE).read_text()),
                                            ROOT / TUNING_PAGE)
    return pages


if __name__ == "__main__":
    main()
