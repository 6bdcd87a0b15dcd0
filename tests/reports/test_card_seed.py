"""Seed check: a card rendered from a real smoke run has seed card 002's headings and YAML keys.

Seed 002 is stored flattened (one line), so its headings are found as '#'-markers outside code
blocks and matched against the rendered card's headings; its YAML keys as ``key:`` tokens of the
front matter. The card may add only the workbench's own trade-off section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SEED_002 = SEEDS / "002_2f01f10572927a96.txt"
WORKBENCH_EXTRAS = {(4, "Layer × Dimension Trade-off"),
                    (4, "Cuts: every task, layer, dimension and precision")}
"""Headings the workbench adds to the seed layout (the layer x dim table, the cuts table)."""


def card_headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every Markdown heading outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#{1,6}) (.+?)\s*$", line)):
            out.append((len(m.group(1)), m.group(2)))
    return out


def seed_headings(flat: str, known: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Headings of a flattened card: each '#'-marker outside code blocks, titled by the longest
    known title it starts with (unknown ones keep their first five words, so they fail)."""
    body = re.sub(r"```.*?```", " ", flat.split("---", 2)[2], flags=re.S)
    found = []
    for m in re.finditer(r"(?:^|\s)(#{1,6}) ", body):
        level, rest = len(m.group(1)), body[m.end():]
        titles = sorted((t for lv, t in known if lv == level and rest.startswith(t)), key=len)
        found.append((level, titles[-1] if titles else " ".join(rest.split()[:5])))
    return found


def yaml_keys_flat(flat: str) -> set[str]:
    """Every mapping key of a flattened YAML front matter."""
    front = flat.split("---", 2)[1]
    return set(re.findall(r"(?:^|\s)([A-Za-z_][\w-]*):(?=\s)", front))


def yaml_keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in yaml_keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in yaml_keys(v)}
    return set()


@pytest.fixture(scope="module")
def smoke_card(tmp_path_factory) -> Path:
    """README.md of a real ``matryoshka_2d`` smoke run (emissions tracked, as in the seeds)."""
    from workbench.reports.cards import write_card
    from workbench.runs import execute as runs

    run_dir = runs.execute("matryoshka_2d", "smoke", overrides={"track_emissions": True},
                           out=tmp_path_factory.mktemp("runs") / "smoke", progress=False)
    return write_card(run_dir)


def generic(headings: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The title names the base model; keep its model type only ("SentenceTransformer")."""
    return [(lv, t.split(" based on ")[0] if lv == 1 else t) for lv, t in headings]


@pytest.mark.slow
def test_smoke_card_has_seed_002_headings_in_order(smoke_card):
    card = card_headings(smoke_card.read_text())
    seed = seed_headings(SEED_002.read_text(), card)
    assert generic([h for h in card if h not in WORKBENCH_EXTRAS]) == generic(seed)
    assert (1, "SentenceTransformer based on tiny-bert") in card
    assert seed.count((4, "Semantic Similarity")) == 2  # sts-dev and sts-test, as in the seed


@pytest.mark.slow
def test_smoke_card_has_seed_002_yaml_keys(smoke_card):
    meta = yaml.safe_load(smoke_card.read_text().split("---\n")[1])
    ours = yaml_keys(meta)
    seed = yaml_keys_flat(SEED_002.read_text())
    assert seed <= ours, f"keys of seed 002 missing from the card: {sorted(seed - ours)}"
    others = set().union(*(yaml_keys_flat(p.read_text()) for p in SEEDS.glob("00*.txt")))
    assert ours - seed <= others | {"gpu_model"}, f"keys no seed has: {sorted(ours - others)}"
    card = ModelCard.load(smoke_card)
    assert len(card.data.eval_results) == 20


def test_seed_parsers_read_the_flattened_seed():
    flat = SEED_002.read_text()
    keys = yaml_keys_flat(flat)
    assert {"language", "co2_eq_emissions", "model-index", "source_sentence", "value"} <= keys
    assert "loss" not in keys  # 'loss:Matryoshka2dLoss' is a tag, not a key
    known = [(1, "SentenceTransformer based on distilbert/distilbert-base-uncased"),
             (2, "Model Details"), (3, "Model Description")]
    heads = seed_headings(flat, known)
    assert heads[:3] == known
    assert (3, "Full Model Architecture ``` SentenceTransformer(") not in heads
    assert len(heads) == 29  # counted by hand in the seed
