"""Covariance statistics throughput (tokens/s) on SmolLM2-135M, CPU, no cache.

    python benchmarks/covariance_speed.py [--layers 4] [--tokens 20000] [--dtype bfloat16]
"""
import argparse
import resource
import time

import torch

from editlib import load_model
from editlib.engine.model.architectures import get_architecture
from editlib.engine.statistics.covariance import second_moments


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--layers", type=int, nargs="+", default=[4])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--corpus", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--batch-tokens", type=int, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, device="cpu")
    for dtype in [None] + ([a.dtype] if a.dtype else []):
        t0 = time.perf_counter()
        covs, info = second_moments(model, tok, get_architecture(model), a.layers, corpus=a.corpus,
                                    n_tokens=a.tokens, compute_dtype=dtype, batch_tokens=a.batch_tokens,
                                    use_cache=False, progress=False)
        dt = time.perf_counter() - t0
        print(f"{a.model} layers {a.layers} · {info['tokens_used']} tokens of {info['corpus_used']} · "
              f"{dtype or 'float32'}: {dt:.1f} s → {info['tokens_used'] / dt:,.0f} tokens/s (tokenizing included)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
