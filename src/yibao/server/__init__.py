"""The web app and API of yibao (interfaces layer): FastAPI over the store of record and the workspace.

- :func:`yibao.server.app.create_app` — the ASGI application
- :func:`yibao.server.run.serve` — ``yibao serve``: uvicorn, prints the URL once it accepts connections
- :mod:`yibao.server.access` — who may do what (the role matrix the tests read)

Guide: docs/server.md; architecture: docs/adr/0006-system-of-record.md.
"""

# the public pieces live in their modules (imported on use: the app loads FastAPI and the store)
__all__ = ["app", "run", "access"]
