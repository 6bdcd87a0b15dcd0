"""Model cards in the seed cards' layout, written from a run folder's files.

``write_card(run_dir)`` reads ``metrics.json``, ``grid.csv`` and ``train_log.csv`` (see
docs/architecture.md) and renders ``templates/card.md.j2`` to ``README.md``: YAML front matter
with ``model-index`` (finite metrics only; none for a degenerate run), then the sentence-transformers
card body. A run whose health is ``degenerate`` or ``warning``, or whose metrics hold NaN, gets a
warning with the diagnosis at the top; collapsed layers are named and marked in the grid table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from workbench.reports import card_tables as tables
from workbench.reports.card_health import (
    collapsed_layers,
    degenerate_diagnosis,
    health_level,
    health_reasons,
    is_finite,
    layers_note,
)
from workbench.runs.compare import RunView, cheapest_within, load_run
from workbench.runs.schema import Emissions, from_dict

TEMPLATE_DIR = Path(__file__).parent / "templates"
ST_DOCS = "https://sbert.net/docs/package_reference"
_SIM = [f"{c}_{m}" for m in ("cosine", "manhattan", "euclidean", "dot", "max")
        for c in ("pearson", "spearman")]
_BIN = [f"{m}_{s}" for m in ("cosine", "dot", "manhattan", "euclidean", "max")
        for s in ("accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall",
                  "ap", "mcc")]
TASKS = {  # task type -> (title, evaluator, doc anchor, metric names, primary metric candidates)
    "semantic-similarity": ("Semantic Similarity", "EmbeddingSimilarityEvaluator",
                            "evaluation.html#sentence_transformers.evaluation.EmbeddingSimilarityEvaluator",
                            _SIM, ("spearman_cosine",)),
    "binary-classification": ("Binary Classification", "BinaryClassificationEvaluator",
                              "evaluation.html#sentence_transformers.evaluation.BinaryClassificationEvaluator",
                              _BIN, ("max_ap", "cosine_ap")),
    "cross-encoder-correlation": ("Cross Encoder Correlation", "CECorrelationEvaluator",
                                  "cross_encoder/evaluation.html#sentence_transformers.cross_encoder.evaluation.CECorrelationEvaluator",
                                  ["pearson", "spearman"], ("spearman",)),
    "cross-encoder-reranking": ("Cross Encoder Reranking", "CrossEncoderRerankingEvaluator",
                                "cross_encoder/evaluation.html#sentence_transformers.cross_encoder.evaluation.CrossEncoderRerankingEvaluator",
                                ["map", "mrr@10", "ndcg@10"], ("ndcg@10",)),
}
CROSS_TASKS = ("cross-encoder-correlation", "cross-encoder-reranking")


@dataclass
class Evaluation:
    """The final metrics of one evaluator on one dataset (``sts-dev_spearman_cosine`` & co)."""

    task: str
    dataset: str
    metrics: dict[str, float]

    @property
    def primary(self) -> str | None:
        return next((m for m in TASKS[self.task][4] if m in self.metrics), None)


def split_metric_key(key: str, kind: str = "bi") -> tuple[str, str, str]:
    """``"sts-dev_spearman_cosine"`` -> ``("sts-dev", "spearman_cosine", "semantic-similarity")``."""
    candidates = [(t, m) for t, spec in TASKS.items() for m in spec[3]
                  if (kind == "cross") == (t in CROSS_TASKS)]
    for task, metric in sorted(candidates, key=lambda c: -len(c[1])):
        if key == metric or key.endswith("_" + metric):
            return key[: -len(metric)].rstrip("_") or "unknown", metric, task
    raise ValueError(f"metric '{key}' names no known evaluator metric; known: "
                     f"{sorted({m for _, m in candidates})}")


def group_metrics(metrics: dict[str, float], kind: str = "bi") -> list[Evaluation]:
    """Final metrics grouped by (task, dataset), in the order metrics.json lists them."""
    groups: dict[tuple[str, str], Evaluation] = {}
    for key, value in metrics.items():
        dataset, metric, task = split_metric_key(key, kind)
        groups.setdefault((task, dataset), Evaluation(task, dataset, {}))
        groups[(task, dataset)].metrics[metric] = math.nan if value is None else float(value)
    return list(groups.values())


def base_model(run: RunView) -> str | None:
    """The base model's Hub id (the offline ``minilm-l6`` alias names its Hub id)."""
    from workbench.models.specs import MINILM_ALIAS, MINILM_HUB_ID

    base = (run.info.get("model") or {}).get("base_model")
    return MINILM_HUB_ID if base == MINILM_ALIAS else base


def model_name(run: RunView) -> str:
    prefix = "CrossEncoder" if run.kind == "cross" else "SentenceTransformer"
    base = base_model(run)
    return f"{prefix} based on {base}" if base else prefix


def model_index(run: RunView, evaluations: list[Evaluation]) -> list[dict]:
    """``model-index`` entries holding every finite final metric under its task and dataset."""
    results = []
    for ev in evaluations:
        finite = {m: v for m, v in ev.metrics.items() if is_finite(v)}
        if not finite:
            continue
        results.append({
            "task": {"type": ev.task, "name": TASKS[ev.task][0]},
            "dataset": {"name": ev.dataset.replace("-", " "), "type": ev.dataset},
            "metrics": [{"type": m, "value": v, "name": m.replace("_", " ").title()}
                        for m, v in finite.items()],
        })
    return [{"name": model_name(run), "results": results}] if results else []


def co2_eq_emissions(emissions: Emissions | dict | None) -> dict | None:
    """The training's ``EmissionsMeter`` record (kg, kWh, s) in the card's units (g, kWh, hours);
    None when emissions were not measured."""
    if isinstance(emissions, dict):
        emissions = from_dict(Emissions, emissions) if emissions else None
    if emissions is None or emissions.status != "ok":
        return None
    out = {"emissions": float(emissions.emissions_kg or 0.0) * 1000,
           "energy_consumed": float(emissions.energy_kwh or 0.0),
           "source": "codecarbon", "training_type": "fine-tuning",
           "on_cloud": emissions.on_cloud in (True, "Y", "y", "yes")}
    for key, value in (("cpu_model", emissions.cpu_model), ("gpu_model", emissions.gpu_model),
                       ("ram_total_size", emissions.ram_gb)):
        if value not in (None, ""):
            out[key] = value
    out["hours_used"] = round(float(emissions.duration_s or 0.0) / 3600, 3)
    gpu = emissions.gpu_model
    out["hardware_used"] = (f"{emissions.gpu_count or 1} x {gpu}" if gpu
                            else emissions.cpu_model or "CPU")
    return out


def _citation_names() -> dict[str, list[str]]:
    """BibTeX text -> names of the workbench losses citing it."""
    from workbench.losses import LOSSES

    names: dict[str, list[str]] = {}
    for key, cls in LOSSES.items():
        if key == cls.__name__:
            names.setdefault(cls.citation.strip(), []).append(key)
    return names


def loss_citations(run: RunView) -> dict[str, str]:
    """``{loss name: BibTeX}`` of every loss used, outer wrapper first (the sentence-transformers
    citation, which every card shows anyway, is left out)."""
    from workbench.losses.base import SBERT_CITATION

    loss = run.info.get("loss") or {}
    cites = loss.get("citations") or []
    if isinstance(cites, dict):
        return dict(cites)
    chain = [loss.get("name"), (loss.get("config") or {}).get("loss")]
    known, out = _citation_names(), {}
    for text in cites:
        if text.strip() == SBERT_CITATION.strip():
            continue
        candidates = known.get(text.strip(), [])
        name = next((n for n in candidates if n in chain), None) or next(iter(candidates), None)
        out[name or text.split("{", 1)[-1].split(",", 1)[0]] = text
    return out


def loss_names(run: RunView) -> list[str]:
    loss = run.info.get("loss", {})
    names = [loss.get("name"), *loss_citations(run), (loss.get("config") or {}).get("loss")]
    return [n for n in dict.fromkeys(names) if n]


def front_matter(run: RunView, evaluations: list[Evaluation], level: str) -> dict:
    """The YAML metadata, keys in the seed cards' order."""
    cross = run.kind == "cross"
    train = run.info.get("datasets", {}).get("train", {})
    tags = ["sentence-transformers", *(["cross-encoder", "text-classification"] if cross else
                                       ["sentence-similarity", "feature-extraction"])]
    tags += ["generated_from_trainer", f"dataset_size:{tables.dataset_size(train)}"]
    tags += [f"loss:{n}" for n in loss_names(run)]
    tags += {"degenerate": ["degenerate-run"], "warning": ["health-warning"]}.get(level, [])
    data = {"language": ["en"], "library_name": "sentence-transformers", "tags": tags}
    if base_model(run):
        data["base_model"] = base_model(run)
    names = [d.get("name") for d in run.info.get("datasets", {}).values() if d.get("name")]
    if names:
        data["datasets"] = list(dict.fromkeys(names))
    data["metrics"] = list(dict.fromkeys(m for ev in evaluations for m in ev.metrics))
    if not cross:
        data["widget"] = tables.widget_examples(run.datasets.get("eval"))
    data["pipeline_tag"] = "text-classification" if cross else "sentence-similarity"
    co2 = co2_eq_emissions(run.emissions)
    if co2:
        data["co2_eq_emissions"] = co2
    index = model_index(run, evaluations) if level != "degenerate" else []
    if index:
        data["model-index"] = index
    return {k: v for k, v in data.items() if v not in (None, [], {})}


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def card_context(run: RunView, model_id: str | None = None) -> dict:
    """Everything the template needs, computed from the run folder."""
    evaluations = group_metrics(run.metrics, run.kind)
    diagnosis, level = degenerate_diagnosis(run), health_level(run)
    meta = front_matter(run, evaluations, level)
    usable = run.grid[~run.grid["layer"].isin(collapsed_layers(run))] if not run.grid.empty \
        else run.grid
    best = cheapest_within(usable, 0.05) if not usable.empty and level != "degenerate" else None
    model = run.info.get("model", {})
    datasets = run.info.get("datasets") or {}
    return {
        "run": run, "info": run.info, "kind": run.kind, "diagnosis": diagnosis, "level": level,
        "reasons": health_reasons(run),
        "layers_note": layers_note(run, level, model.get("num_layers")),
        "model": {"max_seq_length": tables.max_seq_length(run.model_dir),
                  **run.info.get("model", {}), "base_model": base_model(run)},
        "train": datasets.get("train") or {}, "evalset": datasets.get("eval") or {},
        "training": run.info.get("training") or {}, "versions": run.info.get("versions") or {},
        "loss": run.info.get("loss") or {"name": "unknown"},
        "front_matter": _yaml(meta), "meta": meta, "title": model_name(run),
        "model_id": model_id or f"{run.name}/model", "evaluations": evaluations,
        "tasks": TASKS, "st_docs": ST_DOCS, "loss_names": loss_names(run),
        "citations": loss_citations(run), "best": best,
        "eval_tables": tables.evaluation_tables(evaluations, run.kind),
        "grid_table": "" if run.grid.empty else tables.reranker_table(run.grid, run.grid_before)
        if run.kind == "cross" else tables.grid_table(run.grid, collapsed_layers(run)),
        "cuts_table": _cuts_table(run.path),
        "architecture": tables.architecture(run.model_dir) if run.kind != "cross" else "",
        "hyper": tables.hyperparameters(run), "log_table": tables.train_log_table(run.train_log),
        "co2": meta.get("co2_eq_emissions"), "example_pairs": tables.example_pairs(run.datasets.get("eval")),
    }


def _cuts_table(run_dir: Path) -> str:
    """The card's cuts table from ``cuts.csv`` (empty when the run has none)."""
    import pandas as pd

    from workbench.reports.cuts import cuts_markdown

    path = Path(run_dir) / "cuts.csv"
    return cuts_markdown(pd.read_csv(path)) if path.is_file() else ""


def render_card(run_dir: str | Path, model_id: str | None = None) -> str:
    """The card text for ``run_dir`` (``model_id``: Hub id for the usage snippets)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=False,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(tables.FILTERS)
    return env.get_template("card.md.j2").render(**card_context(load_run(run_dir), model_id))


def write_card(run_dir: str | Path, model_id: str | None = None) -> Path:
    """Render the card and write it to ``run_dir/README.md``; returns that path."""
    path = Path(run_dir) / "README.md"
    path.write_text(render_card(run_dir, model_id), encoding="utf-8")
    return path
