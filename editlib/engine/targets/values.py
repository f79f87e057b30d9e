"""Target values z (ROME/MEMIT's "compute v/z"), for a whole batch of facts at once.

For each fact, δ starts at 0 and is added at the value site of layer L (see
``Architecture.value_site``) at the fact token of every rewriting prompt (each context
template + the prompt + target tokens but the last) and of the KL prompt "{subject} is a".
Adam minimises, per fact,

    L(δ) = NLL(target_new | prompts)                       (mean over tokens, then prompts)
         + kl_factor · KL(p_δ ‖ p_0)  at the fact token of "{subject} is a"
         + v_weight_decay · ‖δ‖ / ‖h‖²

with ‖δ‖ clipped to clamp_norm_factor · ‖h‖ after each step, and stops a fact once its
loss < v_early_stop_loss, or with ``z_stop="most_probable"`` (ENCORE's most-probable early
stopping, MPES) also once the target token has been the argmax at every target position of
every rewriting prompt at ``z_stop_count`` steps. z = h + δ, h the value-site output at the
plain prompt.

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

import torch
from tqdm.auto import tqdm

from ...base import precision
from ..model.architectures import Architecture, input_device
from ..model.hooks import StopForward, add_at
from ..model.lm import head_logits
from ..model.prompts import pad_id
from .requests import EditRequest, check_finite
from .z_batches import plan_groups
from .z_settings import ZSettings


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
        return fact_nll, h, logp[n_t:], self._most_probable(logp[:n_t], n_facts)

    def _most_probable(self, target_logp: torch.Tensor, n_facts: int) -> torch.Tensor:
        """Per fact: is the target token the argmax at every target position of every
        rewriting prompt (MPES's test)? (n_facts,) bool on the CPU."""
        with torch.no_grad():
            miss = (target_logp.argmax(-1) != self.t_ids).float()
            fact = self.row_fact[self.t_rows]
            misses = torch.zeros(n_facts, device=miss.device).index_add(0, fact, miss)
        return (misses == 0).cpu()


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
        seen_top = torch.zeros(B, dtype=torch.long)     # steps at which the target was the argmax everywhere
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
                nll, h, kl_logp, most_probable = ch.forward(delta, B, layer)
                idx = torch.tensor(ch.facts, device=device)
                if it == 0:
                    h0[idx] = h[idx]
                    for f, row in zip(ch.facts, kl_logp.detach()):
                        kl0[f] = row
                kl_init = torch.stack([kl0[f] for f in ch.facts])
                kl = (kl_logp.exp() * (kl_logp - kl_init)).sum(-1)          # KL(p_now ‖ p_0)
                wd = s.v_weight_decay * delta[idx].norm(dim=-1) / h0[idx].norm(dim=-1) ** 2
                loss = nll[idx] + s.kl_factor * kl + wd
                seen_top[ch.facts] += (most_probable[ch.facts] & ~done[ch.facts]).long()
                stop = ((loss.detach().cpu() < s.v_early_stop_loss) | (it == s.v_num_grad_steps - 1)
                        | done[ch.facts])
                if s.z_stop == "most_probable":
                    stop |= seen_top[ch.facts] >= s.z_stop_count
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
            "steps": steps.tolist(), "most_probable_steps": seen_top.tolist(),
            "delta_norm": delta.detach().norm(dim=-1).tolist(),
            "h_norm": h0.norm(dim=-1).tolist(), "loss_curve": curves}
    return z, info
