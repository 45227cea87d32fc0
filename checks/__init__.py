"""mlgate checks: the gates that run on a repository's data and model, and their CLI."""
