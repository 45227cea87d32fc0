"""Collaborators and permissions, organisation membership, teams and their repositories."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from mlgate.sandbox import perms, render
from mlgate.sandbox.ctx import actor, body, get_repo, paginate, principal, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso
from mlgate.sandbox.urls import api_base, node_id, web_base

router = Router("collab")
J = dict[str, Any]
ROLES = ("read", "triage", "write", "maintain", "admin")
ALIASES = {"pull": "read", "push": "write"}


@router.route("GET", "/repos/{owner}/{repo}/collaborators")
def list_collaborators(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    st = store()
    logins = {rec["owner"]} if st.user(rec["owner"])["type"] == "User" else set()  # type: ignore[index]
    logins |= set(rec["collaborators"])
    owner_rec = st.user(rec["owner"])
    if owner_rec and owner_rec["type"] == "Organization":
        logins |= {m for m, r in owner_rec.get("members", {}).items() if r == "admin"}
        for team in st.state["teams"].get(rec["owner"], {}).values():
            if f"{owner}/{repo}" in team["repos"]:
                logins |= set(team["members"])
    out = []
    for login in sorted(logins, key=lambda u: st.user(u)["id"]):  # type: ignore[index]
        role = perms.user_role(st, rec, login)
        if role:
            out.append(render.collaborator(st, login, role))
    return paginate(out)


@router.route("GET", "/repos/{owner}/{repo}/collaborators/{username}")
def check_collaborator(owner: str, repo: str, username: str) -> Any:
    rec = get_repo(owner, repo)
    if store().user(username) is None or perms.user_role(store(), rec, username) is None:
        raise not_found()
    return None, 204


@router.route("PUT", "/repos/{owner}/{repo}/collaborators/{username}")
def add_collaborator(owner: str, repo: str, username: str) -> Any:
    """GitHub invites; the sandbox accepts the invitation at once and returns it (201)."""
    rec = get_repo(owner, repo, "admin")
    invitee = store().user(username)
    if invitee is None or invitee["type"] != "User":
        raise not_found()
    role = ALIASES.get(body().get("permission", "write"), body().get("permission", "write"))
    if role not in ROLES:
        raise validation("Repository", f"permission must be one of {', '.join(ROLES)}", field="permission",
                         code="invalid")
    existing = perms.user_role(store(), rec, username)
    rec["collaborators"][username] = role
    if existing is not None or username == rec["owner"]:
        return None, 204
    inv_id = store().next_id("invitation")
    full = f"{owner}/{repo}"
    return {
        "id": inv_id,
        "node_id": node_id("RI", inv_id),
        "repository": render.minimal_repo(store(), rec),
        "invitee": render.user(invitee),
        "inviter": render.user(store().user(actor())),
        "permissions": role,
        "created_at": now_iso(),
        "expired": False,
        "url": f"{api_base()}/user/repository_invitations/{inv_id}",
        "html_url": f"{web_base()}/{full}/invitations",
    }, 201


@router.route("DELETE", "/repos/{owner}/{repo}/collaborators/{username}")
def remove_collaborator(owner: str, repo: str, username: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    rec["collaborators"].pop(username, None)
    return None, 204


@router.route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
def get_permission(owner: str, repo: str, username: str) -> Any:
    rec = get_repo(owner, repo)
    u = store().user(username)
    if u is None:
        raise not_found()
    role = perms.user_role(store(), rec, username)
    if role is None and not rec["private"]:
        role = "read"
    legacy = {"maintain": "write", "triage": "read"}.get(role or "", role) or "none"
    user_body = render.collaborator(store(), username, role) if role else \
        {**(render.user(u) or {}), "permissions": {k: False for k in ("admin", "maintain", "push", "triage", "pull")},
         "role_name": "none"}
    return {"permission": legacy, "role_name": role or "none", "user": user_body}


# --- organisations -----------------------------------------------------------------------------
def _org(org: str) -> J:
    rec = store().user(org)
    if rec is None or rec["type"] != "Organization":
        raise not_found()
    return rec


def _org_admin(org_rec: J) -> None:
    who = principal()
    if who.kind == "installation":
        return
    if org_rec.get("members", {}).get(actor()) != "admin":
        raise ApiError(403, "You must be an admin of the organization.")


@router.route("GET", "/orgs/{org}/members")
def list_members(org: str) -> Any:
    rec = _org(org)
    role = request.args.get("role", "all")
    st = store()
    logins = [m for m, r in rec.get("members", {}).items() if role == "all" or r == role]
    return paginate([render.user(st.user(m)) for m in sorted(logins, key=lambda m: st.user(m)["id"])])  # type: ignore[index]


def _membership(org_rec: J, login: str) -> J:
    role = org_rec["members"][login]
    return {
        "url": f"{api_base()}/orgs/{org_rec['login']}/memberships/{login}",
        "state": "active",
        "role": role,
        "organization_url": f"{api_base()}/orgs/{org_rec['login']}",
        "organization": render.org(store(), org_rec),
        "user": render.user(store().user(login)),
    }


@router.route("GET", "/orgs/{org}/memberships/{username}")
def get_membership(org: str, username: str) -> Any:
    rec = _org(org)
    if username not in rec.get("members", {}):
        raise not_found()
    return _membership(rec, username)


@router.route("PUT", "/orgs/{org}/memberships/{username}")
def set_membership(org: str, username: str) -> Any:
    rec = _org(org)
    _org_admin(rec)
    if store().user(username) is None:
        raise not_found()
    role = body().get("role", "member")
    if role not in ("admin", "member"):
        raise validation("Membership", "role must be admin or member", field="role", code="invalid")
    rec.setdefault("members", {})[username] = role
    return _membership(rec, username)


# --- teams -------------------------------------------------------------------------------------
def _team(org: str, slug: str) -> J:
    _org(org)
    team = store().state["teams"].get(org, {}).get(slug)
    if team is None:
        raise not_found()
    return team


@router.route("POST", "/orgs/{org}/teams")
def create_team(org: str) -> Any:
    rec = _org(org)
    _org_admin(rec)
    data = body()
    name = data.get("name")
    if not name:
        raise validation("Team", "name is missing", field="name", code="missing_field")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    teams = store().state["teams"].setdefault(org, {})
    if slug in teams:
        raise validation("Team", "Name must be unique for this org", field="name", code="custom")
    team = {"id": store().next_id("team"), "name": name, "slug": slug, "description": data.get("description"),
            "privacy": data.get("privacy", "closed"), "permission": data.get("permission", "pull"),
            "members": {}, "repos": {}, "created_at": now_iso()}
    for full in data.get("repo_names", []):
        team["repos"][full] = team["permission"]
    for login in data.get("maintainers", []):
        team["members"][login] = "maintainer"
    teams[slug] = team
    return render.team(store(), org, team, full=True), 201


@router.route("GET", "/orgs/{org}/teams")
def list_teams(org: str) -> Any:
    _org(org)
    teams = sorted(store().state["teams"].get(org, {}).values(), key=lambda t: t["id"])
    return paginate([render.team(store(), org, t) for t in teams])


@router.route("GET", "/orgs/{org}/teams/{team_slug}")
def get_team(org: str, team_slug: str) -> Any:
    return render.team(store(), org, _team(org, team_slug), full=True)


@router.route("GET", "/orgs/{org}/teams/{team_slug}/members")
def list_team_members(org: str, team_slug: str) -> Any:
    team = _team(org, team_slug)
    st = store()
    return paginate([render.user(st.user(m)) for m in sorted(team["members"], key=lambda m: st.user(m)["id"])])  # type: ignore[index]


def _team_membership(org: str, team: J, login: str) -> J:
    return {"url": f"{api_base()}/orgs/{org}/teams/{team['slug']}/memberships/{login}",
            "role": team["members"][login], "state": "active"}


@router.route("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}")
def get_team_membership(org: str, team_slug: str, username: str) -> Any:
    team = _team(org, team_slug)
    if username not in team["members"]:
        raise not_found()
    return _team_membership(org, team, username)


@router.route("PUT", "/orgs/{org}/teams/{team_slug}/memberships/{username}")
def set_team_membership(org: str, team_slug: str, username: str) -> Any:
    org_rec = _org(org)
    _org_admin(org_rec)
    team = _team(org, team_slug)
    if store().user(username) is None:
        raise not_found()
    role = body().get("role", "member")
    if role not in ("member", "maintainer"):
        raise validation("TeamMembership", "role must be member or maintainer", field="role", code="invalid")
    team["members"][username] = role
    org_rec.setdefault("members", {}).setdefault(username, "member")
    return _team_membership(org, team, username)


@router.route("DELETE", "/orgs/{org}/teams/{team_slug}/memberships/{username}")
def remove_team_membership(org: str, team_slug: str, username: str) -> Any:
    _org_admin(_org(org))
    _team(org, team_slug)["members"].pop(username, None)
    return None, 204


@router.route("PUT", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}")
def add_team_repo(org: str, team_slug: str, owner: str, repo: str) -> Any:
    _org_admin(_org(org))
    team = _team(org, team_slug)
    rec = get_repo(owner, repo)
    if rec["owner"] != org:
        raise validation("Team", "Repository must belong to the team's organization")
    perm = body().get("permission", team.get("permission", "push"))
    if perm not in perms.TEAM_PERMS and perm not in ROLES:
        raise validation("Team", "permission is invalid", field="permission", code="invalid")
    team["repos"][f"{owner}/{repo}"] = perm
    return None, 204


@router.route("GET", "/orgs/{org}/teams/{team_slug}/repos")
def list_team_repos(org: str, team_slug: str) -> Any:
    team = _team(org, team_slug)
    st = store()
    out = []
    for full, perm in sorted(team["repos"].items()):
        rec = st.state["repos"].get(full)
        if rec:
            role = perms.TEAM_PERMS.get(perm, perm)
            out.append({**render.repo(st, rec), "permissions": render.ROLE_TO_PERMISSIONS[role], "role_name": role})
    return paginate(out)
