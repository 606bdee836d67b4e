"""A store reached over HTTP: the backends of ``agentstore.open("http://...")``.

The server's side is :mod:`agentstore.server`; what travels between the two is
described once, in :mod:`agentstore.backends.remote.wire`.
"""
