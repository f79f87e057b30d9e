"""Speed of z (the target-value optimisation, the bulk of an edit's time) in float32 and in
bfloat16 on the machine at hand, and which one ``compute_dtype="auto"`` picks here.

Whether bfloat16 pays on a CPU is not told by its flags alone (editlib.base.precision): this
prints what it does on the machine at hand.
Prints an MLP block's forward+backward throughput (the shape of SmolLM2's MLP: 2,048
tokens × 576 → 1,536 → 576) and z for a few facts on the real model (light z: 3 context
templates, 10 steps, no cache) in each precision.

    python benchmarks/precision_speed.py [--model smollm2-135m] [--facts 8] [--threads 2]
"""
import argparse
import time

import torch

from editlib import Editor, load_model
from editlib.base import precision
from editlib.engine.targets.requests import EditRequest
from editlib.evaluation.data import load_cases

DTYPES = ("float32", "bfloat16")


def mlp_gflops(dtype: str, tokens: int = 2048, d: int = 576, d_k: int = 1536, reps: int = 10) -> float:
    """Forward + backward of x → W2 act(W1 x) under :func:`editlib.base.precision.compute`."""
    torch.manual_seed(0)
    w1 = torch.randn(d_k, d, requires_grad=True)
    w2 = torch.randn(d, d_k, requires_grad=True)
    x = torch.randn(tokens, d)
    flops = 3 * 2 * (2 * tokens * d * d_k)           # two matmuls, forward + two backward products each
    with precision.compute("cpu", dtype):
        for _ in range(2):                            # warm-up
            (torch.nn.functional.silu(x @ w1.T) @ w2.T).float().sum().backward()
        t0 = time.perf_counter()
        for _ in range(reps):
            (torch.nn.functional.silu(x @ w1.T) @ w2.T).float().sum().backward()
        dt = time.perf_counter() - t0
    return flops * reps / dt / 1e9


def z_seconds_per_fact(model, tok, requests, dtype: str) -> float:
    editor = Editor(model, tok, method="emmet", progress=False, use_cache=False, compute_dtype=dtype,
                    context_template_lengths=[[10, 2]], v_num_grad_steps=10)
    editor.targets(requests[:1])                      # warm-up (templates, first passes)
    t0 = time.perf_counter()
    editor.targets(requests)
    return (time.perf_counter() - t0) / len(requests)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--facts", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    flags = sorted(f for f in precision.cpu_flags() if "bf16" in f)
    print(f"CPU bfloat16 flags: {flags or 'none'}; compute_dtype='auto' resolves to "
          f"{precision.resolve('auto', 'cpu')!r} here ({a.threads} threads)")
    for dtype in DTYPES:
        print(f"MLP forward+backward, {dtype:8}: {mlp_gflops(dtype):6.1f} GFLOP/s")
    model, tok = load_model(a.model, device="cpu")
    requests = [EditRequest.from_dict(c) for c in load_cases("embedded", n=a.facts, seed=0)]
    for dtype in DTYPES:
        s = z_seconds_per_fact(model, tok, requests, dtype)
        print(f"z on {a.model}, {a.facts} facts, light z, {dtype:8}: {s:5.2f} s per fact")


if __name__ == "__main__":
    main()
