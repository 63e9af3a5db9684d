"""Domains of the real data, as leave-one-domain-out folds: train on the others, test on one.

Domain sets:
- "text": the three text corpora, three domains of writing: VADER movie-review sentences, VADER
  Amazon product-review sentences, MELD TV-dialogue utterances (labels as their readers give
  them: VADER's mean rating x 0.75, MELD's polarity -1/0/+1, all on the MOSI scale).
  Fold "movie": train on the train splits of amazon + MELD, select on their valid splits, test
  on every row of the movie corpus (its train, valid and test splits: none of it was seen).
- "speakers": EmoDB's ten actors in five groups of one man and one woman (m 03 10 11 12 15,
  f 08 09 13 14 16 paired in that order). Fold k tests on group k, selects on group k+1
  (cyclically) and trains on the other three, so no voice is in two roles.

`max_test` caps the held-out rows by a seeded random subset (the same rows for every model
scored with the same seed): the movie and MELD domains hold about 10,000 rows each, which a
MiniLM-based model on two CPU cores needs minutes to score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec

DOMAIN_SETS = ("text", "speakers")
TEXT_DOMAINS = ("movie", "amazon", "meld")
SPEAKER_GROUPS = (("03", "08"), ("10", "09"), ("11", "13"), ("12", "14"), ("15", "16"))


@dataclass
class Fold:
    held_out: str  # the domain scored: "movie", "03+08", ...
    train: MSAData
    valid: MSAData  # checkpoint selection: rows of the training domains only
    test: MSAData  # the held-out domain


def seeded_subset(data: MSAData, n: int | None, seed: int) -> MSAData:
    """A seeded random subset of `n` rows in their original order (all rows when n is None or larger)."""
    if n is None or n >= len(data):
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False)))


def text_domains(path: str | Path, spec: FeatureSpec, seed: int = 0) -> dict[str, dict[str, MSAData]]:
    """{"movie", "amazon", "meld"} -> that corpus's splits (VADER hashed with `seed`, MELD train/dev)."""
    from edge_msa.data.corpora import load_meld, load_vader

    domains = {c: load_vader(path, spec, corpus=c, seed=seed) for c in ("movie", "amazon")}
    return domains | {"meld": load_meld(path, spec)}


def text_folds(path: str | Path, spec: FeatureSpec, seed: int = 0, max_test: int | None = None) -> list[Fold]:
    domains = text_domains(path, spec, seed)
    folds = []
    for held_out in TEXT_DOMAINS:
        others = [domains[d] for d in TEXT_DOMAINS if d != held_out]
        test = MSAData.concat(list(domains[held_out].values()))
        folds.append(Fold(held_out, MSAData.concat([d["train"] for d in others]),
                          MSAData.concat([d["valid"] for d in others]), seeded_subset(test, max_test, seed)))
    return folds


def speaker_folds(path: str | Path, spec: FeatureSpec, seed: int = 0,
                  max_test: int | None = None) -> list[Fold]:
    from edge_msa.data.emodb import load_emodb

    rows = MSAData.concat(list(load_emodb(path, spec).values()))
    speaker = np.array([i[:2] for i in rows.ids])  # EmoDB ids start with the speaker number
    n = len(SPEAKER_GROUPS)

    def group(k: int) -> MSAData:
        return rows.subset(np.flatnonzero(np.isin(speaker, SPEAKER_GROUPS[k % n])))

    folds = []
    for k, held_out in enumerate(SPEAKER_GROUPS):
        train = MSAData.concat([group(j) for j in range(n) if j not in (k, (k + 1) % n)])
        folds.append(Fold("+".join(held_out), train, group(k + 1), seeded_subset(group(k), max_test, seed)))
    return folds


def domain_folds(domains: str, path: str | Path, spec: FeatureSpec, seed: int = 0,
                 max_test: int | None = None) -> list[Fold]:
    """The leave-one-domain-out folds of domain set `domains` ("text" or "speakers")."""
    if domains not in DOMAIN_SETS:
        raise UserError(f"unknown domain set {domains!r}; expected one of {', '.join(DOMAIN_SETS)}")
    if max_test is not None and max_test < 1:
        raise UserError("the held-out row cap must be at least 1")
    if not Path(path).exists():
        raise UserError(f"data path {path} does not exist (point --data at the shared data folder)")
    make = text_folds if domains == "text" else speaker_folds
    return make(path, spec, seed=seed, max_test=max_test)


def domain_set_of(dataset: str | None) -> str | None:
    """The domain set a dataset belongs to: the text corpora -> "text", EmoDB -> "speakers"."""
    if dataset in ("vader", "vader-movie", "vader-amazon", "meld"):
        return "text"
    return "speakers" if dataset == "emodb" else None
