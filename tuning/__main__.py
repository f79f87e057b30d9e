"""One command line for the sweeps that choose a preset's values, on the held-out tuning split:

    python -m tuning layers --model smollm2-135m --layers 2 3 4 5 6 7 8      # ROME at each layer
    python -m tuning lambda --model gemma3-270m --lambdas 15000 1500 500 150  # MEMIT's λ
    python -m tuning ridge --model gemma3-270m --values 0 0.01 0.1 --batches 1 16 64   # EMMET's μ, AlphaEdit's α
    python -m tuning alpha-sequential --model smollm2-135m --values 0.1 1 10  # AlphaEdit's α in a sequence
    python -m tuning norm-sequential --model smollm2-135m --values 0 1 10 100 # ENCORE's λ_n in a sequence

Every sweep also takes --model, --n, --dataset, --seed, --split (default: tune) and --out
(a CSV, by default under figures/tuning/); ``python -m tuning <sweep> --help`` lists the rest.
"""
import importlib
import sys

# sweep: (module, keywords of its main)
SWEEPS = {"layers": ("layer_sweep", {}), "lambda": ("lambda_sweep", {}), "ridge": ("ridge_sweep", {}),
          "alpha-sequential": ("sequential_sweep", {"sweep": "alpha-sequential"}),
          "norm-sequential": ("sequential_sweep", {"sweep": "norm-sequential"})}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SWEEPS:
        print(__doc__, file=sys.stderr)
        sys.exit(f"choose a sweep: {', '.join(SWEEPS)}" if argv and argv[0] not in ("-h", "--help") else 0)
    module, keywords = SWEEPS[argv[0]]
    importlib.import_module(f"tuning.{module}").main(argv[1:], **keywords)


if __name__ == "__main__":
    main()
