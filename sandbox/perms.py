"""Repository permissions: owner, org role, collaborator role, team role and app installations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgate.sandbox.store import Store

if TYPE_CHECKING:  # not imported at run time: the pre-receive hook (a process per push) needs no JWT library
    from mlgate.sandbox.auth import Principal

ORDER = ["read", "triage", "write", "maintain", "admin"]
TEAM_PERMS = {"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}


def best(roles: list[str | None]) -> str | None:
    present = [r for r in roles if r]
    return max(present, key=ORDER.index) if present else None


def user_role(store: Store, repo: dict[str, Any], login: str) -> str | None:
    """The strongest role a user has on a repository, or None."""
    if login == repo["owner"]:
        return "admin"
    roles: list[str | None] = [repo["collaborators"].get(login)]
    owner = store.user(repo["owner"])
    if owner and owner["type"] == "Organization":
        org_role = owner.get("members", {}).get(login)
        if org_role == "admin":
            roles.append("admin")
        elif org_role == "member":
            roles.append("read")
        full = f"{repo['owner']}/{repo['name']}"
        for team in store.state["teams"].get(repo["owner"], {}).values():
            if login in team["members"] and full in team["repos"]:
                roles.append(TEAM_PERMS.get(team["repos"][full], team["repos"][full]))
    return best(roles)


def role(store: Store, repo: dict[str, Any], who: Principal) -> str | None:
    """What ``who`` may do on ``repo``; public repos are readable by anyone."""
    found: str | None = None
    if who.kind == "user" and who.login:
        found = user_role(store, repo, who.login)
    elif who.kind == "installation":
        inst = store.state["installations"].get(str(who.installation_id))
        if installed_on(inst, repo) and (who.repository_ids is None or repo["id"] in who.repository_ids):
            found = "write"  # what it may do there is the token's permissions (app_permissions)
    if found is None and not repo["private"]:
        found = "read"
    return found


def installed_on(inst: dict[str, Any] | None, repo: dict[str, Any]) -> bool:
    """Is this installation installed on ``repo`` (its account, all or the selected repositories)?"""
    if not inst or inst["account"] != repo["owner"]:
        return False
    return inst["repository_selection"] == "all" or repo["id"] in inst.get("repository_ids", [])


def at_least(found: str | None, needed: str) -> bool:
    return found is not None and ORDER.index(found) >= ORDER.index(needed)
