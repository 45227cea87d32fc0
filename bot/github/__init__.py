"""GitHub for the rest of the bot: plain facts, the Forge protocol, the PyGithub client, the PR executor."""
