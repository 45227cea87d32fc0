"""``mlgate sandbox serve``: run the local GitHub stand-in."""

from __future__ import annotations

import ipaddress

import click

from mlgate.sandbox import names


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def _logins(values: list[str], flag: str) -> None:
    for login in values:
        problem = names.login_error(login)
        if problem:
            raise click.BadParameter(problem, param_hint=flag)


@click.group("sandbox")
def sandbox() -> None:
    """A local GitHub stand-in for tests and demos (sandbox-only auth: the token is the login)."""


@sandbox.command("serve")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback also needs --insecure-public.")
@click.option("--insecure-public", is_flag=True,
              help="Allow --host beyond loopback. Anyone who reaches the port can act as any user.")
@click.option("--data-dir", default="./sandbox-data", show_default=True, type=click.Path(file_okay=False))
@click.option("--user", "users", multiple=True, help="Create this user (repeatable).")
@click.option("--org", "orgs", multiple=True, metavar="ORG=ADMIN[,ADMIN]", help="Create an org with admins.")
@click.option("--public-url", default=None, help="Base URL put in bodies (default: from each request).")
@click.option("--webhook-retries", default=0, show_default=True, type=int,
              help="Automatic retries of failed deliveries (GitHub itself does none).")
@click.option("--merge-detection-delay", default=0.2, show_default=True, type=click.FloatRange(min=0),
              help="Seconds before a PR whose head reached its base by a push is marked merged (GitHub "
                   "notices in the background).")
def serve(port: int, host: str, insecure_public: bool, data_dir: str, users: tuple[str, ...],
          orgs: tuple[str, ...], public_url: str | None, webhook_retries: int, merge_detection_delay: float) -> None:
    """Serve the REST API under /api/v3 and git smart HTTP under /<owner>/<repo>.git."""
    from werkzeug.serving import run_simple

    from mlgate.sandbox.app import create_app

    if not is_loopback(host) and not insecure_public:
        raise click.BadParameter(
            f"{host!r} is not a loopback address; the sandbox has no real authentication (a token is the "
            "login), so listening there needs --insecure-public", param_hint="--host")
    org_map: dict[str, list[str]] = {}
    for spec in orgs:
        name, _, admins = spec.partition("=")
        org_map[name] = [a for a in admins.split(",") if a]
        _logins([name, *org_map[name]], "--org")
    _logins(list(users), "--user")
    app = create_app(data_dir, users=list(users), orgs=org_map, public_url=public_url,
                     webhook_retries=webhook_retries, merge_detection_delay=merge_detection_delay)
    if not is_loopback(host):
        click.echo(f"WARNING: listening on {host}, beyond loopback: the sandbox's token is the login, so anyone "
                   "who can reach this port can act as any user, and /_sandbox/ needs no token at all.", err=True)
    click.echo(f"mlgate sandbox: API http://{host}:{port}/api/v3  git http://{host}:{port}/<owner>/<repo>.git")
    click.echo("sandbox-only auth: 'Authorization: token <login>'; state in " + data_dir)
    run_simple(host, port, app, threaded=True, use_reloader=False)


@sandbox.command("dump")
@click.option("--data-dir", default="./sandbox-data", show_default=True,
              type=click.Path(file_okay=False, exists=True))
def dump(data_dir: str) -> None:
    """Print a sandbox's state (``state.db``: users, repositories with their PRs, Apps...) as one JSON document."""
    import json
    from pathlib import Path

    from mlgate.sandbox.store import Store

    if not (Path(data_dir) / "state.db").exists():
        raise click.BadParameter(f"no sandbox state (state.db) in {data_dir}", param_hint="--data-dir")
    store = Store(data_dir)
    try:
        click.echo(json.dumps(store.state, indent=1, sort_keys=True))
    finally:
        store.close()
