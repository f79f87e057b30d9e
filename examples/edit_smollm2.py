"""Edit SmolLM2-135M with each objective and show what changed.

    python examples/edit_smollm2.py

For ROME, MEMIT and EMMET: the greedy continuation of the rewrite prompt, a paraphrase and
a neighbour before and after the edit, and the solver's diagnostics. The weights are
restored bit-exactly after each method. notebooks/00_quickstart.ipynb shows the same, with
AlphaEdit, a CounterFact case's scores and the restore checked.
"""
from editlib import Editor, load_model
from editlib.evaluation.metrics.generation import greedy_continuations

REQUEST = {"prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
           "target_new": "English", "target_true": "French"}
PROBES = ["The mother tongue of Danielle Darrieux is", "Danielle Darrieux's mother tongue is",
          "The mother tongue of Jean Gabin is"]


def continuation(model, tok, prompt, n=3):
    return greedy_continuations(model, tok, [prompt], n)[0]


def main():
    model, tok = load_model("smollm2-135m")
    before = {p: continuation(model, tok, p) for p in PROBES}
    for method in ["rome", "memit", "emmet"]:
        editor = Editor(model, tok, method=method, progress=False)
        with editor.edited([REQUEST]) as result:
            print(f"\n=== {method} at layers {result.layers}  (z: {result.z_info['steps'][0]} steps, "
                  f"loss {result.z_info['loss'][0]:.3f}; {result.timings['total_s']:.1f} s)")
            for p in PROBES:
                print(f"  {p!r:50} before:{before[p]!r:14} after:{continuation(model, tok, p)!r}")
            d = result.diagnostics[0]
            print(f"  preservation cost tr(ΔCΔᵀ) = {d['preservation_cost']:.4g}   "
                  f"residual ‖ΔK−R‖/‖R‖ = {d['relative_residual']:.2e}   ‖Δ‖ = {d['update_norm']:.3f}   "
                  f"cond = {d['condition_number']:.3g}")
        assert all(continuation(model, tok, p) == before[p] for p in PROBES[:1])   # restored


if __name__ == "__main__":
    main()
