"""What cache identity costs: the content fingerprints computed on every cache lookup
(weights, the weights up to a layer, the tokenizer), in ms per call, CPU.

    python benchmarks/fingerprint_speed.py [--models smollm2-135m gemma3-270m] [--repeats 5]
"""
import argparse
import time

import torch

from editlib import get_architecture, load_model
from editlib.engine.model.fingerprint import tokenizer_fingerprint, weights_fingerprint


def ms(fn, repeats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - t0) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.models:
        model, tok = load_model(name, device="cpu")
        arch = get_architecture(model)
        n_tensors = len(list(model.parameters())) + len(list(model.buffers()))
        t0 = time.perf_counter()
        tokenizer_fingerprint(tok)
        first_tok = 1000 * (time.perf_counter() - t0)
        print(f"{name} ({n_tensors} tensors, {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters): "
              f"weights {ms(lambda: weights_fingerprint(model), a.repeats):.1f} ms · "
              f"weights up to layer 4 {ms(lambda: weights_fingerprint(model, 4, arch), a.repeats):.1f} ms · "
              f"tokenizer {first_tok:.0f} ms first call, {ms(lambda: tokenizer_fingerprint(tok), a.repeats):.2f} ms "
              "after (remembered on the tokenizer)")


if __name__ == "__main__":
    main()
