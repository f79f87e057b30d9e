"""What the sweeps share: their command line for the model and the cases — by default the
held-out tuning split (editlib.evaluation.data.splits), never reported — and loading both."""
import argparse

import torch

from editlib.engine.model.loading import load_model
from editlib.evaluation.data import SPLITS, TUNE_SIZE, load_cases


def tuning_parser(doc: str, sweep: str) -> argparse.ArgumentParser:
    """A parser with --model, --n, --dataset, --seed, --split and --out; add the sweep's own."""
    ap = argparse.ArgumentParser(prog=f"python -m tuning {sweep}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=TUNE_SIZE)
    ap.add_argument("--dataset", default="counterfact_simple")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="tune", choices=SPLITS,
                    help="tune (default): the held-out tuning split, never reported")
    ap.add_argument("--out", default=None, help="the CSV to write (default under figures/tuning/)")
    return ap


def tuning_cases(a):
    """(model, tok, cases) for parsed arguments ``a``, torch seeded with ``a.seed``."""
    torch.manual_seed(a.seed)
    model, tok = load_model(a.model)
    return model, tok, load_cases(a.dataset, n=a.n, seed=a.seed, split=a.split)
