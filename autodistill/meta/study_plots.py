"""Plots of one study: optimisation history and parameter importances, in one file.

``.png`` is drawn with matplotlib's Agg canvas (no pyplot, no display needed), the two
panels side by side; ``.html`` holds Optuna's plotly optimisation history followed by a
plotly bar chart of the importances, plotly.js embedded once so the file opens offline.
Both show the importances that ``studies show`` prints.
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

from autodistill.errors import AutodistillError

__all__ = ["plot_study", "FORMATS"]

#: File extensions :func:`plot_study` writes.
FORMATS = (".png", ".html")
_INSTALL_HINT = "pip install 'autodistill-kd[plot]'"
_LABELS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
           "WAITING": "waiting"}


def plot_study(name: str, path: str | Path, storage: str | None = None) -> dict[str, Any]:
    """Write the optimisation history and parameter importances of study ``name``.

    Args:
        name: The study.
        path: Output file; its extension picks the format: ``.png`` or ``.html``.
        storage: Database URL (default: ``AUTODISTILL_STORAGE`` or the user's SQLite).

    Returns:
        ``{"study", "path", "format", "bytes", "importances", "importances_note"}``.

    Raises:
        AutodistillError: on another extension, a missing directory, or when matplotlib
            (PNG) or plotly (HTML) is not installed.
        StudyNotFoundError: when no study is called ``name``.
        StorageError: when the database cannot be reached.
    """
    from autodistill.store import access as sa

    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise AutodistillError(
            f"-o {target}: cannot plot to '{suffix or 'no extension'}'; name a .png or .html file")
    if not target.parent.is_dir():
        raise AutodistillError(f"-o {target}: directory {target.parent} does not exist; create it")
    url, rdb = sa.open_storage(storage)
    with sa.guard(url):
        study = sa.load_study(url, rdb, name)
        trials = study.get_trials(deepcopy=False)
        sign = sa.direction_sign(study.directions)
        completed = sa.completed_trials(trials, sign)
        importances, note = sa.param_importances(study, completed)
    plain = sa.plain_trial(completed)
    history = sorted(completed, key=lambda t: t.number)
    points = [(t.number, sa.trial_value(t)) for t in history]
    plain_value = sa.trial_value(plain) if plain is not None else None
    summary = sa.summarize(name, study.directions, study.user_attrs, trials)
    subtitle = ", ".join(f"{n} {_LABELS.get(state, state.lower())}"
                         for state, n in summary["trials"].items() if n)
    ylabel = (f"validation {summary['metric'].replace('_', ' ')}" if summary["autodistill"]
              else "objective value")
    try:
        if suffix == ".png":
            _write_png(target, name, subtitle, ylabel, points, sign or 1.0, plain_value,
                       importances, note)
        else:
            _write_html(target, name, subtitle, study, importances, note, ylabel)
    except OSError as exc:
        raise AutodistillError(f"-o {target}: cannot write ({exc.strerror or exc})") from None
    return {"study": name, "path": str(target), "format": suffix[1:],
            "bytes": target.stat().st_size, "importances": importances,
            "importances_note": note}


def _write_png(target: Path, name: str, subtitle: str, ylabel: str,
               points: list[tuple[int, float]],
               sign: float, plain_value: float | None, importances: dict[str, float],
               note: str | None) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise AutodistillError(f"PNG plots need matplotlib: {_INSTALL_HINT}, or use -o FILE.html") from None

    fig = Figure(figsize=(13, 5), dpi=100)
    FigureCanvasAgg(fig)
    history, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if points:
        numbers = [n for n, _ in points]
        values = [v for _, v in points]
        best, running = [], None
        for value in values:
            running = value if running is None else (max if sign > 0 else min)(running, value)
            best.append(running)
        history.scatter(numbers, values, s=20, color="C0", label="trial")
        history.step(numbers, best, where="post", color="C1", label="best so far")
        if plain_value is not None:
            history.axhline(plain_value, linestyle="--", color="grey", label="plain")
        history.legend(loc="lower right")
    else:
        history.text(0.5, 0.5, "no completed trial yet", ha="center", va="center",
                     transform=history.transAxes)
    history.set_title(f"Optimisation history ({subtitle or 'no trials'})")
    history.set_xlabel("trial")
    history.set_ylabel(ylabel)
    history.xaxis.set_major_locator(MaxNLocator(integer=True))
    history.grid(alpha=0.3)
    if importances:
        shown = sorted(importances.items(), key=lambda kv: kv[1])[-15:]
        bars.barh([k for k, _ in shown], [v for _, v in shown], color="C2")
        bars.set_xlabel("importance (share)")
        bars.tick_params(axis="y", labelsize=8)
    else:
        bars.set_axis_off()
        bars.text(0.5, 0.5, note or "no importances", ha="center", va="center", wrap=True,
                  transform=bars.transAxes)
    bars.set_title("Parameter importances")
    fig.suptitle(f"Study {name}")
    fig.tight_layout()
    fig.savefig(target, format="png")


def _write_html(target: Path, name: str, subtitle: str, study: Any,
                importances: dict[str, float], note: str | None,
                ylabel: str = "objective value") -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise AutodistillError(f"HTML plots need plotly: {_INSTALL_HINT}, or use -o FILE.png") from None
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = optuna.visualization.plot_optimization_history(
            study, target_name=ylabel)
    history.update_layout(title=f"Optimisation history ({subtitle or 'no trials'})")
    parts = [history.to_html(full_html=False, include_plotlyjs=True)]
    if importances:
        shown = sorted(importances.items(), key=lambda kv: kv[1])
        bars = go.Figure(go.Bar(x=[v for _, v in shown], y=[k for k, _ in shown], orientation="h"))
        bars.update_layout(title="Parameter importances", xaxis_title="importance (share)",
                           height=max(350, 28 * len(shown) + 120))
        parts.append(bars.to_html(full_html=False, include_plotlyjs=False))
        if note:
            parts.append(f"<p>{html.escape(note)}</p>")
    else:
        parts.append(f"<h2>Parameter importances</h2><p>{html.escape(note or 'none')}</p>")
    title = html.escape(f"autodistill study {name}")
    target.write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n"
        f"<body><h1>{title}</h1>\n" + "\n".join(parts) + "\n</body></html>\n",
        encoding="utf-8",
    )
