"""Captions templated from the attributes, in the style of the paper's prompts, plus the training mix.

Every full caption names every attribute with the same phrase that the planner uses as a concept prompt
(scm.json `phrases`), so a concept prompt alone ("wet road") is something the model has seen. Training also
draws random subsets of phrases, single phrases included, and ~10 % dropped captions (fed as zero embeddings,
as SDXL pipelines feed the unconditional branch).
"""

from __future__ import annotations

import numpy as np

from .scm import Scm

TEMPLATES = (
    "a {car_color} on a {road} on a {weather} {season} {time_of_day}, {sky}, {foliage}, "
    "a person with {umbrella}, {lamp}",
    "a street at {time_of_day} in {season}: {weather}, {sky}, a {foliage}, a {lamp}, a {car_color} "
    "on a {road}, a person with {umbrella}",
    "{sky} over a street, {weather}, {season}, {time_of_day}, {foliage}, {lamp}, a person with {umbrella}, "
    "{car_color}, {road}",
)

DROP_P = 0.1
FULL_P = 0.45


def phrases(scm: Scm, attributes: dict[str, str]) -> dict[str, str]:
    return {a.id: a.phrases[attributes[a.id]] for a in scm.attributes}


def caption(scm: Scm, attributes: dict[str, str], phrasing: int = 0) -> str:
    p = phrases(scm, attributes)
    # "a person with no umbrella" / "an open umbrella" read naturally with an article only for "open".
    p["umbrella"] = "an open umbrella" if attributes["umbrella"] == "open" else "no umbrella"
    return TEMPLATES[phrasing % len(TEMPLATES)].format(**p)


def training_caption(scm: Scm, attributes: dict[str, str], rng: np.random.Generator) -> str:
    r = rng.uniform()
    if r < DROP_P:
        return ""
    if r < DROP_P + FULL_P:
        return caption(scm, attributes, int(rng.integers(len(TEMPLATES))))
    p = list(phrases(scm, attributes).values())
    k = int(rng.integers(1, 6))
    pick = rng.permutation(len(p))[:k]
    return ", ".join(p[i] for i in pick)
