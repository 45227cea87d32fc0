"""Slash-commands in PR comments: parse, what a command approves, the decision, and running it."""
