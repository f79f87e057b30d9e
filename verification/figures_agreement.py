"""Do two figure folders made on different machines agree as expected? The rule
(editlib.suite.agreement, "Across machines"): every claim's verdict the same, and every
setting's mean of every metric inside the other folder's 95 % interval of it. Also says
where z's precision differed (z_dtype), a cause of large single-case differences.

    python verification/figures_agreement.py figures /elsewhere/figures [--out diff.csv]

Exits 1 when the rule fails.
"""
import argparse
import sys

import pandas as pd

from editlib.suite.agreement import _per_case_tables, across_machines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--out", default=None, help="write the per-group differences here (CSV)")
    a = ap.parse_args(argv)
    means, verdicts = across_machines(a.a, a.b)
    ta, tb = _per_case_tables(a.a), _per_case_tables(a.b)
    for name in sorted(ta):
        za, zb = set(ta[name].get("z_dtype", pd.Series(dtype=str))), set(tb[name].get("z_dtype", pd.Series(dtype=str)))
        if za != zb:
            print(f"{name}: z in {sorted(za)} in {a.a}, {sorted(zb)} in {a.b}")
    moved = means.assign(abs_difference=means.difference.abs()).sort_values("abs_difference", ascending=False)
    print(f"{len(means)} setting means compared; largest differences (a − b):")
    print(moved.head(8)[["table", "setting", "metric", "n", "a_mean", "a_ci", "b_mean", "b_ci", "difference"]]
          .to_string(index=False))
    if a.out:
        means.to_csv(a.out, index=False)
    resolved, changed = means[means.moved], verdicts[~verdicts.same]
    print(f"verdicts: {int(verdicts.same.sum())} of {len(verdicts)} the same; means outside the other's interval: "
          f"{len(resolved)}")
    if len(changed):
        print(changed.to_string(index=False))
    if len(resolved):
        print(resolved.to_string(index=False))
    sys.exit(1 if len(changed) or len(resolved) else 0)


if __name__ == "__main__":
    main()
