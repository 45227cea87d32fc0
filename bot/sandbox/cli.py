"""``mlgate sandbox serve``: run the local GitHub stand-in."""

from __future__ import annotations

import click


@click.group("sandbox")
def sandbox() -> None:
    """A local GitHub stand-in for tests and demos (sandbox-only auth: the token is the login)."""


@sandbox.command("serve")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data-dir", default="./sandbox-data", show_default=True, type=click.Path(file_okay=False))
@click.option("--user", "users", multiple=True, help="Create this user (repeatable).")
@click.option("--org", "orgs", multiple=True, metavar="ORG=ADMIN[,ADMIN]", help="Create an org with admins.")
@click.option("--public-url", default=None, help="Base URL put in bodies (default: from each request).")
@click.option("--webhook-retries", default=0, show_default=True, type=int,
              help="Automatic retries of failed deliveries (GitHub itself does none).")
def serve(port: int, host: str, data_dir: str, users: tuple[str, ...], orgs: tuple[str, ...],
          public_url: str | None, webhook_retries: int) -> None:
    """Serve the REST API under /api/v3 and git smart HTTP under /<owner>/<repo>.git."""
    from werkzeug.serving import run_simple

    from bot.sandbox.app import create_app

    org_map: dict[str, list[str]] = {}
    for spec in orgs:
        name, _, admins = spec.partition("=")
        org_map[name] = [a for a in admins.split(",") if a]
    app = create_app(data_dir, users=list(users), orgs=org_map, public_url=public_url,
                     webhook_retries=webhook_retries)
    click.echo(f"mlgate sandbox: API http://{host}:{port}/api/v3  git http://{host}:{port}/<owner>/<repo>.git")
    click.echo("sandbox-only auth: 'Authorization: token <login>'; state in " + data_dir)
    run_simple(host, port, app, threaded=True, use_reloader=False)
