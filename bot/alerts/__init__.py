"""Alerts: problems on a base branch or in its deployments, shown on the dashboard and kept as one
GitHub issue each (label `mlgate-alert` by default), opened once, updated, closed when resolved.

- `model.py`: the facts, the alerts and the changes (plain data).
- `decide.py` (pure): facts + `alerts:` config → the alerts that hold now; held + stored → changes.
- `store.py`: the `alerts` table (migration 0005_dashboard).
- `issues.py`: the GitHub issue writes.
- `keeper.py`: gather the facts, decide, store, then write to GitHub.
"""
