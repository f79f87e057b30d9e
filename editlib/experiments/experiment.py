"""An experiment is one declared unit, as an lm-evaluation-harness task is: one module per
notebook (``objectives``, ``distribution``, ``batch_size``, ``sequential``, ``quickstart``),
found through one registry keyed once (:data:`EXPERIMENTS`).

Each :class:`Experiment` declares

- its parameters (the notebook's ``parameters`` cell: :attr:`Experiment.defaults`, which
  are the ``quick`` profile) and its sizes per profile and model (:attr:`Experiment.profiles`);
- its settings, which own their labels (:meth:`Experiment.settings`: keys a run names, labels
  the tables and figures show);
- ``run(**parameters) -> Run``: the common setup (:meth:`Experiment.setup`), the edits, the
  tables written beside the figures; a run stopped part-way and started again with the same
  parameters does only the units it had not finished (:mod:`~editlib.experiments.journal`);
- its paired comparisons, named by setting keys (:meth:`Experiment.comparisons`), read as claims;
- its figures, its report group and the finding's title.

The suite, the report, the claims and the figures iterate over the registry: nothing else
spells a notebook's name or a setting's label. A notebook is a parameters cell, then
``run = experiment.run(**experiment.parameters_from(globals()))`` and ``experiment.show(run)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..base.errors import DatasetError, HyperparameterError, UnknownNameError
from . import plots
from .claims import brief, claims_of
from .drivers import Setting
from .journal import Journal, NoJournal, run_identity
from .records import RunRecord, save_table, slug

# The parameters every experiment has, with their defaults (the quick profile's).
COMMON = {"profile": "quick", "model": "smollm2-135m", "dataset": "embedded", "split": None, "seed": 0,
          "device": None, "dtype": "float32", "out_dir": None}
# The light z of the batch and sequential experiments (every setting alike): 3 templates, 10 steps.
# The paper's own batch experiments reuse one z per fact across settings the same way.
LIGHT_Z = {"context_template_lengths": [[10, 2]], "v_num_grad_steps": 10}
PAPER_BATCHES = [1, 16, 64, 256, 512, 1024, 1536, 2048, 3072]
TINY_Z = {"v_num_grad_steps": 4, "mom2_n_tokens": 20_000}     # the tiny profile's z and statistics: seconds


@dataclass
class RunContext:
    """What every notebook sets up before its edits: the model and tokenizer, the cases, the
    run's record (provenance), where it writes and the stem of its files."""

    params: dict
    lm: object
    tok: object
    cases: list
    record: RunRecord
    out_dir: Path
    stem: str
    journal: object = None              # the run's finished units (editlib.experiments.journal)

    @property
    def run_args(self) -> dict:
        """The identity every driver stamps on its rows."""
        return {"model_name": self.params["model"], "dataset": self.params["dataset"], "seed": self.params["seed"]}


@dataclass
class Run:
    """A finished run: its tables by suffix ("" the per-case table, "_diagnostics", ...), its
    settings, claims and the figures it saved (file suffix → PNG path)."""

    experiment: Experiment
    context: RunContext
    tables: dict
    settings: list
    claims: pd.DataFrame
    figures: dict = field(default_factory=dict)


class Experiment:
    """Base class: subclasses set the class attributes and implement :meth:`compute`."""

    key: str = ""                       # "01"
    name: str = ""                      # "<key>_<what>": the notebook's file stem and its tables' prefix
    finding: str = ""                   # the finding's title (claims.csv, the report)
    parameters: dict = {}               # the experiment's own parameters and quick-profile defaults
    profiles: dict = {}                 # {profile: {parameter: value}}
    model_profiles: dict = {}           # {profile: {model: {parameter: value}}}
    side_tables: tuple = ("_diagnostics",)
    claim_metrics: tuple = ()           # metrics each comparison is read on
    difference_metrics: tuple | None = None   # the differences figure's panels (None: S or ES, and EM)
    report_by: tuple = ("setting",)     # the report's grouping of the per-case table
    report_metrics: tuple = ()
    once_per_suite: bool = False        # a demonstration: the first model of a suite only
    catalogue: dict = {}                # {key: Setting}: the settings a run's ``settings`` parameter names
    resumable: bool = True              # keeps its finished units, so that a stopped run goes on

    # -------------------------------------------------------------- parameters

    @property
    def defaults(self) -> dict:
        """The notebook's parameters cell: names and default values (the quick profile)."""
        return {**COMMON, **self.parameters}

    def profile_parameters(self, profile: str, model: str | None = None) -> dict:
        """What a profile sets for ``model``, over the defaults."""
        return {"profile": profile, **self.profiles.get(profile, {}),
                **self.model_profiles.get(profile, {}).get(model, {})}

    def parameters_from(self, namespace: dict) -> dict:
        """This experiment's parameters as a notebook's namespace holds them (after papermill)."""
        return {k: namespace[k] for k in self.defaults if k in namespace}

    def cases_needed(self, params: dict) -> int:
        return params["n_cases"]

    # -------------------------------------------------------------- settings and comparisons

    def settings(self, params: dict) -> list[Setting]:
        """The settings a run compares: each entry of ``params["settings"]`` is a key of the
        :attr:`catalogue` or a ``(label, method, overrides)`` of the user's own; every one under
        the run's ``edit_overrides`` (its own win) and ``layers``."""
        out = []
        for entry in params["settings"]:
            if isinstance(entry, str):
                if entry not in self.catalogue:
                    raise HyperparameterError(f"{self.name}: no setting {entry!r}; its settings are "
                                              f"{', '.join(self.catalogue)}, or a (label, method, overrides) "
                                              "of your own")
                s = self.catalogue[entry]
            else:
                label, method, overrides = entry
                s = Setting(label, method, overrides=dict(overrides))
            out.append(s.with_overrides(params.get("edit_overrides") or {}, params.get("layers")))
        return out

    def compared(self) -> list[tuple[str, str]]:
        """(A, B) pairs of catalogue keys the finding compares."""
        return []

    def comparisons(self, settings: list[Setting]) -> list[tuple[Setting, Setting]]:
        """(A, B) pairs of settings the finding compares, among those run."""
        by_key = {s.key: s for s in settings}
        return [(by_key[a], by_key[b]) for a, b in self.compared() if a in by_key and b in by_key]

    def table_settings(self, table: pd.DataFrame) -> list[Setting]:
        """The settings a per-case table was run with, as far as its columns tell (label and
        method; the label is the key): what the claims of a committed table are read with."""
        first = table[table.setting != "unedited"].drop_duplicates("setting")
        by_label = {s.label: s for s in self.catalogue.values()}
        return [by_label.get(r.setting) or Setting(r.setting, getattr(r, "method", ""), key=r.setting)
                for r in first.itertuples()]

    # -------------------------------------------------------------- the run

    def setup(self, params: dict) -> RunContext:
        """Seed, model, cases, provenance and output folder: the setup every notebook shares."""
        import torch

        from ..base.paths import run_dir
        from ..engine.model.loading import load_model
        from ..evaluation.data import dataset_origin, default_split, load_cases

        torch.manual_seed(params["seed"])
        out_dir = run_dir(params["out_dir"], self.name)
        lm, tok = load_model(params["model"], device=params["device"], dtype=params["dtype"])
        split = default_split(params["dataset"]) if params["split"] is None else params["split"]
        cases = load_cases(params["dataset"], n=self.cases_needed(params), seed=params["seed"], split=split)
        compute_dtype = (params.get("edit_overrides") or {}).get("compute_dtype")
        record = RunRecord.start(params["profile"], split, lm, compute_dtype)
        print(f"{params['model']}: {len(cases)} {params['dataset']} cases ({split} split, seed "
              f"{params['seed']}; {dataset_origin(params['dataset'])}) on {record.hardware}; {params['profile']} "
              f"profile; writing to {out_dir}")
        stem = f"{self.name}_{slug(params['model'])}"
        journal = (Journal.open(out_dir, stem, run_identity(self.name, params, cases, lm)) if self.resumable
                   else NoJournal())
        return RunContext(params, lm, tok, cases, record, Path(out_dir), stem, journal)

    def compute(self, ctx: RunContext, settings: list[Setting]) -> dict[str, pd.DataFrame]:
        """The edits and their scores: tables by suffix."""
        raise NotImplementedError

    def check(self, params: dict) -> dict:
        """The defaults under ``params``; a name the experiment does not have is an error."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise HyperparameterError(f"{self.name} has no parameter(s) {sorted(unknown)}; its parameters are "
                                      f"{', '.join(self.defaults)}")
        return {**self.defaults, **params}

    def run(self, **params) -> Run:
        """Set up, edit, score; write the tables, claims' figures beside them; return the run."""
        params = self.check(params)
        ctx = self.setup(params)
        settings = self.settings(params)
        tables = self.compute(ctx, settings)
        for suffix, table in tables.items():
            save_table(table, ctx.out_dir, f"{ctx.stem}{suffix}", ctx.record)
        claims = self.claims(tables, settings)
        saved = {}
        for suffix, fig in self.figures(tables, claims, settings).items():
            saved[suffix] = plots.save(fig, ctx.out_dir, f"{ctx.stem}{suffix}")[0]
        ctx.journal.finish()                          # the tables are written: the units are no longer needed
        return Run(self, ctx, tables, settings, claims, saved)

    # -------------------------------------------------------------- claims, figures, report

    TABLE_COLUMNS = ("setting", "case_id", "metric", "value", "model", "profile", "dataset")
    # the columns beside the setting that split a per-case table into groups scored alike
    # (a batch size of 03, an edit count and scope of 04)
    GROUP_COLUMNS = ("batch_size", "n_edits", "scope")

    def grid(self, params: dict) -> dict[str, set]:
        """{column: the values a complete run's per-case table holds} beyond its settings
        (a batch-size sweep's batch sizes, a sequence's edit counts)."""
        return {}

    def check_table(self, table: pd.DataFrame, where: str) -> None:
        """Refuse a per-case table (read from ``where``) that is not a whole run of this
        experiment: a column missing; settings, or the grid's values, other than the run's
        design (its profile's parameters) implies; a setting scored on other (case, metric)
        pairs than the others of its group; the unedited scores on other cases than the edits."""
        missing = [c for c in self.TABLE_COLUMNS if c not in table]
        if missing:
            raise DatasetError(f"{where}: no column {', '.join(map(repr, missing))}; a per-case table of {self.name} "
                               f"has {', '.join(self.TABLE_COLUMNS)}")
        profile, model = table["profile"].iloc[0], table["model"].iloc[0]
        if profile in self.profiles or profile == "quick":
            params = {**self.defaults, **self.profile_parameters(profile, model)}
            self._check_design(table, params, where)
        groups = [c for c in self.GROUP_COLUMNS if c in table]
        for key, group in (table.groupby(groups, dropna=False) if groups else [((), table)]):
            scored = {s: frozenset(zip(g.case_id, g.metric)) for s, g in group.groupby("setting")}
            if len(set(scored.values())) > 1:
                sizes = ", ".join(f"{s}: {len(v)}" for s, v in scored.items())
                raise DatasetError(f"{where}: the settings of {dict(zip(groups, key if groups else ()))} are not "
                                   f"scored on the same (case, metric) pairs ({sizes}); the table is cut or mixed")
        unedited, edited = table[table.setting == "unedited"], table[table.setting != "unedited"]
        if len(unedited) and set(unedited.case_id) != set(edited.case_id):
            raise DatasetError(f"{where}: the unedited scores cover {unedited.case_id.nunique()} cases, the edits "
                               f"{edited.case_id.nunique()}; the table is cut or mixed")

    def _check_design(self, table: pd.DataFrame, params: dict, where: str) -> None:
        expected = {s.label for s in self.settings(params)}
        present = set(table.setting) - {"unedited"}
        if present != expected:
            raise DatasetError(f"{where}: the {params['profile']} profile of {self.name} runs the settings "
                               f"{sorted(expected)}; the table holds {sorted(present)} (missing "
                               f"{sorted(expected - present)}, unexpected {sorted(present - expected)})")
        for column, values in self.grid(params).items():
            if set(table[column].dropna()) != set(values):
                raise DatasetError(f"{where}: {column} should take {sorted(values)} in the {params['profile']} "
                                   f"profile; the table has {sorted(set(table[column].dropna()))}")

    def claims(self, tables: dict, settings: list[Setting] | None = None) -> pd.DataFrame:
        """The paired comparisons of a run's tables (``settings``: those it ran; by default,
        those its table names, :meth:`table_settings`)."""
        settings = self.table_settings(tables[""]) if settings is None else settings
        present = set(tables[""].setting)
        pairs = [(a.label, b.label) for a, b in self.comparisons(settings) if a.label in present and b.label in present]
        return claims_of(self, tables, pairs)

    def pair_claims(self, tables: dict, a: str, b: str) -> list[dict]:
        """The claim rows of one pair (A, B): each metric over the same cases."""
        from .claims import pair_rows

        table = tables[""]
        return [pair_rows(self, table, a, b, m) for m in self.claim_metrics]

    def across_models(self, first: dict, second: dict) -> list[dict]:
        """Claim rows that compare one finding between two models' runs (their tables by
        suffix): none by default."""
        return []

    def after_adjusting(self, claims: pd.DataFrame) -> pd.DataFrame:
        """What the experiment reads off its claims once their verdicts are final (Holm-adjusted)."""
        return claims

    def figures(self, tables: dict, claims: pd.DataFrame, settings: list[Setting] | None = None) -> dict:
        """{file suffix: figure}, drawn from the tables alone."""
        return self.differences(tables, claims)

    def differences(self, tables: dict, claims: pd.DataFrame) -> dict:
        if len(claims) and claims.ci_low.notna().any():
            model = tables[""]["model"].iloc[0]
            return {"_differences": plots.differences(claims, f"{model}: paired differences A − B "
                                                              "over the same cases (95 % intervals)",
                                                      self.difference_metrics)}
        return {}

    def report_rows(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of the per-case table the report's interval table shows."""
        return table

    def report_extras(self, tables: dict) -> list[tuple[str, pd.DataFrame]]:
        """(title, table) the report adds below the run's interval table."""
        return []

    def summary(self, claims: pd.DataFrame) -> pd.DataFrame:
        """The claims rows the README shows."""
        return claims.iloc[:0]

    # -------------------------------------------------------------- the notebook's display

    def show(self, run: Run) -> None:
        """The run's tables, claims and figures, in the notebook."""
        from IPython.display import Image, display

        self.show_tables(run)
        if len(run.claims):
            display(brief(run.claims))
        for path in run.figures.values():
            display(Image(filename=str(path)))

    def show_tables(self, run: Run) -> None:
        from IPython.display import display

        from ..evaluation.statistics import interval_table

        display(interval_table(self.report_rows(run.tables[""]), list(self.report_by)))


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry, under its key ("NN") and name ("NN_what", the notebook's stem)."""
    for k in (experiment.key, experiment.name):
        if k in EXPERIMENTS and EXPERIMENTS[k] is not experiment:
            raise ValueError(f"an experiment {k!r} is registered already")
    EXPERIMENTS[experiment.key] = EXPERIMENTS[experiment.name] = experiment
    return experiment


def experiments() -> list[Experiment]:
    """Every registered experiment once, in key order."""
    return sorted({id(e): e for e in EXPERIMENTS.values()}.values(), key=lambda e: e.key)


def get_experiment(key: str) -> Experiment:
    """An experiment by key ("NN") or notebook name ("NN_what")."""
    if str(key) not in EXPERIMENTS:
        raise UnknownNameError(f"no experiment {key!r}; choose from "
                                  f"{', '.join(f'{e.key} ({e.name})' for e in experiments())}")
    return EXPERIMENTS[str(key)]


def experiment_of(stem: str) -> Experiment | None:
    """The experiment whose tables a file stem ("<name>_<model>") belongs to."""
    return next((e for e in experiments() if stem.startswith(e.name + "_")), None)
