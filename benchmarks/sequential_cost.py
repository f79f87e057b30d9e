"""Where notebook 04's time goes: cProfile of ``experiments.sequential_edits`` with the
quick profile's parameters (light z, 20 facts a batch, 10 scored, a 32-fact retention
sample, perplexity on 4,096 tokens and GE every 2 batches), for one setting. Prints the
total and the cumulative time of its parts: scoring (``evaluate``), perplexity, GE, the
edit (``Editor.apply``: z, keys, solve).

    python benchmarks/sequential_cost.py                          # SmolLM2, MEMIT, 2 batches
    python benchmarks/sequential_cost.py --model gemma3-270m --batches 3

z is cached on disk (EDITLIB_CACHE) like everything else, so a second run times the edit
without z; point EDITLIB_CACHE at an empty folder for a cold run.
"""
import argparse
import cProfile
import pstats
import time

from editlib import load_model
from editlib.data import load_cases
from editlib.experiments import Setting, sequential_edits
from editlib.profiles import LIGHT_Z

PARTS = {"evaluate": "scoring (batch + retention)", "perplexity": "perplexity", "generation_scores": "GE",
         "_optimise": "z (inside the edit)",
         "apply": "the edit (z, keys, solve)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--method", default="memit")
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--retention-every", type=int, default=1)
    ap.add_argument("--ability-every", type=int, default=2)
    ap.add_argument("--z-dtype", default=None, help="compute_dtype of z, e.g. bfloat16 (default: the model's)")
    a = ap.parse_args()
    model, tok = load_model(a.model, device="cpu")
    cases = load_cases("embedded", n=a.batch_size * a.batches, seed=0, split="eval")
    settings = [Setting(a.method.upper(), a.method, "single", {**LIGHT_Z, "compute_dtype": a.z_dtype})]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    sequential_edits(model, tok, cases, settings, batch_size=a.batch_size, n_batches=a.batches,
                     model_name=a.model, dataset="embedded", seed=0, retention=32, ability_every=a.ability_every,
                     ppl_tokens=4096, ge_cases=4, gen_tokens=20, scored=10,
                     retention_every=a.retention_every)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    print(f"{a.model}, {a.method}, {a.batches} batches of {a.batch_size}, z in {a.z_dtype or 'the model dtype'}, "
          f"retention every {a.retention_every}, ability every {a.ability_every}: {total:.1f} s")
    for fn, label in PARTS.items():
        cum = sum(v[3] for (path, _, name), v in stats.items() if name == fn and "editlib" in path)
        print(f"  {label:<30} {cum:6.1f} s  ({100 * cum / total:.0f} %)")


if __name__ == "__main__":
    main()
