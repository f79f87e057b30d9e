"""Generic text for covariance statistics (and held-out perplexity), cut into token windows.

Sources (``source`` argument):
- ``"wikitext2"``: WikiText-2 (validation split) from a data directory
  (``$EDITLIB_DATA``, the cache, or its pinned download: :mod:`editlib.base.datafiles`), de-tokenized: `` @-@ ``→``-``,
  `` @,@ ``→``,``, `` @.@ ``→``.``, no space before punctuation, ``<unk>`` dropped.
- a path to a ``.txt`` file (one document per blank-line-separated block);
- ``"hf:<dataset>[:<config>[:<split>]]"``: a Hugging Face dataset's ``text`` column (needs
  the ``datasets`` package and the hub);
- ``"model-samples"``: text the model writes itself (seeded sampling), needs nothing;
- ``"auto"``: WikiText-2 when it is on disk or can be downloaded, else model samples (with a
  warning: the numbers then differ from the committed figures).

:func:`resolve_corpus` turns a source into a :class:`Corpus`: what "auto" resolved to,
and an identity for cache keys (a file's SHA-256; for model samples the model's
fingerprint, tokenizer and seed), so statistics computed from one corpus are never
read back for another.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ...base.cache import atomic_write_json, load_cached, stable_key
from ...base.datafiles import file_sha256, locate, where_looked
from ...base.errors import HyperparameterError
from ...base.paths import cache_dir
from ...base.seeding import seeded
from ..model.architectures import input_device, model_devices
from ..model.prompts import encode_left

WIKITEXT_FILE = "wikitext2_valid.txt"


def find_data_file(name: str) -> Path | None:
    """A data file from ``$EDITLIB_DATA``, the cache or its pinned download
    (:func:`editlib.base.datafiles.locate`); ``None`` when none has it."""
    found = locate(name)
    return None if found is None else found.path


def _without_wikitext(what: str) -> None:
    warnings.warn(f"{what}: {WIKITEXT_FILE} is not on disk and could not be downloaded, so the text is the model's own "
                  "samples; the numbers will not match the committed figures (made with WikiText-2). Set EDITLIB_DATA "
                  "or go online to use WikiText-2.", stacklevel=3)


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


SAMPLE_LENGTH = 128


def _samples_identity(model, tok, n_tokens: int, seed: int, length: int = SAMPLE_LENGTH) -> dict:
    from ..model.fingerprint import tokenizer_fingerprint, weights_fingerprint

    return {"source": "model-samples", "weights": weights_fingerprint(model), "tokenizer": tokenizer_fingerprint(tok),
            "n_docs": -(-n_tokens // length), "length": length, "seed": seed, "top_k": 40,
            "device": input_device(model).type}


def model_samples(model, tok, n_tokens: int = 20_000, length: int = SAMPLE_LENGTH, seed: int = 0,
                  batch: int = 32) -> list[str]:
    """Seeded samples from the model itself (top-k 40), about ``n_tokens`` in all, cached
    on disk under the model's content fingerprint."""
    ident = _samples_identity(model, tok, n_tokens, seed, length)
    n_docs = ident["n_docs"]
    path = cache_dir("corpora") / f"samples-{stable_key(**ident)}.json"
    cached = load_cached(path, check=lambda d: isinstance(d, list) and len(d) == n_docs)
    if cached is not None:
        return cached
    device = input_device(model)
    starts = ["The", "In", "A", "It", "He", "She", "This", "On", "After", "When", "There", "According to"]
    docs = []
    with seeded(seed, model_devices(model)):
        for i in tqdm(range(0, n_docs, batch), desc="sampling a corpus from the model", leave=False):
            prompts = [starts[(i + j) % len(starts)] for j in range(min(batch, n_docs - i))]
            enc = encode_left(tok, prompts, device)
            out = model.generate(**enc, max_new_tokens=length, do_sample=True, top_k=40,
                                 pad_token_id=tok.pad_token_id)
            docs += tok.batch_decode(out, skip_special_tokens=True)
    atomic_write_json(docs, path)
    return docs


@dataclass(frozen=True)
class Corpus:
    """A corpus source resolved to what it is."""

    source: str               # "wikitext2", "model-samples", "hf:<dataset>..." or "file"
    description: str          # recorded with every result
    identity: dict = field(default_factory=dict)   # what cache keys hold
    path: Path | None = None


def resolve_corpus(source: str, model=None, tok=None, seed: int = 0, n_tokens: int = 20_000) -> Corpus:
    """Resolve ``source`` ("auto" included) and identify it by content; raises a
    :class:`~editlib.base.errors.HyperparameterError` naming the problem when it cannot be used."""
    if not isinstance(source, str) or not source:
        raise HyperparameterError(f"mom2_dataset must be a corpus name or path, not {source!r}")
    if source == "auto":
        source = "wikitext2" if find_data_file(WIKITEXT_FILE) else "model-samples"
        if source == "model-samples":
            _without_wikitext("mom2_dataset 'auto'")
    if source == "wikitext2":
        path = find_data_file(WIKITEXT_FILE)
        if path is None:
            raise HyperparameterError(
                f"mom2_dataset 'wikitext2': {WIKITEXT_FILE} not found in {where_looked()}; "
                "set EDITLIB_DATA to a folder that holds it, or use mom2_dataset='model-samples'")
        return Corpus("wikitext2", f"wikitext2 ({path.name}, detokenized, <unk> dropped)",
                      {"source": "wikitext2", "sha256": file_sha256(path)}, path)
    if source == "model-samples":
        if model is None or tok is None:
            raise HyperparameterError("corpus 'model-samples' needs the model and its tokenizer")
        return Corpus("model-samples", f"model-samples (seed {seed}, top-k 40)",
                      _samples_identity(model, tok, n_tokens, seed))
    if source.startswith("hf:"):
        return Corpus(source, source, {"source": source})   # identified by name: the hub's copy
    path = Path(source).expanduser()
    if path.is_file():
        return Corpus("file", f"file {path}", {"source": "file", "sha256": file_sha256(path)}, path)
    if path.exists():
        raise HyperparameterError(f"mom2_dataset {source!r} is a directory; pass a text file")
    raise HyperparameterError(f"unknown corpus {source!r} (no such file): use 'auto', 'wikitext2', "
                              "'model-samples', 'hf:<dataset>[:<config>[:<split>]]' or a path to a text file")


def corpus_documents(corpus: Corpus, model=None, tok=None, seed: int = 0, n_tokens: int = 20_000) -> list[str]:
    """The documents of a resolved corpus."""
    if corpus.source == "wikitext2":
        return wikitext_documents(corpus.path)
    if corpus.source == "model-samples":
        return model_samples(model, tok, n_tokens=n_tokens, seed=seed)
    if corpus.source.startswith("hf:"):
        import datasets  # optional dependency

        name, *rest = corpus.source[3:].split(":")
        ds = datasets.load_dataset(name, rest[0] if rest else None, split=rest[1] if len(rest) > 1 else "train")
        return [t for t in ds["text"] if t.strip()]
    return [d.strip() for d in corpus.path.read_text(encoding="utf-8").split("\n\n") if d.strip()]


# ------------------------------------------------------------------ token windows

def token_windows(tok, docs, n_tokens: int, seq_len: int, docs_per_call: int = 64) -> list[list[int]]:
    """Windows of ≤ ``seq_len`` tokens cut from each document in turn (windows under 8
    tokens skipped) until ``n_tokens`` are collected; documents are tokenised in batches."""
    windows, got = [], 0
    for i in range(0, len(docs), docs_per_call):
        for ids in tok(list(docs[i:i + docs_per_call]))["input_ids"]:
            for j in range(0, len(ids), seq_len):
                w = ids[j:j + seq_len]
                if len(w) < 8:
                    continue
                w = w[: n_tokens - got]
                windows.append(w)
                got += len(w)
                if got >= n_tokens:
                    return windows
    return windows


def length_batches(windows: list[list[int]], batch_tokens: int) -> list[list[int]]:
    """Indices of ``windows`` in batches: longest first, each batch's rows × its longest
    window ≤ ``batch_tokens`` (a window longer than the budget gets a batch of its own)."""
    order = sorted(range(len(windows)), key=lambda i: (-len(windows[i]), i))
    batches, cur = [], []
    for i in order:
        if cur and (len(cur) + 1) * len(windows[cur[0]]) > batch_tokens:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches
