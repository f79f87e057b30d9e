"""A model placed over several devices edits as on one: the same randomly initialised
model (a real configuration's shape, as benchmarks/scale.py builds it) edited with MEMIT
spread over the preset's layers, (a) on one device, (b) split between the CPU and the
GPU with every block resident (the edit layers straddle the two), (c) with
``device_map="auto"`` and a GPU budget too small for the model, so the upper blocks are
offloaded to the CPU (accelerate streams them to the GPU per forward) while the edit
layers stay on the GPU, (d) on the CPU alone (the yardstick: how far CPU against GPU
arithmetic moves the result, with no placement at all). Prints, for (b)-(d) against (a), the relative difference of
each layer's Δ and z, the time and peak GPU memory, and checks that restore() gives back
the original weights bit for bit.

    python verification/device_map_check.py                    # GPT-2 XL's shape; needs a GPU
    python verification/device_map_check.py --tiny             # a 6-layer stand-in, CPU only: (a) vs a
                                                             # hooked CPU map with one block on "disk"

C0 comes from WikiText in the data directory (else the embedded facts' sentences, as
scale.py), without the disk cache, so each placement computes its own statistics.
"""
import argparse
import copy
import time

import torch
from scale import SHAPES, build, facts_corpus

from editlib import Editor
from editlib.engine.edit.presets import load_preset
from editlib.engine.model.architectures import get_architecture, num_layers
from editlib.engine.model.fingerprint import weights_fingerprint
from editlib.engine.model.loading import dispatch
from editlib.engine.statistics.corpus import WIKITEXT_FILE, find_data_file
from editlib.engine.targets.requests import EditRequest
from editlib.evaluation.data import load_cases


def requests(dataset: str, n: int) -> list[EditRequest]:
    return [EditRequest.from_dict(c) for c in load_cases(dataset, n=n, split="all")]


def edit(model, tok, layers, reqs, corpus, steps):
    """(Δ per module on the CPU, z, seconds, peak GPU GiB), the model restored and checked."""
    before = weights_fingerprint(model)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    ed = Editor(model, tok, method="memit", layers=layers, preset=None, use_cache=False, progress=False,
                mom2_dataset=corpus, mom2_n_tokens=20_000, v_num_grad_steps=steps, v_early_stop_loss=0.0,
                mom2_update_weight=15_000)
    res = ed.apply(reqs)
    dt = time.perf_counter() - t0
    gib = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    ed.restore()
    assert weights_fingerprint(model) == before, "restore() did not give the original weights back"
    return {k: v.cpu() for k, v in res.deltas.items()}, res.z.cpu(), dt, gib


def rel(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gpt2-xl", choices=sorted(SHAPES))
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--facts", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--dataset", default="embedded", help="the facts edited (embedded, counterfact_simple, ...)")
    ap.add_argument("--gpu-budget", default="4GiB", help="max_memory for the GPU in placement (c)")
    a = ap.parse_args()
    from editlib.engine.model.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    corpus = "auto" if find_data_file(WIKITEXT_FILE) is not None else facts_corpus()
    reqs = requests(a.dataset, a.facts)
    layers = [1, 2, 3] if a.tiny else load_preset(a.model).layers_spread
    gpu = torch.cuda.is_available() and not a.tiny

    base, note = build(a.model, tok, "cpu", a.tiny)          # one random model, copied for each placement
    model = copy.deepcopy(base)
    n = num_layers(model)
    blocks = get_architecture(model).block.rsplit(".", 1)[0]        # "transformer.h", "model.layers"
    print(f"{a.model}{' (tiny)' if a.tiny else ''}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B "
          f"parameters, {n} blocks, MEMIT over layers {layers}, {len(reqs)} facts, {a.steps} z steps {note}")
    ref = edit(model.to("cuda" if gpu else "cpu"), tok, layers, reqs, corpus, a.steps)
    print(f"(a) one device ({'cuda' if gpu else 'cpu'}): {ref[2]:.1f} s, peak GPU {ref[3]:.2f} GiB")
    del model

    placements = []
    if gpu:
        cut = layers[len(layers) // 2]          # blocks below `cut` on the CPU (resident: it is the main device)
        split = {name: ("cpu" if i < cut else 0) for i, name in enumerate(f"{blocks}.{i}" for i in range(n))}
        placements.append((f"(b) embeddings, head and blocks 0-{cut - 1} on cpu, {cut}-{n - 1} on cuda:0, all resident",
                           lambda m: dispatch(m, {**_edges(m, blocks, "cpu"), **split})))
        placements.append((f"(c) device_map='auto', max_memory cuda:0 {a.gpu_budget}: upper blocks offloaded",
                           lambda m: dispatch(m, "auto", max_memory={0: a.gpu_budget, "cpu": "100GiB"})))
        placements.append(("(d) one device, the CPU: how far float arithmetic alone moves Δ from (a)",
                           lambda m: m))
    else:
        split = {f"{blocks}.{i}": ("disk" if i == 0 else "cpu") for i in range(n)}
        placements.append(("(b) all on cpu, block 0 on disk: accelerate's hooks on every module",
                           lambda m: dispatch(m, {**_edges(m, blocks, "cpu"), **split})))
    for label, place in placements:
        model = place(copy.deepcopy(base))
        where = sorted({str(d) for d in getattr(model, "hf_device_map", {"": "cpu"}).values()})
        try:
            deltas, z, dt, gib = edit(model, tok, layers, reqs, corpus, a.steps)
        except Exception as e:  # noqa: BLE001 - report and go on to the next placement
            print(f"{label} [{', '.join(where)}]: {type(e).__name__}: {e}")
            continue
        diffs = ", ".join(f"L{k.split('.')[-3]} {rel(deltas[k], ref[0][k]):.1e}" for k in ref[0])
        print(f"{label} [{', '.join(where)}]: {dt:.1f} s, peak GPU {gib:.2f} GiB; "
              f"relative difference to (a): z {rel(z, ref[1]):.1e}, Δ {diffs}; restored bit for bit")
        del model
        if gpu:
            torch.cuda.empty_cache()


def _edges(model, blocks: str, device) -> dict:
    """Every module outside the blocks (embeddings, final norm, head: tied weights stay
    together) on ``device``."""
    prefix = blocks.rsplit(".", 1)[0]
    out = {f"{prefix}.{name}": device for name, _ in model.get_submodule(prefix).named_children()
           if f"{prefix}.{name}" != blocks}
    return {**out, "lm_head": device}


if __name__ == "__main__":
    main()
