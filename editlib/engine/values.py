"""Target values z (ROME/MEMIT's "compute v/z"), for a whole batch of facts at once.

For each fact, δ starts at 0 and is added at the value site of layer L (see
``Architecture.value_site``) at the fact token of every rewriting prompt (each context
template + the prompt + target tokens but the last) and of the KL prompt "{subject} is a".
Adam minimises, per fact,

    L(δ) = NLL(target_new | prompts)                       (mean over tokens, then prompts)
         + kl_factor · KL(p_δ ‖ p_0)  at the fact token of "{subject} is a"
         + v_weight_decay · ‖δ‖ / ‖h‖²

with ‖δ‖ clipped to clamp_norm_factor · ‖h‖ after each step, and stops a fact once its
loss < v_early_stop_loss. z = h + δ, h the value-site output at the plain prompt.

Each fact's loss depends only on its own δ and Adam is element-wise, so all facts are
optimised together: one forward/backward per step over every active fact's prompts, with
the same trajectory as optimising each alone. Rows are left-aligned on the fact token:
the tokens before it (which δ cannot reach) run once per batch into a KV cache, each step
runs only the fact token, the rest of the prompt and the target, logits are computed only
at target positions, and finished facts drop out of the batch.

Memory is bounded by two budgets, not by the number of facts: ``max_tokens`` padded suffix
tokens per forward/backward chunk (the activations), and ``group_tokens`` prompt tokens per
group of chunks optimised to completion before the next group starts (the prefix KV
caches, KL references, δ and Adam's state).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, fields

import torch
from tqdm.auto import tqdm

from ..base import checks, precision
from ..base.cache import atomic_save, check_cached_tensor, load_cached, stable_key
from ..base.paths import cache_dir
from .architectures import Architecture, as_w, input_device
from .fingerprint import shape_slug, tokenizer_fingerprint, weights_fingerprint
from .hooks import StopForward, add_at
from .lm import head_logits
from .prompts import FACT_TOKENS, encode, pad_id, target_ids
from .requests import EditRequest, check_finite

KL_PROMPT = "{} is a"
MEMORY_BUDGETS = ("max_tokens", "group_tokens")     # settings that batch the work, not change z


@dataclass
class ZSettings:
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75
    kl_factor: float = 0.0625
    v_early_stop_loss: float = 0.05
    fact_token: str = "subject_last"
    max_tokens: int = 2048           # padded suffix tokens per forward/backward chunk (memory budget)
    group_tokens: int = 16384        # prompt tokens optimised at once (memory budget, see values._groups)
    compute_dtype: str | None = None  # "bfloat16", "tf32"...: the passes' matmuls (see editlib.base.precision)

    def __post_init__(self):
        checks.number("v_num_grad_steps", self.v_num_grad_steps, low=1, integer=True)
        checks.number("v_lr", self.v_lr, low=0, strict=True)
        checks.number("v_weight_decay", self.v_weight_decay, low=0)
        checks.number("clamp_norm_factor", self.clamp_norm_factor, low=0, strict=True)
        checks.number("kl_factor", self.kl_factor, low=0)
        checks.number("v_early_stop_loss", self.v_early_stop_loss, low=0)
        checks.choice("fact_token", self.fact_token, FACT_TOKENS)
        checks.number("max_tokens", self.max_tokens, low=1, integer=True)
        checks.number("group_tokens", self.group_tokens, low=1, integer=True)
        checks.dtype_name("compute_dtype", self.compute_dtype)


@contextmanager
def frozen_weights(model):
    """Turn off weight gradients while optimising δ (only δ needs them)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class _Chunk:
    """The prompts of some facts in one batch, left-aligned so that every row's fact token
    sits in the same column F. Columns < F cannot depend on δ (causal attention): they run
    once, into a KV cache; each step runs only columns ≥ F (the fact token, the rest of
    the prompt and the target), with gradients."""

    def __init__(self, model, tok, arch, facts, prompts, device):
        self.facts = facts                       # indices into the request list
        encs, row_fact, t_rows, t_cols, t_ids, kl_rows = [], [], [], [], [], []
        first_row = {}
        for f in facts:
            for kind, enc, tgt in prompts[f]:
                r = len(encs)
                encs.append(enc)
                row_fact.append(f)
                if kind == "rewrite":
                    first_row.setdefault(f, r)
                    t_rows += [r] * len(tgt)
                    t_cols += [enc.n_prompt - 1 + j - enc.fact_idx for j in range(len(tgt))]  # from the fact token
                    t_ids += tgt
                else:
                    kl_rows.append(r)
        F = max(e.fact_idx for e in encs)
        width = F + max(len(e.ids) - e.fact_idx for e in encs)
        ids = torch.full((len(encs), width), pad_id(tok), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(encs):
            left = F - e.fact_idx
            ids[r, left:left + len(e.ids)] = torch.tensor(e.ids)
            mask[r, left:left + len(e.ids)] = 1
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        T = lambda x: torch.tensor(x, dtype=torch.long, device=device)  # noqa: E731
        self.ids, self.mask, self.pos = ids.to(device), mask.to(device), pos.to(device)
        self.F = F
        self.row_fact = T(row_fact)
        self.first_row = T([first_row[f] for f in facts])
        self.t_rows, self.t_cols, self.t_ids = T(t_rows), T(t_cols), T(t_ids)
        self.kl_rows = T(kl_rows)
        self.n_targets = torch.bincount(self.t_rows, minlength=len(encs)).clamp(min=1)
        self.is_rw = torch.zeros(len(encs), dtype=torch.bool, device=device)
        self.is_rw[self.t_rows] = True
        self.model, self.arch = model, arch
        self.prefix = None
        if F > 0:
            with torch.no_grad():   # the base model: no LM head over the prefix tokens
                out = model.base_model(input_ids=self.ids[:, :F], attention_mask=self.mask[:, :F],
                                       position_ids=self.pos[:, :F], use_cache=True)
                self.prefix = out["cache"] if "cache" in out else out.past_key_values   # renamed in transformers 5

    def forward(self, delta: torch.Tensor, n_facts: int, layer: int):
        """Run the suffix with δ added at the fact token; return per-fact NLL (n_facts,),
        the value-site output at each fact's plain prompt (n_facts, d; zero for facts not
        in this chunk) and the KL rows' log-probabilities."""
        model, arch = self.model, self.arch
        site = model.get_submodule(arch.name(arch.value_site, layer))
        rows = torch.arange(len(self.row_fact), device=delta.device)
        zeros = torch.zeros_like(rows)
        seen = {}

        def read(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            seen["h"] = out[self.first_row.to(out.device), 0].detach().float().to(delta.device)

        norm = arch.final_norm
        r = torch.cat([self.t_rows, self.kl_rows])
        c = torch.cat([self.t_cols, torch.zeros_like(self.kl_rows)])

        def final(module, args, output):
            seen["final"] = args[0][r.to(args[0].device), c.to(args[0].device)]
            raise StopForward

        handles = [site.register_forward_hook(read),
                   add_at(site, rows, zeros, lambda: delta[self.row_fact]),
                   model.get_submodule(norm).register_forward_hook(final)]
        past = copy.deepcopy(self.prefix) if self.prefix is not None else None
        try:
            model(input_ids=self.ids[:, self.F:], attention_mask=self.mask, position_ids=self.pos[:, self.F:],
                  use_cache=past is not None, **{_cache_arg(model): past})
        except StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        logp = torch.log_softmax(head_logits(model, arch, seen["final"]), dim=-1).to(delta.device)
        n_t = len(self.t_rows)
        tok_nll = -logp[torch.arange(n_t, device=logp.device), self.t_ids]
        row_nll = torch.zeros(len(self.row_fact), device=logp.device).index_add(0, self.t_rows, tok_nll)
        row_nll = row_nll / self.n_targets
        fact_nll = torch.zeros(n_facts, device=logp.device).index_add(0, self.row_fact[self.is_rw], row_nll[self.is_rw])
        fact_nll = fact_nll / torch.bincount(self.row_fact[self.is_rw], minlength=n_facts).clamp(min=1)
        h = torch.zeros(n_facts, delta.shape[1], device=delta.device)
        h[torch.tensor(self.facts, device=delta.device)] = seen["h"]
        return fact_nll, h, logp[n_t:]


def _cache_arg(model) -> str:
    """The keyword a model's forward takes its KV cache by (renamed in recent transformers)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _site_width(model, arch: Architecture, layer: int) -> int:
    """Width of the value site's output: d_model for a block, d_v for the rewrite module."""
    if arch.value_site == "block":
        return model.get_input_embeddings().weight.shape[1]
    w = model.get_submodule(arch.name("rewrite", layer)).weight
    return w.shape[1 if arch.transposed else 0]


def _prompts(tok, requests, templates, fact_token):
    """Per fact: [("rewrite", Encoded, target ids) per template] + [("kl", Encoded, None)]."""
    out = []
    for r in requests:
        tgt = target_ids(tok, r.target_new)
        rw = [("rewrite", encode(tok, t, r.prompt, r.subject, fact_token, append=tgt[:-1]), tgt) for t in templates]
        kl = ("kl", encode(tok, "{}", KL_PROMPT, r.subject, fact_token), None)
        out.append(rw + [kl])
    return out


def _suffix_width(rows) -> int:
    return max(len(e.ids) - e.fact_idx for _, e, _ in rows)


def _chunks(facts, prompts, max_tokens, max_waste: float = 1.25):
    """Group facts into batches: facts sorted by suffix width (what runs each step), a new
    batch when the padded size would pass ``max_tokens`` or the width grow past
    ``max_waste`` × the batch's narrowest (bounding padding), so no step pays for padding."""
    group, rows, lo = [], 0, 0
    for f in sorted(facts, key=lambda f: (_suffix_width(prompts[f]), f)):
        w, n = _suffix_width(prompts[f]), len(prompts[f])
        if group and (w * (rows + n) > max_tokens or w > max_waste * lo):
            yield group
            group, rows = [], 0
        if not group:
            lo = w
        group.append(f)
        rows += n
    if group:
        yield group


def _prompt_tokens(rows) -> int:
    return sum(len(e.ids) for _, e, _ in rows)


def _groups(chunks: list[list[int]], prompts, group_tokens: int) -> list[list[list[int]]]:
    """Consecutive chunks packed into groups of at most ``group_tokens`` prompt tokens (a
    chunk over the budget forms a group alone). A group is optimised to completion and
    freed before the next starts: its prefix KV caches, initial KL distributions and
    activations are what z holds in memory, whatever the number of facts."""
    groups, cur, used = [], [], 0
    for ch in chunks:
        n = sum(_prompt_tokens(prompts[f]) for f in ch)
        if cur and used + n > group_tokens:
            groups.append(cur)
            cur, used = [], 0
        cur.append(ch)
        used += n
    if cur:
        groups.append(cur)
    return groups


def plan_groups(tok, requests: list[EditRequest], templates: list[str], s: ZSettings):
    """(prompts per fact, groups of chunks of fact indices): how z will batch ``requests``."""
    prompts = _prompts(tok, requests, templates, s.fact_token)
    return prompts, _groups(list(_chunks(range(len(requests)), prompts, s.max_tokens)), prompts, s.group_tokens)


def z_groups(model, tok, arch: Architecture, requests: list[EditRequest], layer: int,
             templates: list[str], s: ZSettings = ZSettings(), progress: bool = True):
    """Target values group by group: yields ``(indices, Z (n, d) float32, info)`` for each
    group of facts (indices into ``requests``) as soon as it is done."""
    prompts, groups = plan_groups(tok, requests, templates, s)
    bar = tqdm(total=len(groups) * s.v_num_grad_steps, disable=not progress, leave=False,
               desc=f"z @ layer {layer} ({len(requests)} facts, {len(groups)} group{'s' * (len(groups) > 1)})")
    for group in groups:
        facts = [f for ch in group for f in ch]
        local = {f: i for i, f in enumerate(facts)}
        z, info = _optimise(model, tok, arch, [prompts[f] for f in facts], [[local[f] for f in ch] for ch in group],
                            layer, s, bar)
        yield facts, z, info
    bar.close()


def compute_z(model, tok, arch: Architecture, requests: list[EditRequest], layer: int,
              templates: list[str], s: ZSettings = ZSettings(), progress: bool = True):
    """Target values at ``layer``'s value site: (Z (B, d) float32, info dict). Facts are
    optimised in groups of at most ``s.group_tokens`` prompt tokens (see :func:`z_groups`);
    each fact's trajectory is its own, so the grouping does not change any z."""
    z, info = None, {}
    for idx, z_g, info_g in z_groups(model, tok, arch, requests, layer, templates, s, progress):
        if z is None:
            z = torch.empty(len(requests), z_g.shape[1], dtype=z_g.dtype, device=z_g.device)
            info = {k: [None] * len(requests) for k in info_g}
        z[torch.tensor(idx, device=z.device)] = z_g
        for k, v in info_g.items():
            for i, x in zip(idx, v):
                info[k][i] = x
    return z, info


def _is_z_blob(b, d_v: int, key: str) -> bool:
    """A cached z: a finite float vector of the value site's width, written for this key."""
    return check_cached_tensor(b, "z", (d_v,), key) and isinstance(b.get("info"), dict)


def cached_z(model, tok, arch: Architecture, requests: list[EditRequest], layer: int, templates: list[str],
             s: ZSettings, use_cache: bool = True, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """:func:`compute_z` with each fact's z cached on disk (``<cache>/z/<shape>/L<layer>-<key>.pt``),
    keyed by the content of the weights and tokenizer, the value site, the settings that
    change z, the templates and the request: single-edit experiments compute every fact's
    z in one batch and then edit one fact at a time, and z on an edited model never mixes
    with the unedited model's. Returns (Z (B, d_v) on the model's input device, per-fact
    info with ``cached`` telling which came from disk)."""
    settings = {f.name: getattr(s, f.name) for f in fields(ZSettings) if f.name not in MEMORY_BUDGETS}
    paths = []
    if use_cache:
        model_key = dict(weights=weights_fingerprint(model), tokenizer=tokenizer_fingerprint(tok),
                         site=arch.name(arch.value_site, layer), s=settings, t=templates)
        root = cache_dir("z") / shape_slug(model)
        paths = [root / f"L{layer}-{stable_key(**model_key, r=[r.prompt, r.subject, r.target_new])}.pt"
                 for r in requests]
    z: list[torch.Tensor | None] = [None] * len(requests)
    per_fact: list[dict] = [{} for _ in requests]
    d_v = as_w(model.get_submodule(arch.name("rewrite", layer)).weight, arch).shape[0]
    for i, p in enumerate(paths):
        blob = load_cached(p, check=lambda b, key=p.stem: _is_z_blob(b, d_v, key))
        if blob is not None:
            z[i], per_fact[i] = blob["z"], {**blob["info"], "cached": True}
    todo = [i for i, v in enumerate(z) if v is None]
    if todo:          # group by group, each cached as soon as it is done
        for idx, z_new, z_info in z_groups(model, tok, arch, [requests[i] for i in todo], layer, templates, s,
                                           progress=progress):
            for j, i in enumerate(todo[k] for k in idx):
                z[i] = z_new[j].cpu()
                per_fact[i] = {k: v[j] for k, v in z_info.items()}
                if use_cache:
                    atomic_save({"z": z[i], "info": per_fact[i], "key": paths[i].stem}, paths[i])
                per_fact[i]["cached"] = False
    info = {k: [f.get(k) for f in per_fact] for k in per_fact[0]}
    return torch.stack(z).to(input_device(model)), info


def _optimise(model, tok, arch: Architecture, prompts, chunk_facts: list[list[int]], layer: int,
              s: ZSettings, bar):
    """Adam on δ for the facts of ``prompts`` (batched as ``chunk_facts``), to completion."""
    device = input_device(model)
    B = len(prompts)
    with frozen_weights(model), precision.compute(device, s.compute_dtype):
        chunks = [_Chunk(model, tok, arch, g, prompts, device) for g in chunk_facts]
        d = _site_width(model, arch, layer)
        delta = torch.zeros(B, d, device=device, requires_grad=True)
        opt = torch.optim.Adam([delta], lr=s.v_lr)
        h0 = torch.zeros(B, d, device=device)
        kl0: dict[int, torch.Tensor] = {}
        done = torch.zeros(B, dtype=torch.bool)
        steps = torch.zeros(B, dtype=torch.long)
        final = {"loss": torch.zeros(B), "nll": torch.zeros(B), "kl": torch.zeros(B)}
        curves: list[list[float]] = [[] for _ in range(B)]
        for it in range(s.v_num_grad_steps):
            opt.zero_grad(set_to_none=False)
            for ci, ch in enumerate(chunks):
                active = [f for f in ch.facts if not done[f]]
                if not active:
                    continue
                if len(active) < 0.75 * len(ch.facts):  # drop finished facts from the batch
                    ch = chunks[ci] = _Chunk(model, tok, arch, active, prompts, device)
                nll, h, kl_logp = ch.forward(delta, B, layer)
                idx = torch.tensor(ch.facts, device=device)
                if it == 0:
                    h0[idx] = h[idx]
                    for f, row in zip(ch.facts, kl_logp.detach()):
                        kl0[f] = row
                kl_init = torch.stack([kl0[f] for f in ch.facts])
                kl = (kl_logp.exp() * (kl_logp - kl_init)).sum(-1)          # KL(p_now ‖ p_0)
                wd = s.v_weight_decay * delta[idx].norm(dim=-1) / h0[idx].norm(dim=-1) ** 2
                loss = nll[idx] + s.kl_factor * kl + wd
                stop = ((loss.detach().cpu() < s.v_early_stop_loss) | (it == s.v_num_grad_steps - 1)
                        | done[ch.facts])
                for j, f in enumerate(ch.facts):
                    if done[f]:
                        continue
                    final["loss"][f], final["nll"][f], final["kl"][f] = loss[j].item(), nll[f].item(), kl[j].item()
                    curves[f].append(loss[j].item())
                    if stop[j]:
                        done[f] = True
                    else:
                        steps[f] += 1
                if (~stop).any():
                    loss[~stop.to(loss.device)].sum().backward()
            bar.update()
            bar.set_postfix(active=int((~done).sum()), loss=float(final["loss"].mean()))
            if done.all():
                bar.update(s.v_num_grad_steps - 1 - it)
                break
            before = delta.detach().clone()
            opt.step()
            with torch.no_grad():
                keep = done.to(device)
                delta[keep] = before[keep]                                  # finished facts stay put
                max_norm = s.clamp_norm_factor * h0.norm(dim=-1, keepdim=True)
                norm = delta.norm(dim=-1, keepdim=True)
                delta.mul_(torch.where(norm > max_norm, max_norm / norm, torch.ones_like(norm)))
    z = (h0 + delta.detach()).float()
    check_finite("target values z", z)
    info = {"loss": final["loss"].tolist(), "nll": final["nll"].tolist(), "kl": final["kl"].tolist(),
            "steps": steps.tolist(), "delta_norm": delta.detach().norm(dim=-1).tolist(),
            "h_norm": h0.norm(dim=-1).tolist(), "loss_curve": curves}
    return z, info
