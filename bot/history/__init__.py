"""What the bot saw over time, for the dashboard and the alerts: gate results per commit, the merge
queue's builds and each PR's queue events. The queue and the PR evaluation keep only the present;
this package keeps the past (tables of migration 0005_dashboard).

- `diff.py` (pure): two queue states → the builds that changed and the PR events between them.
- `tables.py`: the tables and `HistoryStore`, the writes.
- `recorder.py`: the observer the bot calls after each delivery and each queue step.
"""
