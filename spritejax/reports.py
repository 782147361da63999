"""Reports as JSON files that every reader accepts."""

from __future__ import annotations

import json

import numpy as np


def write_json(path: str, obj) -> str:
    """JSON with numpy scalars/arrays converted; NaN written as null (valid JSON for every reader)."""

    def clean(x):
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple, np.ndarray)):
            return [clean(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
        if isinstance(x, (np.floating, float)):
            return None if not np.isfinite(x) else float(x)
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.bool_):
            return bool(x)
        return x

    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean(obj), f, indent=2)
        f.write("\n")
    return path
