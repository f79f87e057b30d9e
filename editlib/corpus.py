"""Generic text for covariance statistics.

Sources (``source`` argument):
- ``"wikitext2"``: WikiText-2 (validation split) from a data directory
  (``$EDITLIB_DATA``, see ``config.data_dirs``), de-tokenized: `` @-@ ``→``-``,
  `` @,@ ``→``,``, `` @.@ ``→``.``, no space before punctuation, ``<unk>`` dropped.
- a path to a ``.txt`` file (one document per blank-line-separated block);
- ``"hf:<dataset>[:<config>[:<split>]]"``: a Hugging Face dataset's ``text`` column (needs
  the ``datasets`` package and the hub);
- ``"model-samples"``: text the model writes itself (seeded sampling), needs nothing;
- ``"auto"``: WikiText-2 when a data directory holds it, else model samples.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from tqdm.auto import tqdm

from .config import cache_dir, data_dirs, seeded, stable_key
from .prompts import encode_left

WIKITEXT_FILE = "wikitext2_valid.txt"


def find_data_file(name: str) -> Path | None:
    for d in data_dirs():
        if (d / name).exists():
            return d / name
    return None


def detokenize_wikitext(text: str) -> str:
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = text.replace("<unk>", "")
    text = re.sub(r" +([,.;:!?)\]'])", r"\1", text)
    text = re.sub(r"([(\[]) +", r"\1", text)
    return re.sub(r"  +", " ", text)


def wikitext_documents(path: Path) -> list[str]:
    """Articles of a WikiText file (split at ``= Title =`` lines), de-tokenized."""
    docs, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r" = [^=].* = ", line):
            if cur:
                docs.append(" ".join(cur))
            cur = []
        elif line.strip() and not line.strip().startswith("="):
            cur.append(detokenize_wikitext(line.strip()))
    if cur:
        docs.append(" ".join(cur))
    return docs


def model_samples(model, tok, n_tokens: int = 20_000, length: int = 128, seed: int = 0,
                  batch: int = 32) -> list[str]:
    """Seeded samples from the model itself (top-k 40), about ``n_tokens`` in all, cached
    on disk."""
    from .models import model_fingerprint

    fp = model_fingerprint(model)
    n_docs = -(-n_tokens // length)
    path = cache_dir("corpora") / f"samples-{fp}-{stable_key(n=n_docs, length=length, seed=seed)}.json"
    if path.exists():
        return json.loads(path.read_text())
    device = next(model.parameters()).device
    starts = ["The", "In", "A", "It", "He", "She", "This", "On", "After", "When", "There", "According to"]
    docs = []
    with seeded(seed, device):
        for i in tqdm(range(0, n_docs, batch), desc="sampling a corpus from the model", leave=False):
            prompts = [starts[(i + j) % len(starts)] for j in range(min(batch, n_docs - i))]
            enc = encode_left(tok, prompts, device)
            out = model.generate(**enc, max_new_tokens=length, do_sample=True, top_k=40,
                                 pad_token_id=tok.pad_token_id)
            docs += tok.batch_decode(out, skip_special_tokens=True)
    path.write_text(json.dumps(docs))
    return docs


def corpus_documents(source: str, model=None, tok=None, seed: int = 0, n_tokens: int = 20_000
                     ) -> tuple[list[str], str]:
    """(documents, a description of what was used)."""
    if source == "auto":
        source = "wikitext2" if find_data_file(WIKITEXT_FILE) else "model-samples"
    if source == "wikitext2":
        path = find_data_file(WIKITEXT_FILE)
        if path is None:
            raise FileNotFoundError(f"{WIKITEXT_FILE} not found in {[str(d) for d in data_dirs()]}; "
                                    "set EDITLIB_DATA to a folder that holds it, or use corpus='model-samples'")
        return wikitext_documents(path), f"wikitext2 ({path.name}, detokenized, <unk> dropped)"
    if source == "model-samples":
        if model is None:
            raise ValueError("corpus 'model-samples' needs the model")
        return model_samples(model, tok, n_tokens=n_tokens, seed=seed), f"model-samples (seed {seed}, top-k 40)"
    if source.startswith("hf:"):
        import datasets  # optional dependency

        name, *rest = source[3:].split(":")
        ds = datasets.load_dataset(name, rest[0] if rest else None, split=rest[1] if len(rest) > 1 else "train")
        return [t for t in ds["text"] if t.strip()], source
    path = Path(source)
    if path.exists():
        docs = [d.strip() for d in path.read_text(encoding="utf-8").split("\n\n") if d.strip()]
        return docs, f"file {path}"
    raise ValueError(f"unknown corpus {source!r}: use 'auto', 'wikitext2', 'model-samples', "
                     "'hf:<dataset>[:<config>]' or a path to a text file")
