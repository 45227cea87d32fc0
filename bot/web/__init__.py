"""The dashboard: what the bot is doing, for people (docs/dashboard.md).

- `queries.py`: read-only reads of the bot's store into plain page data (gather).
- `charts.py` (pure): inline SVG line charts with honest axes.
- `access.py`: who may see a repository (public; private only to a signed-in reader, asked of GitHub).
- `oauth.py`: signing in with GitHub (the App's OAuth web flow), sessions in signed cookies.
- `views.py`: the Flask blueprint: gather (queries) → render (templates/*.html).
"""
