"""Where notebook 04's time goes: cProfile of ``experiments.sequential_edits`` with the
quick profile's parameters for the model (read from the notebook and the profile:
``editlib.suite.runs.notebook_parameters``; the flags override them), for one setting. Prints the
total and the cumulative time of its parts: scoring (``evaluate``), perplexity, GE, z, the
edit (``Editor.apply``: z, keys, solve).

    python benchmarks/sequential_cost.py                          # SmolLM2, MEMIT, 2 batches
    python benchmarks/sequential_cost.py --model gemma3-270m --batches 3 --z-dtype float32

z is cached on disk (EDITLIB_CACHE) like everything else, so a second run times the edit
without z; point EDITLIB_CACHE at an empty folder for a cold run.
"""
import argparse
import cProfile
import pstats
import time

from editlib import load_model
from editlib.evaluation.data import load_cases
from editlib.experiments import Setting, sequential_edits
from editlib.suite.runs import notebook_parameters

PARTS = {"evaluate": "scoring (batch + retention)", "generation_scores": "GE",
         "window_losses": "perplexity", "_optimise": "z (inside the edit)",
         "apply": "the edit (z, keys, solve)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--method", default="memit")
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--retention-every", type=int, default=None)
    ap.add_argument("--ability-every", type=int, default=None)
    ap.add_argument("--ppl-tokens", type=int, default=None)
    ap.add_argument("--z-dtype", default=None, help="compute_dtype of z: bfloat16, float32 (the model's)...")
    a = ap.parse_args()
    q = notebook_parameters("04", a.model, "quick")
    for flag in ("batch_size", "retention_every", "ability_every", "ppl_tokens"):
        if getattr(a, flag) is not None:
            q[flag] = getattr(a, flag)
    z = q["edit_overrides"] if a.z_dtype is None else {**q["edit_overrides"], "compute_dtype": a.z_dtype}
    model, tok = load_model(a.model, device="cpu")
    cases = load_cases(q["dataset"], n=q["batch_size"] * a.batches, seed=q["seed"], split=q["split"])
    settings = [Setting(a.method.upper(), a.method, "single", z)]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    sequential_edits(model, tok, cases, settings, batch_size=q["batch_size"], n_batches=a.batches,
                     model_name=a.model, dataset=q["dataset"], seed=q["seed"], retention=q["retention"],
                     ability_every=q["ability_every"], ppl_tokens=q["ppl_tokens"], ge_cases=q["ge_cases"],
                     gen_tokens=q["gen_tokens"], scored=q["scored"], retention_every=q["retention_every"])
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    print(f"{a.model}, {a.method}, {a.batches} batches of {q['batch_size']}, z {z}, retention every "
          f"{q['retention_every']}, perplexity on {q['ppl_tokens']} tokens every {q['ability_every']}: {total:.1f} s")
    for fn, label in PARTS.items():
        cum = sum(v[3] for (path, _, name), v in stats.items() if name == fn and "editlib" in path)
        print(f"  {label:<30} {cum:6.1f} s  ({100 * cum / total:.0f} %)")


if __name__ == "__main__":
    main()
