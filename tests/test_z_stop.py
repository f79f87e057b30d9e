"""z's stopping rules: ENCORE's most-probable early stopping (MPES) against an independent
check of the target's rank under each fact's z, on SmolLM2-135M (tiny random models never
put a target on top within a test's step budget)."""
import pytest
import torch
from conftest import FACTS

from editlib.base.errors import HyperparameterError
from editlib.engine.model.architectures import get_architecture
from editlib.engine.model.hooks import add_at
from editlib.engine.model.prompts import encode, target_ids
from editlib.engine.targets.requests import as_requests
from editlib.engine.targets.values import compute_z
from editlib.engine.targets.z_settings import ZSettings

pytestmark = pytest.mark.slow
LAYER = 4
TEMPLATES = ["{}", "Paris is. {}"]


def _site_output(model, site, ids, col):
    seen = {}

    def read(module, args, out):
        seen["h"] = (out[0] if isinstance(out, tuple) else out)[0, col].clone()
    handle = site.register_forward_hook(read)
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    handle.remove()
    return seen["h"]


def _target_on_top(model, tok, arch, req, z) -> bool:
    """Is the target the argmax at each of its positions in every rewriting prompt when
    δ = z − h (h: the value site's output at the fact token of the plain prompt) is added
    at the fact token? One forward per prompt, no editlib z code."""
    site = model.get_submodule(arch.name(arch.value_site, LAYER))
    tgt = target_ids(tok, req.target_new)
    plain = encode(tok, "{}", req.prompt, req.subject)
    delta = z - _site_output(model, site, plain.ids, plain.fact_idx)
    for template in TEMPLATES:
        e = encode(tok, template, req.prompt, req.subject, append=tgt[:-1])
        handle = add_at(site, torch.tensor([0]), torch.tensor([e.fact_idx]), lambda: delta[None])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([e.ids])).logits[0]
        handle.remove()
        top = logits[[e.n_prompt - 1 + j for j in range(len(tgt))]].argmax(-1).tolist()
        if top != tgt:
            return False
    return True


@pytest.fixture(scope="module")
def llama(smollm2):
    model, tok = smollm2
    return model, tok, get_architecture(model)


def _z(llama, reqs, **kw):
    model, tok, arch = llama
    s = ZSettings(v_num_grad_steps=kw.pop("steps", 25), v_early_stop_loss=0.0, **kw)
    return compute_z(model, tok, arch, reqs, LAYER, TEMPLATES, s, progress=False)


def test_most_probable_stops_at_the_first_step_the_target_is_on_top(llama):
    model, tok, arch = llama
    reqs = as_requests(FACTS[:3])
    z, info = _z(llama, reqs, z_stop="most_probable", z_stop_count=1)
    early = [i for i, n in enumerate(info["steps"]) if n < 24]
    assert early, "no fact reached the top before the step cap: the test says nothing"
    for i in early:
        n = info["steps"][i]
        assert info["most_probable_steps"][i] == 1
        assert _target_on_top(model, tok, arch, reqs[i], z[i])
        # the same trajectory one step earlier: not yet on top everywhere, so MPES did not stop late
        z_before, _ = _z(llama, [reqs[i]], steps=n)
        assert not _target_on_top(model, tok, arch, reqs[i], z_before[0])
        # and stopping is all MPES changes: the loss rule's run capped at that step gives the same z
        z_capped, info_capped = _z(llama, [reqs[i]], steps=n + 1)
        assert info_capped["steps"][0] == n
        torch.testing.assert_close(z[i], z_capped[0], rtol=1e-4, atol=1e-4)


def test_most_probable_count_waits_for_more_steps_on_top(llama):
    reqs = as_requests(FACTS[:3])
    _, once = _z(llama, reqs, z_stop="most_probable", z_stop_count=1)
    _, twice = _z(llama, reqs, z_stop="most_probable", z_stop_count=2)
    _, loss_rule = _z(llama, reqs)
    for a, b, c in zip(once["steps"], twice["steps"], loss_rule["steps"]):
        assert a <= b <= c
    assert any(a < b for a, b in zip(once["steps"], twice["steps"]))
    assert all(n <= 2 for n in twice["most_probable_steps"])
    assert loss_rule["steps"] == [24] * 3          # the loss rule (threshold 0) runs to the cap


def test_z_stop_settings_are_checked():
    with pytest.raises(HyperparameterError, match="z_stop"):
        ZSettings(z_stop="argmax")
    with pytest.raises(HyperparameterError, match="z_stop_count"):
        ZSettings(z_stop_count=0)
