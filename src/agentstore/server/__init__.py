"""A store's server: any store, reached over HTTP (the ``server`` extra).

``agentstore serve`` runs it; :func:`create_app` is its ASGI application, for those who
run their own ASGI server. A client opens it as any store:
``agentstore.open("http://127.0.0.1:8750", token=...)``.
"""

from agentstore.server.app import create_app

__all__ = ["create_app"]
