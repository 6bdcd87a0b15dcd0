"""The cuts panel of the trade-off explorer: task and precision selectors, two-cost Pareto view.

``CutsPanel(table)`` over a cuts table (``cuts.csv``): pick a task and the precisions to show;
the view plots every cell at (encode latency per 1,000 texts, bytes per vector), coloured by the
task's score, rings the cells on the Pareto front of (latency, bytes, score) and names the
cheapest cell keeping ``min retained`` of the full model for each cost (``evaluators.pick``).
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W
import pandas as pd

from workbench.evaluators.pick import pick, read_cuts


def _label(precision: str, rescore: int) -> str:
    return precision + (f" +rescore x{int(rescore)}" if rescore else "")


def pareto_3d(rows: pd.DataFrame) -> pd.DataFrame:
    """Cells no other cell beats on latency, bytes (both lower or equal) and score (higher)."""
    keep = []
    for i, r in rows.iterrows():
        better = rows[(rows["latency_ms_per_1k"] <= r["latency_ms_per_1k"])
                      & (rows["bytes_per_vector"] <= r["bytes_per_vector"])
                      & (rows["score"] >= r["score"])]
        strictly = better[(better["latency_ms_per_1k"] < r["latency_ms_per_1k"])
                          | (better["bytes_per_vector"] < r["bytes_per_vector"])
                          | (better["score"] > r["score"])]
        if strictly.empty:
            keep.append(i)
    return rows.loc[keep]


class CutsPanel:
    """Task and precision selectors over a cuts table, and its latency x bytes Pareto view.

    Example:
        >>> panel = CutsPanel("runs/...-matryoshka_2d-cpu/cuts.csv")
        >>> panel.task.value = "scifact"; panel.points()  # the cells shown
    """

    def __init__(self, table: str | Path | pd.DataFrame) -> None:
        self.table = table if isinstance(table, pd.DataFrame) else read_cuts(table)
        self.table = self.table.assign(label=[_label(p, r) for p, r in
                                              zip(self.table["precision"], self.table["rescore"],
                                                  strict=True)])
        labels = list(dict.fromkeys(self.table["label"]))
        self.task = W.Dropdown(options=list(dict.fromkeys(self.table["task"])), description="task")
        self.precisions = W.SelectMultiple(options=labels, value=tuple(labels),
                                           description="precision", rows=min(5, len(labels)))
        self.min_retained = W.FloatSlider(value=0.95, min=0.5, max=1.0, step=0.01,
                                          description="min kept", continuous_update=False)
        self.plot, self.text = W.Output(), W.HTML()
        for control in (self.task, self.precisions, self.min_retained):
            control.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    def points(self) -> pd.DataFrame:
        """The chosen task's healthy cells at the chosen precisions."""
        rows = self.table[(self.table["task"] == self.task.value)
                          & self.table["label"].isin(self.precisions.value)]
        return rows[rows["status"].fillna("ok") == "ok"] if "status" in rows else rows

    def picks(self) -> dict[str, pd.Series | None]:
        """The cheapest qualifying cell for latency and for bytes, among the shown cells."""
        rows = self.points()
        if rows.empty:
            return {}
        return {cost: pick(rows, self.task.value, self.min_retained.value, cost).cell
                for cost in ("latency", "bytes")}

    def figure(self):
        """Matplotlib figure: latency x bytes, colour = score, Pareto cells ringed."""
        import matplotlib.pyplot as plt

        rows = self.points().dropna(subset=["latency_ms_per_1k", "bytes_per_vector", "score"])
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        if rows.empty:
            ax.set_title("no cells to show")
            return fig
        dots = ax.scatter(rows["latency_ms_per_1k"], rows["bytes_per_vector"], c=rows["score"],
                          cmap="viridis", s=36)
        front = pareto_3d(rows)
        ax.scatter(front["latency_ms_per_1k"], front["bytes_per_vector"], s=110,
                   facecolors="none", edgecolors="#e4572e", linewidths=1.5, label="Pareto front")
        ax.set(xlabel="encode latency (ms / 1k texts)", ylabel="bytes per vector", yscale="log",
               title=f"{self.task.value}: {rows['metric'].iloc[0]} by cell")
        fig.colorbar(dots, ax=ax, label="score")
        ax.legend(loc="upper right")
        return fig

    def refresh(self) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.plot.clear_output(wait=True)
        with self.plot:
            fig = self.figure()
            display(fig)
            plt.close(fig)
        lines = []
        for cost, cell in self.picks().items():
            lines.append(f"cheapest by {cost} keeping {self.min_retained.value:.0%}: " + (
                "none" if cell is None else
                f"layer {int(cell['layer'])}, {int(cell['dim'])} dims, {html.escape(cell['label'])} "
                f"(score {cell['score']:.4f}, {cell['quality_retained']:.1%}, "
                f"{cell['latency_ms_per_1k']:.1f} ms / 1k, {int(cell['bytes_per_vector'])} B)"))
        self.text.value = "<br>".join(lines)

    @property
    def widget(self) -> W.Widget:
        return W.VBox([W.HTML("<h3>Cuts: tasks × precisions</h3>"),
                       W.HBox([W.VBox([self.task, self.precisions, self.min_retained]), self.plot]),
                       self.text])
