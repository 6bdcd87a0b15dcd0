"""ipywidgets views over run folders: the layer x dimension trade-off explorer.

``TradeoffExplorer(run_dir, compare_dir=None)`` shows layer and dimension sliders and a clickable
heatmap (a grid of buttons coloured by quality, so it works in JupyterLab with ipywidgets alone).
For the chosen cell it shows the metrics, measured latency, bytes per vector, quality retained
against the full model (and the same cell of a second run), the cosine similarity of a few
example pairs encoded at that cell by the run's ``model/``, and an "Export this cell" button
that writes a standalone cut model with ``workbench.models.export.export_cut``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import ipywidgets as W
import pandas as pd

from workbench.reports.cuts_widget import CutsPanel
from workbench.runs.compare import RunView, load_run, quality_column

_NOT_METRICS = ("layer", "dim", "status", "diagnosis", "quality_retained")
"""Grid columns that are not per-cell measurements (retained is recomputed here)."""
DEFAULT_PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 1.0),
    ("A plane is taking off.", "An air plane is taking off.", 1.0),
    ("A woman is slicing an onion.", "A man is playing a flute.", 0.0),
]


def _example_pairs(run: RunView, n: int = 4) -> list[tuple[str, str, float | None]]:
    """Pairs (text, text, gold label) from the evaluation examples kept in metrics.json."""
    evalset = run.datasets.get("eval")
    pairs = evalset.labelled_pairs() if evalset is not None else []
    return pairs[:n] or DEFAULT_PAIRS


def _colour(value: float, lo: float, hi: float) -> str:
    """Viridis hex colour of ``value`` on [lo, hi] (grey for NaN)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if not math.isfinite(value):
        return "#bbbbbb"
    return to_hex(colormaps["viridis"]((value - lo) / (hi - lo) if hi > lo else 1.0))


class TradeoffExplorer:
    """Pick a (layer, dim) cell of a run and see what it keeps and costs.

    Args:
        run_dir: a run folder (docs/architecture.md).
        compare_dir: a second run folder shown side by side (same cell).
        pairs: example ``(text, text, gold)`` pairs; default: the run's evaluation examples.
        exporter: ``f(model_dir, layers, dim, out)``; default ``workbench.models.export.export_cut``.

    Example:
        >>> explorer = TradeoffExplorer("runs/2025...-matryoshka_2d-cpu")
        >>> explorer.select(3, 128); explorer.summary(3, 128)["retained"]
    """

    def __init__(self, run_dir: str | Path, compare_dir: str | Path | None = None,
                 pairs: Sequence[tuple[str, str, float | None]] | None = None,
                 exporter: Callable | None = None) -> None:
        self.run = load_run(run_dir)
        if self.run.grid.empty:
            raise ValueError(f"{self.run.path} has no grid.csv rows: nothing to explore")
        self.other = load_run(compare_dir) if compare_dir else None
        self.metric = quality_column(self.run.grid)
        self.layers = sorted(int(x) for x in self.run.grid["layer"].unique())
        self.dims = sorted(int(x) for x in self.run.grid["dim"].unique())
        self.pairs = list(pairs) if pairs is not None else _example_pairs(self.run)
        self.exporter = exporter
        self._embeddings: dict[int, object] | None = None
        self.layer = W.SelectionSlider(options=self.layers, value=self.layers[-1],
                                       description="layers", continuous_update=False)
        self.dim = W.SelectionSlider(options=self.dims, value=self.dims[-1],
                                     description="dims", continuous_update=False)
        self.cells = self._heatmap_buttons()
        self.metrics_html, self.pairs_html, self.status = W.HTML(), W.HTML(), W.HTML()
        self.export_button = W.Button(description="Export this cell", icon="download",
                                      button_style="primary")
        self.export_button.on_click(lambda _: self.export())
        self.layer.observe(lambda _: self.refresh(), names="value")
        self.dim.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    # ---- data -------------------------------------------------------------------------------
    def row(self, layer: int, dim: int, run: RunView | None = None) -> pd.Series | None:
        grid = (run or self.run).grid
        hit = grid[(grid["layer"] == layer) & (grid["dim"] == dim)]
        return hit.iloc[0] if len(hit) else None

    def summary(self, layer: int, dim: int, run: RunView | None = None) -> dict | None:
        """Quality, retained share of the full model, latency and bytes of one cell."""
        run = run or self.run
        row = self.row(layer, dim, run)
        if row is None:
            return None
        full = self.row(int(run.grid["layer"].max()), int(run.grid["dim"].max()), run)
        quality, reference = float(row[self.metric]), float(full[self.metric])
        before = run.grid_before
        if not before.empty and self.metric in before:
            hit = before[(before["layer"] == layer) & (before["dim"] == dim)]
            before = float(hit[self.metric].iloc[0]) if len(hit) else math.nan
        else:
            before = math.nan
        return {"layer": layer, "dim": dim, self.metric: quality, f"{self.metric} before": before,
                "retained": quality / reference if reference else math.nan,
                "latency_ms_per_1k": float(row.get("latency_ms_per_1k", math.nan)),
                "bytes_per_vector": float(row.get("bytes_per_vector", math.nan)),
                **{c: float(row[c]) for c in run.grid.columns
                   if c not in (*_NOT_METRICS, self.metric)
                   and pd.api.types.is_number(row[c])}}

    def pair_scores(self, layer: int, dim: int) -> list[tuple[str, str, float | None, float]]:
        """Cosine similarity of each example pair with the run's model cut to (layer, dim); a
        reranker run: its score with the reranker cut to ``layer`` blocks."""
        import torch

        from workbench.models.bi_encoder import truncate

        if self.run.kind == "cross":
            from workbench.models.cross_encoder import CrossEncoder

            if self._embeddings is None:
                self._embeddings = CrossEncoder.from_pretrained(self.run.model_dir)
            scores = self._embeddings.predict([(a, b) for a, b, _ in self.pairs], layer=layer)
            return [(a, b, gold, float(s)) for (a, b, gold), s in zip(self.pairs, scores, strict=True)]
        if self._embeddings is None:
            from workbench.models.bi_encoder import BiEncoder

            encoder = BiEncoder.from_pretrained(self.run.model_dir)
            texts = [t for a, b, _ in self.pairs for t in (a, b)]
            self._embeddings = encoder.encode_layers(texts, layers=self.layers)
        emb = truncate(self._embeddings[layer], dim, normalize=True)
        scores = (emb[0::2] * emb[1::2]).sum(-1)
        return [(a, b, gold, float(s)) for (a, b, gold), s in zip(self.pairs, torch.unbind(scores),
                                                                    strict=True)]

    # ---- view -------------------------------------------------------------------------------
    def _heatmap_buttons(self) -> dict[tuple[int, int], W.Button]:
        values = self.run.grid[self.metric].astype(float)
        lo, hi = float(values.min()), float(values.max())
        cells = {}
        for layer in self.layers:
            for dim in self.dims:
                row = self.row(layer, dim)
                value = float(row[self.metric]) if row is not None else math.nan
                button = W.Button(description=f"{value:.3f}",
                                  tooltip=f"layer {layer}, {dim} dims: {self.metric} {value:.4f}",
                                  layout=W.Layout(width="72px", height="30px"))
                button.style.button_color = _colour(value, lo, hi)
                button.style.text_color = "white"
                button.on_click(lambda _, c=(layer, dim): self.select(*c))
                cells[(layer, dim)] = button
        return cells

    def select(self, layer: int, dim: int) -> None:
        """Choose a cell (what a heatmap click does)."""
        self.layer.value, self.dim.value = layer, dim
        self.refresh()

    def refresh(self) -> None:
        layer, dim = int(self.layer.value), int(self.dim.value)
        for (l_, d_), button in self.cells.items():
            button.layout.border = "3px solid #e4572e" if (l_, d_) == (layer, dim) else ""
        self.metrics_html.value = self._metrics_html(layer, dim)
        self.pairs_html.value = self._pairs_html(layer, dim)

    def _metrics_html(self, layer: int, dim: int) -> str:
        runs = [self.run] + ([self.other] if self.other else [])
        summaries = [self.summary(layer, dim, r) for r in runs]
        keys = list(dict.fromkeys(k for s in summaries if s for k in s if k not in ("layer", "dim")))
        head = "".join(f"<th>{html.escape(r.name)}</th>" for r in runs)
        body = "".join(
            f"<tr><td>{k}</td>" + "".join(f"<td>{_fmt(k, s.get(k) if s else None)}</td>"
                                          for s in summaries) + "</tr>" for k in keys)
        return (f"<b>layer {layer} of {self.layers[-1]}, {dim} of {self.dims[-1]} dims</b>"
                f"<table><tr><th>metric</th>{head}</tr>{body}</table>")

    def _pairs_html(self, layer: int, dim: int) -> str:
        rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                       f"<td>{_fmt('gold', gold)}</td><td><b>{score:.3f}</b></td></tr>"
                       for a, b, gold, score in self.pair_scores(layer, dim))
        score = "reranker score" if self.run.kind == "cross" else "cosine"
        return (f"<b>Example pairs at this cell ({score})</b><table><tr><th>text 1</th>"
                f"<th>text 2</th><th>gold</th><th>{score}</th></tr>{rows}</table>")

    def export(self) -> Path | None:
        """Write the chosen cell as a standalone model under ``<run>/exports/``."""
        layer, dim = int(self.layer.value), int(self.dim.value)
        out = self.run.path / "exports" / f"L{layer}-d{dim}"
        exporter = self.exporter
        if exporter is None:
            from workbench.models.export import export_cut as exporter
        self.status.value = f"exporting layer {layer}, {dim} dims ..."
        try:
            result = exporter(self.run.model_dir, layer, dim, out)
        except Exception as err:  # noqa: BLE001 - shown to the user in the widget
            self.status.value = f"<span style='color:#c00'>export failed: {html.escape(str(err))}</span>"
            return None
        text = result.summary() if hasattr(result, "summary") else str(out)
        self.status.value = f"exported to <code>{html.escape(str(out))}</code>: {html.escape(text)}"
        return out

    @property
    def widget(self) -> W.Widget:
        grid = W.GridBox(
            [W.HTML("<b>layer \\ dim</b>"), *(W.HTML(f"<b>{d}</b>") for d in self.dims)]
            + [w for layer in reversed(self.layers)
               for w in (W.HTML(f"<b>{layer}</b>"), *(self.cells[(layer, d)] for d in self.dims))],
            layout=W.Layout(grid_template_columns=f"96px repeat({len(self.dims)}, 76px)",
                            flex="0 0 auto"))
        title = W.HTML(f"<h3>{html.escape(self.run.name)}: {self.metric} per layer × dim</h3>")
        controls = W.VBox([self.layer, self.dim, self.export_button])
        notes = [W.HTML(f"<p style='color:#c00'>⚠ {html.escape(run.name)}: "
                        f"{html.escape(run.record_note)}</p>")
                 for run in (self.run, self.other) if run is not None and run.record_note]
        cuts = self.run.path / "cuts.csv"  # task x precision cells (workbench.reports.cuts_widget)
        extra = [CutsPanel(cuts).widget] if cuts.is_file() else []
        return W.VBox([title, *notes, W.HBox([grid, controls]), self.status, self.metrics_html,
                       self.pairs_html, *extra])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _fmt(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if key == "retained":
        return f"{value:.1%}"
    if key.startswith("bytes"):
        return f"{int(value):,}"
    if key.startswith("latency"):
        return f"{value:.1f} ms / 1k"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))
