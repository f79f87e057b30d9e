"""Did a change alter results on valid input? Compare two checkouts of editlib.

    # in each checkout (or with --src pointing at one): the same SmolLM2 edits, caching off
    python verification/regression_check.py edits --src /path/to/old/checkout --out old.pt
    python verification/regression_check.py edits --out new.pt
    python verification/regression_check.py diff old.pt new.pt           # ΔW, z, C0 bit for bit
    python verification/regression_check.py csv figures /tmp/fresh/figures   # metric values of the figure CSVs

``edits`` writes ROME (single layer), MEMIT (spread) and EMMET (a batch of two) into
SmolLM2 with C0 from 20k tokens and 8 z steps, and saves each update, z and C0.
"""
import argparse
import sys
from pathlib import Path

REQUESTS = [
    {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux", "target_new": "English",
     "target_true": "French"},
    {"prompt": "The capital of {} is", "subject": "France", "target_new": "Rome", "target_true": "Paris"},
]
RUNS = [("rome", "single", 1), ("memit", "spread", 2), ("emmet", "single", 2)]


def edits(src: str | None, out: str) -> None:
    if src:
        sys.path.insert(0, src)
    import torch

    import editlib
    from editlib import Editor, load_model

    print(f"editlib from {Path(editlib.__file__).parent}")
    model, tok = load_model("smollm2-135m", device="cpu")
    saved = {}
    for method, layers, n in RUNS:
        ed = Editor(model, tok, method=method, layers=layers, use_cache=False, progress=False,
                    mom2_n_tokens=20_000, v_num_grad_steps=8)
        with ed.edited(REQUESTS[:n]) as r:
            saved[method] = {"deltas": r.deltas, "z": r.z, "cov": dict(ed._covs)}
    torch.save(saved, out)


def diff(a: str, b: str) -> None:
    import torch

    old, new = torch.load(a), torch.load(b)
    for m in old:
        same = {"ΔW": all(torch.equal(old[m]["deltas"][k], new[m]["deltas"][k]) for k in old[m]["deltas"]),
                "z": torch.equal(old[m]["z"], new[m]["z"]),
                "C0": all(torch.equal(old[m]["cov"][k], new[m]["cov"][k]) for k in old[m]["cov"])}
        print(f"{m:6s} layers {[k.split('.')[2] for k in old[m]['deltas']]}: "
              + ", ".join(f"{k} {'bit-identical' if v else 'DIFFERENT'}" for k, v in same.items()))


def csv(dir_a: str, dir_b: str) -> None:
    import pandas as pd

    for fa in sorted(Path(dir_a).glob("0*.csv")):
        fb = Path(dir_b) / fa.name
        if not fb.exists():
            print(f"{fa.name}: missing in {dir_b}")
            continue
        a, b = pd.read_csv(fa), pd.read_csv(fb)
        if "value" in a.columns:      # metric tables: compare values row by row on their keys
            key = [c for c in ("setting", "batch_size", "n_edits", "scope", "case_id", "metric") if c in a.columns]
            m = a.merge(b, on=key, suffixes=("_a", "_b"), how="outer", indicator=True)
            both = m[m._merge == "both"]
            differ = ~((both.value_a == both.value_b) | (both.value_a.isna() & both.value_b.isna()))
            only_a, only_b = int((m._merge == "left_only").sum()), int((m._merge == "right_only").sum())
            print(f"{fa.name}: {len(both)} rows in both, {int(differ.sum())} values differ; "
                  f"only in a {only_a}, only in b {only_b}")
        elif len(a) == len(b):        # diagnostics: largest relative difference per numeric column but timings (*_s)
            cols = [c for c in a.columns if c in b.columns and a[c].dtype.kind == "f" and not c.endswith("_s")]
            rel = {c: float(((a[c] - b[c]).abs() / a[c].abs().clip(lower=1e-300)).max()) for c in cols}
            worst = max(rel, key=rel.get) if rel else None
            print(f"{fa.name}: largest relative difference {rel.get(worst, 0):.1e} ({worst})")
        else:
            print(f"{fa.name}: {len(a)} vs {len(b)} rows")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("edits")
    e.add_argument("--src", default=None, help="a checkout whose editlib to import (default: the installed one)")
    e.add_argument("--out", required=True)
    d = sub.add_parser("diff")
    d.add_argument("a")
    d.add_argument("b")
    c = sub.add_parser("csv")
    c.add_argument("a")
    c.add_argument("b")
    a = ap.parse_args()
    if a.cmd == "edits":
        edits(a.src, a.out)
    elif a.cmd == "diff":
        diff(a.a, a.b)
    else:
        csv(a.a, a.b)


if __name__ == "__main__":
    main()
