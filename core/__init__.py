"""mlgate: a gatekeeper for machine-learning repositories on GitHub.

One import namespace, mapped from the repository's folders by the build (pyproject.toml):
`mlgate` (core/: the command, the demo, what the parts share), `mlgate.checks` (checks/),
`mlgate.bot` (bot/), `mlgate.sandbox` (sandbox/), `mlgate.templates` (templates/).
docs/architecture.md tells what each part owns.
"""
