"""Build synthetic-but-realistic run folders (docs/architecture.md schema) for card, widget and
comparison tests. The bi-encoder model is a real (tiny, random) saved BiEncoder, so widgets can
encode with it; the grid and metrics are hand-made numbers shaped like a real run's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workbench.training import TrainConfig

STSB_EVAL = [
    {"sentence1": "A man with a hard hat is dancing.",
     "sentence2": "A man wearing a hard hat is dancing.", "score": 1.0},
    {"sentence1": "A young child is riding a horse.", "sentence2": "A child is riding a horse.",
     "score": 0.95},
    {"sentence1": "A man is feeding a mouse to a snake.",
     "sentence2": "The man is feeding a mouse to the snake.", "score": 1.0},
    {"sentence1": "A woman is playing the guitar.", "sentence2": "A man is playing guitar.",
     "score": 0.48},
    {"sentence1": "A woman is playing the flute.", "sentence2": "A man is playing a flute.",
     "score": 0.5},
]
STSB_TRAIN = [
    {"sentence1": "A plane is taking off.", "sentence2": "An air plane is taking off.",
     "score": 1.0},
    {"sentence1": "A man is playing a large flute.", "sentence2": "A man is playing a flute.",
     "score": 0.76},
    {"sentence1": "A cat is on the table.", "sentence2": "Two dogs run in the park.", "score": 0.0},
]
SIM = [f"{c}_{m}" for m in ("cosine", "manhattan", "euclidean", "dot", "max")
       for c in ("pearson", "spearman")]
def _grid(layers: int, dims: list[int], degenerate: bool, shift: float = 0.0) -> pd.DataFrame:
    rows = []
    for layer in range(1, layers + 1):
        for dim in dims:
            q = 0.01 if degenerate else 0.55 + 0.1 * layer / layers + 0.05 * dim / dims[0]
            rows.append({"layer": layer, "dim": dim, "spearman_cosine": q + shift,
                         "pearson_cosine": q - 0.01 + shift, "latency_ms_per_1k": 40.0 * layer,
                         "bytes_per_vector": 4 * dim, "status": "ok"})
    return pd.DataFrame(rows)


def _cross_grid(layers: int, dim: int, shift: float = 0.0) -> pd.DataFrame:
    """Per-layer reranker grid as ``reranker_grid`` writes it: one dim, no bytes per vector."""
    return pd.DataFrame([{"layer": k, "dim": dim, "pearson": 0.3 + 0.1 * k + shift,
                          "spearman": 0.3 + 0.1 * k + shift, "accuracy_at_0.5": 0.6 + 0.1 * k,
                          "latency_ms_per_1k": 30.0 * k, "bytes_per_vector": float("nan"),
                          "status": "ok"} for k in range(1, layers + 1)])


def _metrics(kind: str, degenerate: bool) -> dict[str, float]:
    if kind == "cross":
        return {"stsb-validation_pearson": 0.61, "stsb-validation_spearman": 0.6,
                "stsb-test_pearson": 0.55, "stsb-test_spearman": 0.54}
    value = None if degenerate else 0.8
    return {f"{split}_{m}": None if value is None else value - 0.01 * i for split in ("sts-dev", "sts-test")
            for i, m in enumerate(SIM)}


def _write_model(folder: Path, model_dir: Path, kind: str) -> None:
    from workbench.models.bi_encoder import BiEncoder

    if kind == "bi":
        BiEncoder.from_pretrained(model_dir).save(folder)
    else:
        import shutil

        shutil.copytree(model_dir, folder, dirs_exist_ok=True)


def _datasets() -> dict:
    from datasets import Dataset

    from workbench.recipes.artifacts import dataset_summary

    return {"train": dataset_summary(Dataset.from_list(STSB_TRAIN), "sentence-transformers/stsb",
                                     "train"),
            "eval": dataset_summary(Dataset.from_list(STSB_EVAL), "sentence-transformers/stsb",
                                    "validation")}


def _loss(kind: str, dims: list[int]) -> dict:
    from workbench.losses import LOSSES
    from workbench.recipes.artifacts import loss_summary

    if kind == "cross":
        return {"name": "BinaryCrossEntropyLoss", "config": {"pos_weight": None},
                "citations": [LOSSES["BinaryCrossEntropyLoss"].citation]}
    loss = LOSSES["Matryoshka2dLoss"](None, LOSSES["CoSENTLoss"](None), matryoshka_dims=dims)
    return loss_summary(loss)


def make_run_folder(root: Path, model_dir: Path, kind: str = "bi", degenerate: bool = False,
                    name: str = "20250101-000000-matryoshka_2d-smoke", shift: float = 0.0,
                    params: dict | None = None) -> Path:
    """A complete run folder under ``root`` (model/ is ``model_dir`` saved in the ST layout)."""
    run = root / name
    run.mkdir(parents=True)
    _write_model(run / "model", model_dir, kind)
    config = json.loads((model_dir / "config.json").read_text())
    layers, dim = config["num_hidden_layers"], config["hidden_size"]
    dims = [dim, dim // 2, dim // 4]
    grid = _grid(layers, dims, degenerate, shift) if kind == "bi" else _cross_grid(layers, dim)
    grid.to_csv(run / "grid.csv", index=False)
    before = _grid(layers, dims, False, -0.2) if kind == "bi" else _cross_grid(layers, dim, -0.3)
    before.to_csv(run / "grid_before.csv", index=False)
    loss_value = 5.2666 if degenerate else None
    log = pd.DataFrame([{"Epoch": e / 4, "Step": 5 * e, "Training Loss": loss_value or 3.0 - 0.2 * e,
                         "Validation Loss": float("nan") if e % 2 else 2.5,
                         "sts-dev_spearman_cosine": float("nan") if e % 2 else 0.7}
                        for e in range(1, 5)])
    log.to_csv(run / "train_log.csv", index=False)
    parameters = {"model": str(model_dir), "num_train_epochs": 1, "learning_rate": 2e-5,
                  "per_device_train_batch_size": 16, "seed": 12, "max_train_samples": 40,
                  "matryoshka_dims": dims, **(params or {})}
    info = {
        "experiment": "bce_reranker" if kind == "cross" else "matryoshka_2d", "preset": "smoke",
        "parameters": parameters, "metrics": _metrics(kind, degenerate),
        "grid_before": [], "grid_after": grid.to_dict("records"),
        "health": {"status": "degenerate" if degenerate else "ok",
                   "diagnosis": "embeddings collapsed: every vector is the same and the loss "
                                "stayed flat at 5.2666" if degenerate else None},
        "training": {"seconds": 12.5, "rows_per_s": 3.2, "steps": 20, "rows": 40,
                     "hyperparameters": TrainConfig(num_train_epochs=1, learning_rate=2e-5,
                                                    seed=12).to_card_dict()},
        "emissions": {"status": "ok", "energy_kwh": 0.0031, "emissions_kg": 0.0012,
                      "duration_s": 12.5, "hours": 12.5 / 3600, "cpu_model": "AMD EPYC 7B13",
                      "gpu_model": None, "gpu_count": None, "ram_gb": 15.6, "country": "USA",
                      "on_cloud": "N"},
        "versions": {"Python": "3.11.9", "Transformers": "4.57.0", "PyTorch": "2.13.0"},
        "model": {"base_model": "prajjwal1/bert-tiny", "kind": kind, "num_layers": layers,
                  "dim": dim},
        "datasets": _datasets(), "loss": _loss(kind, dims),
    }
    (run / "metrics.json").write_text(json.dumps(info, indent=2))
    return run
