"""The live service and dashboard (``shopseg serve``): see docs/service.md.

Imported lazily by the CLI: FastAPI is only needed when serving.
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
