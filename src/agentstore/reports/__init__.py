"""What people read about a session: its figures (:mod:`~agentstore.reports.stats`) and a
line about each event (:mod:`~agentstore.reports.summaries`), pure functions of its events
shared by the command line and every other view."""
