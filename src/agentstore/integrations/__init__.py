"""Integrations: record the runs of agent frameworks into an agentstore session."""
