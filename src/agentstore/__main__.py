"""``python -m agentstore``: the ``agentstore`` command."""

from agentstore.cli import main

main()
