"""Figures the solution notebooks hand to the lab guide."""
from __future__ import annotations

import os
from pathlib import Path

FIGURES_ENV = "LABGUIDE_FIGURES"
"""Set to a folder to make the notebooks save their figures there (``make figures`` does)."""


def save_figure(fig, name: str) -> Path | None:
    """Save ``fig`` as ``<name>.png`` in ``$LABGUIDE_FIGURES`` if set; return the path or None."""
    folder = os.environ.get(FIGURES_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed dpi and no timestamp metadata keep the PNG bytes stable between runs.
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    return path
