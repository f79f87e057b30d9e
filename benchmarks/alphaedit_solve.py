"""AlphaEdit's solve alone, per batch of sequential edits over several layers: editlib's
basis form against the d_k × d_k form it replaces, on a real model's C0.

    python benchmarks/alphaedit_solve.py [--model smollm2-135m] [--layers 3 4 5 6 7] [--batches 2]
                                         [--batch-size 4] [--threads 2] [--repeats 3]

C0 per layer is the preset's statistics (the disk cache, computed once if absent); the keys
are drawn from N(0, C0) and the residuals from N(0, 1), seeded, so only the algebra is
timed. Each batch is solved at every layer with the earlier batches' keys preserved, as
notebook 04 writes a sequence. Three forms, each timed per batch of all layers (median of
``--repeats``):

- ``d_k form, float64``: Δ = R Kᵀ P ((KKᵀ + K_pK_pᵀ) P + αI)⁻¹ with an LU of the d_k × d_k
  matrix and the preserved Gram K_pK_pᵀ as a d_k × d_k running sum (editlib's solver before
  the basis form), diagnostics included;
- ``d_k form, float32``: the same in float32 without diagnostics (the arithmetic of the
  authors' public implementation);
- ``basis form, float64`` (editlib): the r × r Cholesky system in the null space's basis Û,
  ÛᵀK_pK_pᵀÛ kept per layer (``PreservedKeys``), diagnostics included.

Prints the null-space ranks, the one-off cost of the null space per layer (eigh), the
seconds per batch of each form, and the largest relative difference of each form's Δ from
the float64 d_k form.
"""
import argparse
import statistics
import time

import torch

from editlib import Editor, load_model
from editlib.engine.algebra.preserved import PreservedKeys
from editlib.engine.edit.methods import get_method


def dk_form(k, r, c, p, g, alpha, dtype):
    """The d_k × d_k system; with float64, the diagnostics editlib reported."""
    k, r, p = k.to(dtype), r.to(dtype), p.to(dtype)
    a = k @ k.T if g is None else k @ k.T + g.to(dtype)
    m = a @ p + alpha * torch.eye(p.shape[0], dtype=dtype)
    delta = torch.linalg.solve(m.T, (r @ k.T @ p).T).T
    if dtype == torch.float64:
        torch.trace(delta @ c @ delta.T), torch.linalg.norm(delta @ k - r)
        if g is not None:
            torch.trace(delta @ g @ delta.T)
    return delta


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--layers", type=int, nargs="+", default=[3, 4, 5, 6, 7])
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, tok = load_model(a.model, device="cpu")
    editor = Editor(model, tok, method="alphaedit", layers=a.layers, progress=False)
    covs = {l: c.double() for l, c in editor.covariances().items()}
    cfg, method = editor.config, get_method("alphaedit")
    spaces, eigh_s = {}, []
    for layer, c in covs.items():
        spaces[layer], s = timed(lambda c=c: method.prepare(c, cfg))
        eigh_s.append(s)
    g = torch.Generator().manual_seed(a.seed)
    chol = {l: torch.linalg.cholesky(c) for l, c in covs.items()}
    d_v = model.get_submodule(editor.arch.name("rewrite", a.layers[0])).weight.shape[0]
    batches = [{l: (chol[l] @ torch.randn(c.shape[0], a.batch_size, generator=g, dtype=torch.float64),
                    torch.randn(d_v, a.batch_size, generator=g, dtype=torch.float64)) for l, c in covs.items()}
               for _ in range(a.batches)]
    print(f"{a.model}: AlphaEdit (α = {cfg.alpha:g}, threshold {cfg.null_space_threshold:g}), layers {a.layers}, "
          f"{a.batches} sequential batches of {a.batch_size}, {a.threads} thread(s), torch {torch.__version__}")
    print("null space rank per layer: " + ", ".join(f"{l}: {s.rank} of {covs[l].shape[0]}" for l, s in spaces.items())
          + f"; the null space (eigh) once per layer: {sum(eigh_s):.2f} s for all layers")
    forms = {"d_k form, float64": [], "d_k form, float32": [], "basis form, float64 (editlib)": []}
    worst = {k: 0.0 for k in forms}
    for _ in range(a.repeats):
        kept, gram = PreservedKeys(), {l: None for l in covs}
        for t, batch in enumerate(batches):
            reference, spent = {}, {k: 0.0 for k in forms}
            for l, (k, r) in batch.items():
                p = spaces[l].basis @ spaces[l].basis.T
                reference[l], s = timed(lambda: dk_form(k, r, covs[l], p, gram[l], cfg.alpha, torch.float64))
                spent["d_k form, float64"] += s
                d32, s = timed(lambda: dk_form(k, r, covs[l], p, gram[l], cfg.alpha, torch.float32))
                spent["d_k form, float32"] += s
                (d, _), s = timed(lambda: method.solve(k, r, covs[l], cfg, prepared=spaces[l],
                                                       preserved=kept.gram(l, spaces[l].basis)))
                spent["basis form, float64 (editlib)"] += s
                for name, got in (("d_k form, float32", d32), ("basis form, float64 (editlib)", d)):
                    rel = float(torch.linalg.norm(got.double() - reference[l]) / torch.linalg.norm(reference[l]))
                    worst[name] = max(worst[name], rel)
            for name, s in spent.items():
                forms[name].append(s)
            kept.add({t}, a.batch_size, {l: k for l, (k, _) in batch.items()})
            for l, (k, _) in batch.items():
                gram[l] = k @ k.T if gram[l] is None else gram[l] + k @ k.T
    print(f"\n{'form':32s} {'s per batch of ' + str(len(a.layers)) + ' layers':>26s}  max ‖Δ − Δ_dk64‖/‖Δ_dk64‖")
    for name, times in forms.items():
        per_batch = [sum(times[i:i + a.batches]) / a.batches for i in range(0, len(times), a.batches)]
        print(f"{name:32s} {statistics.median(per_batch):26.3f}  {worst[name]:.1e}" if name != "d_k form, float64"
              else f"{name:32s} {statistics.median(per_batch):26.3f}  (reference)")


if __name__ == "__main__":
    main()
