"""Deployments after a landing: pure decisions, the ledger of what was deployed, the runner."""
