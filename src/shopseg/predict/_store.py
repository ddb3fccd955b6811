"""Reading a stored model's JSON description, with the errors every stored model shares."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, NotFittedError


def read_model_json(path: str | Path, what: str, stage: str) -> dict:
    """The JSON object at ``path``: NotFittedError when absent (hint: run ``stage``), ConfigError when not JSON
    or not an object."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFittedError(f"No stored {what} model at {p}.", hint=f"Run the {stage} stage first.") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"Stored {what} model {p} is not valid JSON: {e}.") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"Stored {what} model {p} is not a JSON object (a {type(doc).__name__}).")
    return doc
