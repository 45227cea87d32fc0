"""mlgate bot: the GitHub App service (webhooks, merge queue, reports). docs/architecture.md maps it."""
