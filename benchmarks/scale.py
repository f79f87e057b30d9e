"""Scale benchmark: the edit engine on randomly initialised models with the real shapes of
GPT-2 XL, GPT-J-6B and Llama-2-7b (built from configs, nothing downloaded).

    python benchmarks/scale.py                      # the three shapes, on the default device
    python benchmarks/scale.py --models gpt2-xl --dtype bfloat16
    python benchmarks/scale.py --tiny               # 6-layer stand-ins on a CPU, a few minutes
    python benchmarks/scale.py --models smollm2-135m --facts 64 1024 --steps 2   # a real model

Shape is what costs, not the values, so random weights measure speed and memory truthfully.
Prints one table per model: z (facts/min and peak memory at each number of facts, every fact
running all its steps), covariance throughput (tokens/s, and the time a paper-size C0 of
44 M tokens would take at that rate), the solve time of MEMIT and EMMET at batch sizes up to
10,000 (float64 on the device, keys drawn with the measured C0's covariance), and the whole
edit path (z + keys + solve) for one batch. Peak memory is the CUDA allocator's peak on a GPU
and the process's peak resident set (VmHWM, reset before each measurement) on a CPU.

The tokenizer is SmolLM2's (its ids fit every vocabulary here once Llama-2's 32,000 is raised
to SmolLM2's 49,152, which the table says; ``--tokenizer`` reads a saved copy of it where the
package is absent); ``--tiny`` uses editlib's tiny test tokenizer.
Facts are the embedded CounterFact-format cases (no data directory needed).
"""
import argparse
import ctypes
import gc
import time
from contextlib import contextmanager

import torch

from editlib import Editor, load_model
from editlib.engine.edit.presets import load_preset
from editlib.engine.model.architectures import as_w, get_architecture
from editlib.engine.statistics.corpus import WIKITEXT_FILE, find_data_file
from editlib.engine.statistics.covariance import second_moments
from editlib.engine.targets.requests import EditRequest
from editlib.engine.targets.z_batches import plan_groups
from editlib.evaluation.data import load_cases
from editlib.experiments.provenance import hardware

# the published configurations' shapes (what transformers' hub configs hold)
SHAPES = {
    "gpt2-xl": ("GPT2Config", dict(n_layer=48, n_embd=1600, n_head=25, n_positions=1024, vocab_size=50257)),
    "gpt-j-6b": ("GPTJConfig", dict(n_layer=28, n_embd=4096, n_head=16, rotary_dim=64, n_positions=2048,
                                    vocab_size=50400)),
    "llama-2-7b": ("LlamaConfig", dict(num_hidden_layers=32, hidden_size=4096, intermediate_size=11008,
                                       num_attention_heads=32, num_key_value_heads=32, rms_norm_eps=1e-5,
                                       max_position_embeddings=4096, vocab_size=32000)),
}
TINY = {
    "gpt2-xl": dict(n_layer=6, n_embd=128, n_head=4),
    "gpt-j-6b": dict(n_layer=6, n_embd=128, n_head=4, rotary_dim=16),
    "llama-2-7b": dict(num_hidden_layers=6, hidden_size=128, intermediate_size=344, num_attention_heads=4,
                       num_key_value_heads=4),
}
REAL = ("smollm2-135m", "gemma3-270m")          # real weights, loaded offline, for CPU-sized runs
PAPER_C0_TOKENS = 44_000_000


def build(name: str, tok, device, tiny: bool, seed: int = 0):
    import transformers

    cls, shape = SHAPES[name]
    shape = {**shape, **(TINY[name] if tiny else {})}
    real_vocab = shape["vocab_size"]
    shape["vocab_size"] = max(real_vocab, len(tok))
    cfg = getattr(transformers, cls)(**shape, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    note = f"vocab {real_vocab} → {shape['vocab_size']}" if shape["vocab_size"] != real_vocab else ""
    return model.eval(), note


class Peak:
    """Peak memory of a block: CUDA allocator on a GPU, resident set (VmHWM) on a CPU."""

    def __init__(self, device):
        self.device = torch.device(device)

    @contextmanager
    def measure(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            gc.collect()
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)    # hand freed memory back, so the reset starts
            except (OSError, AttributeError):              # from what is live
                pass
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")                       # reset the peak resident set
            except OSError:
                pass
        out = {}
        yield out
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            out["gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        else:
            with open("/proc/self/status") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
            out["gib"] = kib / 2**20


def facts_corpus() -> str:
    """A text file of the embedded cases' sentences: generic text for C0 without a data
    directory (a random model's own samples are too repetitive for a full-rank C0)."""
    import tempfile

    lines = []
    for c in load_cases("embedded", split="all"):
        r = c["requested_rewrite"]
        lines.append(f"{r['prompt'].format(r['subject'])} {r['target_true']['str']}.")
        lines += c.get("paraphrase_prompts", []) + c.get("neighborhood_prompts", [])
    path = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False).name
    with open(path, "w") as f:
        f.write("\n\n".join(" ".join(lines[i:i + 40]) for i in range(0, len(lines), 40)))
    return path


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def groups(editor, requests) -> int:
    """How many groups z optimises ``requests`` in (the memory budget at work)."""
    return len(plan_groups(editor.tok, requests, editor.templates, editor.hparams)[1])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_model(name, tok, a, device, peak: Peak, requests):
    if name in REAL:
        model, tok = load_model(name, device=device)
        note = "real weights"
    else:
        model, note = build(name, tok, device, a.tiny)
    preset = load_preset(name)
    layer = 2 if a.tiny and name not in REAL else preset.layers_single[-1]
    arch = get_architecture(model)
    d_v = as_w(model.get_submodule(arch.name("rewrite", layer)).weight, arch).shape[0]
    n_params = sum(p.numel() for p in model.parameters()) / 1e9
    common = dict(preset=name, layers=[layer], progress=not a.quiet, v_num_grad_steps=a.steps,
                  v_early_stop_loss=0.0, compute_dtype=a.dtype, mom2_n_tokens=a.cov_tokens,
                  **({"group_tokens": a.group_tokens} if a.group_tokens else {}))
    rows = []

    def row(what, setting, value, unit, mem=None):
        rows.append((what, setting, value, unit, mem))
        print(f"  {what:<12} {setting:<40} {fmt(value):>10} {unit:<10} {'' if mem is None else f'{mem:.2f} GiB'}",
              flush=True)

    print(f"\n{name}: {n_params:.2f} B parameters, layer {layer}, {device} ({hardware(device)}), "
          f"z dtype {a.dtype or 'float32'} {note}", flush=True)
    # --- covariance
    for dtype in dict.fromkeys([None, a.dtype]):
        with peak.measure() as m:
            (covs, info), dt = timed(lambda: second_moments(
                model, tok, arch, [layer], corpus=a.corpus, n_tokens=a.cov_tokens, compute_dtype=dtype,
                use_cache=False, progress=not a.quiet))
        rate = info["tokens_used"] / dt
        row("covariance", f"{info['tokens_used']:,} tok, {dtype or 'float32'}", rate, "tokens/s", m["gib"])
        row("covariance", f"{PAPER_C0_TOKENS / 1e6:.0f} M tokens at that rate", PAPER_C0_TOKENS / rate / 60, "min")
    cov = covs[layer]
    # --- z
    for n in a.facts:
        ed = Editor(model, tok, method="emmet", use_cache=False, **common)
        ed.templates                                               # generated once, not timed
        with peak.measure() as m:
            (_, info), dt = timed(lambda: ed.targets(requests[:n]))
        row("z", f"{n} facts, {a.steps} steps, {len(ed.templates)} templates, {groups(ed, requests[:n])} "
                 "group(s)", n / dt * 60, "facts/min", m["gib"])
    # --- solves
    d_k = cov.shape[0]
    chol = torch.linalg.cholesky(cov.to(device) + 1e-8 * torch.eye(d_k, dtype=cov.dtype, device=device))
    gen = torch.Generator(device=device).manual_seed(0)
    for B in a.solve:
        keys = chol @ torch.randn(d_k, B, dtype=torch.float64, device=device, generator=gen)
        resid = torch.randn(d_v, B, dtype=torch.float64, device=device, generator=gen)
        for method in ("memit", "emmet"):
            m_ed = Editor(model, tok, method=method, use_cache=False, **common)
            try:
                _, dt = timed(lambda: (m_ed.method.solve(keys, resid, cov.to(device), m_ed.config),
                                       torch.cuda.synchronize() if device.type == "cuda" else None))
                row("solve", f"{method}, B = {B:,}, d_k = {d_k:,}", dt, "s")
            except Exception as e:  # noqa: BLE001 - report and go on (e.g. out of memory)
                print(f"  solve {method} B = {B}: {type(e).__name__}: {str(e)[:80]}")
        keys = resid = None                                         # free them before the next size
    # --- the whole edit path for one batch
    for method in ("memit", "emmet"):
        ed = Editor(model, tok, method=method, use_cache=False, **common)
        ed._covs[layer] = cov                                      # C0 measured above, not re-timed
        ed.templates
        try:
            with peak.measure() as m:
                res = ed.apply(requests[:a.batch])
        except Exception as e:  # noqa: BLE001 - report and go on (a singular C0 from too few tokens...)
            print(f"  edit path {method}: {type(e).__name__}: {str(e)[:100]}")
            continue
        ed.restore()
        t = res.timings["z_s"] + res.timings["solve_s"]
        row("edit path", f"{method}, batch {a.batch} (z + keys + solve)", a.batch / t * 60, "facts/min", m["gib"])
    model = None
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES) + list(REAL),
                    help="random models of these shapes, or real offline models (smollm2-135m, gemma3-270m)")
    ap.add_argument("--tiny", action="store_true", help="6-layer stand-ins of each shape, CPU-friendly sizes")
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="compute dtype for z and C0 (bfloat16, tf32; default float32)")
    ap.add_argument("--facts", type=int, nargs="+", default=None, help="default 64 256 1024 (tiny: 8 32 64)")
    ap.add_argument("--solve", type=int, nargs="+", default=None,
                    help="batch sizes of the solves (default 1000 2500 5000 10000; tiny: 64 256 1024)")
    ap.add_argument("--cov-tokens", type=int, default=None, help="default 100,000 (tiny: 20,000)")
    ap.add_argument("--corpus", default="auto", help="C0's corpus (auto: WikiText-2 from the data directory, "
                    "else the embedded facts' sentences)")
    ap.add_argument("--steps", type=int, default=None, help="z steps (default 20; tiny: 10)")
    ap.add_argument("--group-tokens", type=int, default=None,
                    help="z's memory budget (default: the library's 16,384; tiny: 1,024, so groups form)")
    ap.add_argument("--batch", type=int, default=None, help="edit-path batch (default 256; tiny: 16)")
    ap.add_argument("--tokenizer", default=None,
                    help="a saved tokenizer folder for the random shapes (default: SmolLM2's, from its package)")
    ap.add_argument("--dataset", default="embedded", help="the facts edited (embedded, counterfact_simple, ...)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    a.facts = a.facts or ([8, 32, 64] if a.tiny else [64, 256, 1024])
    a.steps = a.steps or (10 if a.tiny else 20)
    a.group_tokens = a.group_tokens or (1024 if a.tiny else None)
    a.solve = a.solve or ([64, 256, 1024] if a.tiny else [1000, 2500, 5000, 10000])
    a.cov_tokens = a.cov_tokens or (20_000 if a.tiny else 100_000)
    a.batch = a.batch or (16 if a.tiny else 256)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if all(m in REAL for m in a.models):
        tok = None                                             # each real model brings its own
    elif a.tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(a.tokenizer)
    elif a.tiny:
        from editlib.engine.model.tiny import tiny_tokenizer

        tok = tiny_tokenizer()
    else:
        _, tok = load_model("smollm2-135m", device="cpu")
    cases = load_cases(a.dataset, n=max(a.facts + [a.batch]), split="all")
    if a.corpus == "auto" and find_data_file(WIKITEXT_FILE) is None:
        a.corpus = facts_corpus()
    requests = [EditRequest.from_dict(c) for c in cases]
    peak = Peak(device)
    table = []
    for name in a.models:
        table += [(name, *r) for r in bench_model(name, tok, a, device, peak, requests)]
    print(f"\n## editlib scale benchmark — {hardware(device)}, torch {torch.__version__}, "
          f"{'real weights' if tok is None else 'tiny stand-ins' if a.tiny else 'real shapes, random weights'}, "
          f"z/C0 dtype {a.dtype or 'float32'}\n")
    print("| model | measure | setting | value | unit | peak memory |\n|---|---|---|---|---|---|")
    for name, what, setting, value, unit, mem in table:
        print(f"| {name} | {what} | {setting} | {fmt(value)} | {unit} | {'' if mem is None else f'{mem:.2f} GiB'} |")


if __name__ == "__main__":
    main()
