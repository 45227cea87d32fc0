"""A pull request's verdict: its config, review rules, gates, report; what an evaluation reads, and the decision."""
