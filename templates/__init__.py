"""The Jinja2 templates of every report (package data: `importlib.resources.files("mlgate.templates")`)."""
