"""REST bodies in GitHub's shapes (the schemas of @octokit/openapi), built from store records.

Handlers never build JSON by hand; they call these, so one fix reaches every endpoint.
"""

from __future__ import annotations

import base64
from typing import Any

from mlgate.sandbox.git import CommitInfo, FileChange, GitRepo, Person
from mlgate.sandbox.store import Store, now_iso
from mlgate.sandbox.urls import api_base, node_id, web_base

J = dict[str, Any]
CONTENTS_INLINE_LIMIT = 1024 * 1024


# --- users, orgs, apps -------------------------------------------------------------------------
def user(rec: J | None) -> J | None:
    """simple-user."""
    if rec is None:
        return None
    login, api = rec["login"], api_base()
    kind = "users" if rec["type"] != "Organization" else "orgs"
    return {
        "login": login,
        "id": rec["id"],
        "node_id": node_id("U", rec["id"]),
        "avatar_url": f"{web_base()}/avatars/{login}",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{web_base()}/{login}",
        "followers_url": f"{api}/users/{login}/followers",
        "following_url": f"{api}/users/{login}/following{{/other_user}}",
        "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
        "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/users/{login}/subscriptions",
        "organizations_url": f"{api}/users/{login}/orgs",
        "repos_url": f"{api}/{kind}/{login}/repos",
        "events_url": f"{api}/users/{login}/events{{/privacy}}",
        "received_events_url": f"{api}/users/{login}/received_events",
        "type": rec["type"],
        "site_admin": False,
    }


def user_full(store: Store, rec: J, private: bool = False) -> J:
    """public-user (strict) or private-user for ``GET /user``."""
    body = dict(user(rec) or {})
    repos = [r for r in store.state["repos"].values() if r["owner"] == rec["login"]]
    body.update(
        name=rec.get("name"),
        company=None,
        blog="",
        location=None,
        email=rec.get("email"),
        hireable=None,
        bio=None,
        public_repos=sum(1 for r in repos if not r["private"]),
        public_gists=0,
        followers=0,
        following=0,
        created_at=rec["created_at"],
        updated_at=rec["created_at"],
        # The description's discriminator between public-user and private-user.
        user_view_type="private" if private else "public",
    )
    if private:
        body.update(
            collaborators=0,
            disk_usage=0,
            owned_private_repos=sum(1 for r in repos if r["private"]),
            private_gists=0,
            total_private_repos=sum(1 for r in repos if r["private"]),
            two_factor_authentication=False,
        )
    return body


def org(store: Store, rec: J, full: bool = False) -> J:
    """organization-simple / organization-full."""
    login, api = rec["login"], api_base()
    body: J = {
        "login": login,
        "id": rec["id"],
        "node_id": node_id("O", rec["id"]),
        "url": f"{api}/orgs/{login}",
        "repos_url": f"{api}/orgs/{login}/repos",
        "events_url": f"{api}/orgs/{login}/events",
        "hooks_url": f"{api}/orgs/{login}/hooks",
        "issues_url": f"{api}/orgs/{login}/issues",
        "members_url": f"{api}/orgs/{login}/members{{/member}}",
        "public_members_url": f"{api}/orgs/{login}/public_members{{/member}}",
        "avatar_url": f"{web_base()}/avatars/{login}",
        "description": rec.get("description"),
    }
    if full:
        body.update(
            name=rec.get("name") or login,
            html_url=f"{web_base()}/{login}",
            has_organization_projects=False,
            has_repository_projects=False,
            public_repos=sum(
                1 for r in store.state["repos"].values() if r["owner"] == login and not r["private"]
            ),
            public_gists=0,
            followers=0,
            following=0,
            type="Organization",
            created_at=rec["created_at"],
            updated_at=rec["created_at"],
            archived_at=None,
        )
    return body


def user_app(store: Store, login: str) -> J:
    """The pseudo-app a plain user's check runs are attributed to (GitHub itself requires an App)."""
    rec = store.user(login)
    assert rec is not None
    return {
        "id": 500000 + rec["id"],
        "slug": login,
        "name": login,
        "owner_login": login,
        "description": f"check runs created by {login} with a user token (sandbox only)",
        "created_at": rec["created_at"],
        "permissions": {"checks": "write", "statuses": "write"},
        "events": [],
    }


def app(store: Store, rec: J) -> J:
    """integration."""
    owner = store.user(rec["owner_login"])
    return {
        "id": rec["id"],
        "slug": rec["slug"],
        "node_id": node_id("A", rec["id"]),
        "client_id": f"Iv1.sandbox{rec['id']}",
        "owner": user(owner),
        "name": rec["name"],
        "description": rec.get("description") or "",
        "external_url": f"{web_base()}/apps/{rec['slug']}",
        "html_url": f"{web_base()}/apps/{rec['slug']}",
        "created_at": rec["created_at"],
        "updated_at": rec["created_at"],
        "permissions": rec.get("permissions", {}),
        "events": rec.get("events", []),
    }


def app_by_id(store: Store, app_id: int) -> J:
    rec = store.state["apps"].get(str(app_id))
    if rec is not None:
        return app(store, rec)
    owner = store.user_by_id(app_id - 500000)
    assert owner is not None
    return app(store, user_app(store, owner["login"]))


def installation(store: Store, inst: J) -> J:
    account = store.user(inst["account"])
    app_rec = store.state["apps"][str(inst["app_id"])]
    api = api_base()
    acct = user(account) or {}
    if account:
        # the GET /app/installations description combines simple-user *and* enterprise with allOf,
        # so it demands enterprise's name/slug/timestamps on every account; give them
        acct.update(name=account.get("name") or account["login"], slug=account["login"],
                    created_at=account["created_at"], updated_at=account["created_at"])
    return {
        "id": inst["id"],
        "account": acct,
        "repository_selection": inst["repository_selection"],
        "access_tokens_url": f"{api}/app/installations/{inst['id']}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{web_base()}/settings/installations/{inst['id']}",
        "app_id": inst["app_id"],
        "app_slug": app_rec["slug"],
        "target_id": account["id"] if account else 0,
        "target_type": account["type"] if account else "User",
        "permissions": inst.get("permissions") or app_rec.get("permissions", {}),
        "events": app_rec.get("events", []),
        "created_at": inst["created_at"],
        "updated_at": inst["created_at"],
        "single_file_name": None,
        "suspended_by": None,
        "suspended_at": None,
    }


# --- repositories ------------------------------------------------------------------------------
def repo(store: Store, rec: J, full: bool = False) -> J:
    """repository / full-repository (``full`` adds the counts only GET /repos/{o}/{r} has)."""
    owner = store.user(rec["owner"])
    full_name = f"{rec['owner']}/{rec['name']}"
    api, web = api_base(), web_base()
    u = f"{api}/repos/{full_name}"
    open_issues = sum(1 for i in rec["issues"].values() if i["state"] == "open")
    body: J = {
        "id": rec["id"],
        "node_id": node_id("R", rec["id"]),
        "name": rec["name"],
        "full_name": full_name,
        "private": rec["private"],
        "owner": user(owner),
        "html_url": f"{web}/{full_name}",
        "description": rec.get("description"),
        "fork": False,
        "url": u,
        "forks_url": f"{u}/forks",
        "keys_url": f"{u}/keys{{/key_id}}",
        "collaborators_url": f"{u}/collaborators{{/collaborator}}",
        "teams_url": f"{u}/teams",
        "hooks_url": f"{u}/hooks",
        "issue_events_url": f"{u}/issues/events{{/number}}",
        "events_url": f"{u}/events",
        "assignees_url": f"{u}/assignees{{/user}}",
        "branches_url": f"{u}/branches{{/branch}}",
        "tags_url": f"{u}/tags",
        "blobs_url": f"{u}/git/blobs{{/sha}}",
        "git_tags_url": f"{u}/git/tags{{/sha}}",
        "git_refs_url": f"{u}/git/refs{{/sha}}",
        "trees_url": f"{u}/git/trees{{/sha}}",
        "statuses_url": f"{u}/statuses/{{sha}}",
        "languages_url": f"{u}/languages",
        "stargazers_url": f"{u}/stargazers",
        "contributors_url": f"{u}/contributors",
        "subscribers_url": f"{u}/subscribers",
        "subscription_url": f"{u}/subscription",
        "commits_url": f"{u}/commits{{/sha}}",
        "git_commits_url": f"{u}/git/commits{{/sha}}",
        "comments_url": f"{u}/comments{{/number}}",
        "issue_comment_url": f"{u}/issues/comments{{/number}}",
        "contents_url": f"{u}/contents/{{+path}}",
        "compare_url": f"{u}/compare/{{base}}...{{head}}",
        "merges_url": f"{u}/merges",
        "archive_url": f"{u}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{u}/downloads",
        "issues_url": f"{u}/issues{{/number}}",
        "pulls_url": f"{u}/pulls{{/number}}",
        "milestones_url": f"{u}/milestones{{/number}}",
        "notifications_url": f"{u}/notifications{{?since,all,participating}}",
        "labels_url": f"{u}/labels{{/name}}",
        "releases_url": f"{u}/releases{{/id}}",
        "deployments_url": f"{u}/deployments",
        "created_at": rec["created_at"],
        "updated_at": rec.get("updated_at", rec["created_at"]),
        "pushed_at": rec.get("pushed_at") or rec["created_at"],
        "git_url": f"git://{web.split('://', 1)[1]}/{full_name}.git",
        "ssh_url": f"git@sandbox:{full_name}.git",
        "clone_url": f"{web}/{full_name}.git",
        "svn_url": f"{web}/{full_name}",
        "homepage": rec.get("homepage"),
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": False,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": open_issues,
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if rec["private"] else "public",
        "forks": 0,
        "open_issues": open_issues,
        "watchers": 0,
        "default_branch": rec["default_branch"],
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_rebase_merge": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": rec.get("delete_branch_on_merge", False),
        "allow_update_branch": False,
        "custom_properties": {},
    }
    if full:
        body["network_count"] = 0
        body["subscribers_count"] = 0
    return body


def minimal_repo(store: Store, rec: J) -> J:
    return repo(store, rec)


# --- git objects -------------------------------------------------------------------------------
def _person(p: Person) -> J:
    return {"name": p.name, "email": p.email, "date": p.date}


def _user_for_email(store: Store, email: str) -> J | None:
    for rec in store.state["users"].values():
        if rec.get("email") == email:
            return user(rec)
    return None


def git_commit(repo_rec: J, info: CommitInfo) -> J:
    """git-commit (GET/POST /git/commits)."""
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "sha": info.sha,
        "node_id": node_id("C", info.sha),
        "url": f"{u}/git/commits/{info.sha}",
        "html_url": f"{web_base()}/{repo_rec['owner']}/{repo_rec['name']}/commit/{info.sha}",
        "author": _person(info.author),
        "committer": _person(info.committer),
        "message": info.message,
        "tree": {"sha": info.tree, "url": f"{u}/git/trees/{info.tree}"},
        "parents": [
            {
                "sha": p,
                "url": f"{u}/git/commits/{p}",
                "html_url": f"{web_base()}/{repo_rec['owner']}/{repo_rec['name']}/commit/{p}",
            }
            for p in info.parents
        ],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    }


def diff_entry(repo_rec: J, ref: str, f: FileChange) -> J:
    web = f"{web_base()}/{repo_rec['owner']}/{repo_rec['name']}"
    body: J = {
        "sha": f.sha or "0" * 40,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": f"{web}/blob/{ref}/{f.filename}",
        "raw_url": f"{web}/raw/{ref}/{f.filename}",
        "contents_url": f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}/contents/{f.filename}?ref={ref}",
    }
    if f.patch is not None:
        body["patch"] = f.patch
    if f.previous_filename:
        body["previous_filename"] = f.previous_filename
    return body


def commit(store: Store, repo_rec: J, git: GitRepo, sha: str, with_files: bool = False) -> J:
    """commit (GET /repos/{o}/{r}/commits/{ref}, merges, compare)."""
    info = git.commit(sha)
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    body: J = {
        "url": f"{u}/commits/{info.sha}",
        "sha": info.sha,
        "node_id": node_id("C", info.sha),
        "html_url": f"{web_base()}/{full}/commit/{info.sha}",
        "comments_url": f"{u}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{u}/git/commits/{info.sha}",
            "author": _person(info.author),
            "committer": _person(info.committer),
            "message": info.message.rstrip("\n"),
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{u}/git/trees/{info.tree}"},
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        },
        "author": _user_for_email(store, info.author.email),
        "committer": _user_for_email(store, info.committer.email),
        "parents": [
            {"sha": p, "url": f"{u}/commits/{p}", "html_url": f"{web_base()}/{full}/commit/{p}"}
            for p in info.parents
        ],
    }
    if with_files:
        base = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        files = git.diff_files(base, info.sha)
        adds, dels = sum(f.additions for f in files), sum(f.deletions for f in files)
        body["stats"] = {"additions": adds, "deletions": dels, "total": adds + dels}
        body["files"] = [diff_entry(repo_rec, info.sha, f) for f in files]
    return body


def git_ref(repo_rec: J, ref: str, sha: str, obj_type: str = "commit") -> J:
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "ref": ref,
        "node_id": node_id("REF", f"{repo_rec['id']}:{ref}"),
        "url": f"{u}/git/{ref}",
        "object": {"type": obj_type, "sha": sha, "url": f"{u}/git/{obj_type}s/{sha}"},
    }


def content_file(repo_rec: J, git: GitRepo, ref: str, path: str, sha: str, with_content: bool = True) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    data = git.blob(sha)
    if len(data) > CONTENTS_INLINE_LIMIT:
        with_content = False  # GitHub returns files over 1 MB without content, encoding "none"
    body: J = {
        "type": "file",
        "encoding": "base64" if with_content else "none",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.encodebytes(data).decode() if with_content else "",
        "sha": sha,
        "url": f"{u}/contents/{path}?ref={ref}",
        "git_url": f"{u}/git/blobs/{sha}",
        "html_url": f"{web_base()}/{full}/blob/{ref}/{path}",
        "download_url": f"{web_base()}/{full}/raw/{ref}/{path}",
    }
    body["_links"] = {"self": body["url"], "git": body["git_url"], "html": body["html_url"]}
    return body


def dir_entry(repo_rec: J, ref: str, parent: str, entry_type: str, name: str, sha: str, size: int) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    path = f"{parent}/{name}" if parent else name
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(entry_type, "file")
    body: J = {
        "type": kind,
        "size": size,
        "name": name,
        "path": path,
        "sha": sha,
        "url": f"{u}/contents/{path}?ref={ref}",
        "git_url": f"{u}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}",
        "html_url": f"{web_base()}/{full}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}",
        "download_url": f"{web_base()}/{full}/raw/{ref}/{path}" if kind == "file" else None,
    }
    body["_links"] = {"self": body["url"], "git": body["git_url"], "html": body["html_url"]}
    return body


# --- issues, pulls -----------------------------------------------------------------------------
def association(store: Store, repo_rec: J, login: str) -> str:
    if login == repo_rec["owner"]:
        return "OWNER"
    owner = store.user(repo_rec["owner"])
    if owner and owner["type"] == "Organization" and login in owner.get("members", {}):
        return "MEMBER"
    if login in repo_rec["collaborators"]:
        return "COLLABORATOR"
    return "NONE"


def label(repo_rec: J, lab: J) -> J:
    return {
        "id": lab["id"],
        "node_id": node_id("L", lab["id"]),
        "url": f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}/labels/{lab['name']}",
        "name": lab["name"],
        "description": lab.get("description"),
        "color": lab.get("color", "ededed"),
        "default": False,
    }


def reactions_summary(repo_rec: J, url: str, reactions: list[J]) -> J:
    counts = {k: 0 for k in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")}
    for r in reactions:
        counts[r["content"]] = counts.get(r["content"], 0) + 1
    return {"url": f"{url}/reactions", "total_count": len(reactions), **counts}


def issue(store: Store, repo_rec: J, iss: J) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    num = iss["number"]
    url = f"{u}/issues/{num}"
    comments = [c for c in repo_rec["comments"].values() if c["issue_number"] == num]
    body: J = {
        "id": iss["id"],
        "node_id": node_id("I", iss["id"]),
        "url": url,
        "repository_url": u,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{web_base()}/{full}/{'pull' if iss.get('is_pull') else 'issues'}/{num}",
        "number": num,
        "state": iss["state"],
        "state_reason": iss.get("state_reason"),
        "title": iss["title"],
        "body": iss.get("body"),
        "user": user(store.user(iss["user"])),
        "labels": [label(repo_rec, repo_rec["labels"][n]) for n in iss.get("labels", []) if n in repo_rec["labels"]],
        "assignee": user(store.user(iss["assignees"][0])) if iss.get("assignees") else None,
        "assignees": [user(store.user(a)) for a in iss.get("assignees", [])],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(comments),
        "closed_at": iss.get("closed_at"),
        "created_at": iss["created_at"],
        "updated_at": iss["updated_at"],
        "closed_by": user(store.user(iss["closed_by"])) if iss.get("closed_by") else None,
        "author_association": association(store, repo_rec, iss["user"]),
        "reactions": reactions_summary(repo_rec, url, []),
    }
    if iss.get("is_pull"):
        body["pull_request"] = {
            "url": f"{u}/pulls/{num}",
            "html_url": f"{web_base()}/{full}/pull/{num}",
            "diff_url": f"{web_base()}/{full}/pull/{num}.diff",
            "patch_url": f"{web_base()}/{full}/pull/{num}.patch",
            "merged_at": repo_rec["pulls"][str(num)].get("merged_at"),
        }
    return body


def _pr_branch(store: Store, repo_rec: J, ref: str, sha: str) -> J:
    return {
        "label": f"{repo_rec['owner']}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(store.user(repo_rec["owner"])),
        "repo": repo(store, repo_rec),
    }


def pull(store: Store, repo_rec: J, pr: J, merge_facts: J | None = None) -> J:
    """pull-request; ``merge_facts`` (mergeable, counts) makes it the full object, else the simple one."""
    iss = repo_rec["issues"][str(pr["number"])]
    full_name = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full_name}"
    web = f"{web_base()}/{full_name}"
    num = pr["number"]
    url = f"{u}/pulls/{num}"
    body: J = {
        "url": url,
        "id": pr["id"],
        "node_id": node_id("PR", pr["id"]),
        "html_url": f"{web}/pull/{num}",
        "diff_url": f"{web}/pull/{num}.diff",
        "patch_url": f"{web}/pull/{num}.patch",
        "issue_url": f"{u}/issues/{num}",
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{u}/pulls/comments{{/number}}",
        "comments_url": f"{u}/issues/{num}/comments",
        "statuses_url": f"{u}/statuses/{pr['head_sha']}",
        "number": num,
        "state": iss["state"],
        "locked": False,
        "title": iss["title"],
        "user": user(store.user(iss["user"])),
        "body": iss.get("body"),
        "labels": [label(repo_rec, repo_rec["labels"][n]) for n in iss.get("labels", []) if n in repo_rec["labels"]],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iss["created_at"],
        "updated_at": iss["updated_at"],
        "closed_at": iss.get("closed_at"),
        "merged_at": pr.get("merged_at"),
        "merge_commit_sha": pr.get("merge_commit_sha"),
        "assignee": user(store.user(iss["assignees"][0])) if iss.get("assignees") else None,
        "assignees": [user(store.user(a)) for a in iss.get("assignees", [])],
        "requested_reviewers": [user(store.user(r)) for r in pr.get("requested_reviewers", [])],
        "requested_teams": [],
        "head": _pr_branch(store, repo_rec, pr["head_ref"], pr["head_sha"]),
        "base": _pr_branch(store, repo_rec, pr["base_ref"], pr["base_sha"]),
        "_links": {
            "self": {"href": url},
            "html": {"href": f"{web}/pull/{num}"},
            "issue": {"href": f"{u}/issues/{num}"},
            "comments": {"href": f"{u}/issues/{num}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{u}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": f"{u}/statuses/{pr['head_sha']}"},
        },
        "author_association": association(store, repo_rec, iss["user"]),
        "auto_merge": None,
        "draft": pr.get("draft", False),
    }
    teams = store.state["teams"].get(repo_rec["owner"], {})
    body["requested_teams"] = [team(store, repo_rec["owner"], teams[s]) for s in pr.get("requested_teams", [])
                               if s in teams]
    if merge_facts is not None:
        merged_by = pr.get("merged_by")
        body.update(
            merged=bool(pr.get("merged")),
            mergeable=merge_facts["mergeable"],
            rebaseable=merge_facts["mergeable"],
            mergeable_state=merge_facts["mergeable_state"],
            merged_by=user(store.user(merged_by)) if merged_by else None,
            comments=sum(1 for c in repo_rec["comments"].values() if c["issue_number"] == num),
            review_comments=0,
            maintainer_can_modify=False,
            commits=merge_facts["commits"],
            additions=merge_facts["additions"],
            deletions=merge_facts["deletions"],
            changed_files=merge_facts["changed_files"],
        )
        if merge_facts.get("merge_commit_sha") and not pr.get("merged"):
            body["merge_commit_sha"] = merge_facts["merge_commit_sha"]
    return body


def review(store: Store, repo_rec: J, rev: J) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    num = rev["pull_number"]
    html = f"{web_base()}/{full}/pull/{num}#pullrequestreview-{rev['id']}"
    pr_url = f"{api_base()}/repos/{full}/pulls/{num}"
    body: J = {
        "id": rev["id"],
        "node_id": node_id("PRR", rev["id"]),
        "user": user(store.user(rev["user"])),
        "body": rev.get("body") or "",
        "state": rev["state"],
        "html_url": html,
        "pull_request_url": pr_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        "commit_id": rev["commit_id"],
        "author_association": association(store, repo_rec, rev["user"]),
    }
    if rev.get("submitted_at"):
        body["submitted_at"] = rev["submitted_at"]
    return body


def comment(store: Store, repo_rec: J, com: J) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    url = f"{u}/issues/comments/{com['id']}"
    is_pull = repo_rec["issues"].get(str(com["issue_number"]), {}).get("is_pull")
    return {
        "id": com["id"],
        "node_id": node_id("IC", com["id"]),
        "url": url,
        "html_url": f"{web_base()}/{full}/{'pull' if is_pull else 'issues'}/{com['issue_number']}"
        f"#issuecomment-{com['id']}",
        "body": com["body"],
        "user": user(store.user(com["user"])),
        "created_at": com["created_at"],
        "updated_at": com["updated_at"],
        "issue_url": f"{u}/issues/{com['issue_number']}",
        "author_association": association(store, repo_rec, com["user"]),
        "reactions": reactions_summary(repo_rec, url, list(com.get("reactions", {}).values())),
    }


def reaction(store: Store, rec: J) -> J:
    return {
        "id": rec["id"],
        "node_id": node_id("REA", rec["id"]),
        "user": user(store.user(rec["user"])),
        "content": rec["content"],
        "created_at": rec["created_at"],
    }


# --- statuses, checks --------------------------------------------------------------------------
def status(store: Store, repo_rec: J, st: J) -> J:
    return {
        "url": f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}/statuses/{st['sha']}",
        "avatar_url": f"{web_base()}/avatars/{st['creator']}",
        "id": st["id"],
        "node_id": node_id("ST", st["id"]),
        "state": st["state"],
        "description": st.get("description"),
        "target_url": st.get("target_url"),
        "context": st["context"],
        "created_at": st["created_at"],
        "updated_at": st["updated_at"],
        "creator": user(store.user(st["creator"])),
    }


def pulls_for_sha(repo_rec: J, sha: str) -> list[J]:
    """Open PRs whose head is ``sha`` (pull-request-minimal), as check runs and suites list them."""
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    mini_repo = {"id": repo_rec["id"], "url": u, "name": repo_rec["name"]}
    out = []
    for pr in sorted(repo_rec["pulls"].values(), key=lambda p: p["number"]):
        if pr["head_sha"] == sha and repo_rec["issues"][str(pr["number"])]["state"] == "open":
            out.append({
                "id": pr["id"], "number": pr["number"], "url": f"{u}/pulls/{pr['number']}",
                "head": {"ref": pr["head_ref"], "sha": pr["head_sha"], "repo": mini_repo},
                "base": {"ref": pr["base_ref"], "sha": pr["base_sha"], "repo": mini_repo},
            })
    return out


def check_suite(store: Store, repo_rec: J, suite: J, git: GitRepo) -> J:
    runs = [r for r in repo_rec["check_runs"].values() if r["suite_id"] == suite["id"]]
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    info = git.commit(suite["head_sha"])
    st, concl = suite_state(runs)
    return {
        "id": suite["id"],
        "node_id": node_id("CS", suite["id"]),
        "head_branch": suite.get("head_branch"),
        "head_sha": suite["head_sha"],
        "status": st,
        "conclusion": concl,
        "url": f"{u}/check-suites/{suite['id']}",
        "before": suite.get("before"),
        "after": suite.get("after"),
        "pull_requests": pulls_for_sha(repo_rec, suite["head_sha"]),
        "app": app_by_id(store, suite["app_id"]),
        "repository": minimal_repo(store, repo_rec),
        "created_at": suite["created_at"],
        "updated_at": suite.get("updated_at", suite["created_at"]),
        "head_commit": {
            "id": info.sha,
            "tree_id": info.tree,
            "message": info.message.rstrip("\n"),
            "timestamp": info.committer.date,
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
        },
        "latest_check_runs_count": len(runs),
        "check_runs_url": f"{u}/check-suites/{suite['id']}/check-runs",
        "rerequestable": True,
        "runs_rerequestable": True,
    }


def suite_state(runs: list[J]) -> tuple[str, str | None]:
    """A suite is completed when all its runs are; its conclusion is the worst of theirs."""
    if not runs:
        return "queued", None
    if any(r["status"] != "completed" for r in runs):
        return ("in_progress" if any(r["status"] == "in_progress" for r in runs) else "queued"), None
    order = ["action_required", "cancelled", "timed_out", "failure", "stale", "neutral", "skipped", "success"]
    concl = min((r["conclusion"] for r in runs), key=lambda c: order.index(c) if c in order else 0)
    return "completed", concl


def check_run(store: Store, repo_rec: J, run: J) -> J:
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    out = run.get("output") or {}
    return {
        "id": run["id"],
        "head_sha": run["head_sha"],
        "node_id": node_id("CR", run["id"]),
        "external_id": run.get("external_id") or "",
        "url": f"{u}/check-runs/{run['id']}",
        "html_url": f"{web_base()}/{full}/runs/{run['id']}",
        "details_url": run.get("details_url") or f"{web_base()}/{full}/runs/{run['id']}",
        "status": run["status"],
        "conclusion": run.get("conclusion"),
        "started_at": run.get("started_at"),
        "completed_at": run.get("completed_at"),
        "output": {
            "title": out.get("title"),
            "summary": out.get("summary"),
            "text": out.get("text"),
            "annotations_count": len(run.get("annotations") or out.get("annotations") or []),
            "annotations_url": f"{u}/check-runs/{run['id']}/annotations",
        },
        "name": run["name"],
        "check_suite": {"id": run["suite_id"]},
        "app": app_by_id(store, run["app_id"]),
        "pull_requests": pulls_for_sha(repo_rec, run["head_sha"]),
    }


def annotation(repo_rec: J, run: J, ann: J) -> J:
    """check-annotation."""
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "path": ann.get("path", ""),
        "start_line": ann.get("start_line", 0),
        "end_line": ann.get("end_line", 0),
        "start_column": ann.get("start_column"),
        "end_column": ann.get("end_column"),
        "annotation_level": ann.get("annotation_level"),
        "title": ann.get("title"),
        "message": ann.get("message"),
        "raw_details": ann.get("raw_details"),
        "blob_href": f"{web_base()}/{full}/blob/{run['head_sha']}/{ann.get('path', '')}",
    }


# --- collaborators, teams ----------------------------------------------------------------------
ROLE_TO_PERMISSIONS = {
    "admin": dict(admin=True, maintain=True, push=True, triage=True, pull=True),
    "maintain": dict(admin=False, maintain=True, push=True, triage=True, pull=True),
    "write": dict(admin=False, maintain=False, push=True, triage=True, pull=True),
    "triage": dict(admin=False, maintain=False, push=False, triage=True, pull=True),
    "read": dict(admin=False, maintain=False, push=False, triage=False, pull=True),
}


def collaborator(store: Store, login: str, role: str) -> J:
    body = dict(user(store.user(login)) or {})
    body["permissions"] = ROLE_TO_PERMISSIONS[role]
    body["role_name"] = role
    return body


def team(store: Store, org_login: str, t: J, full: bool = False) -> J:
    u = f"{api_base()}/orgs/{org_login}/teams/{t['slug']}"
    body: J = {
        "id": t["id"],
        "node_id": node_id("T", t["id"]),
        "url": u,
        "html_url": f"{web_base()}/orgs/{org_login}/teams/{t['slug']}",
        "name": t["name"],
        "slug": t["slug"],
        "description": t.get("description"),
        "privacy": t.get("privacy", "closed"),
        "notification_setting": "notifications_enabled",
        "permission": t.get("permission", "pull"),
        "members_url": f"{u}/members{{/member}}",
        "repositories_url": f"{u}/repos",
        "parent": None,
        "type": "organization",
    }
    if full:
        org_rec = store.user(org_login)
        assert org_rec is not None
        body.update(
            members_count=len(t["members"]),
            repos_count=len(t["repos"]),
            created_at=t["created_at"],
            updated_at=t["created_at"],
            organization=org(store, org_rec, full=True),
        )
    return body


# --- deployments, hooks ------------------------------------------------------------------------
def deployment(store: Store, repo_rec: J, dep: J) -> J:
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "url": f"{u}/deployments/{dep['id']}",
        "id": dep["id"],
        "node_id": node_id("DE", dep["id"]),
        "sha": dep["sha"],
        "ref": dep["ref"],
        "task": dep["task"],
        "payload": dep["payload"],
        "original_environment": dep["environment"],
        "environment": dep["environment"],
        "description": dep.get("description"),
        "creator": user(store.user(dep["creator"])),
        "created_at": dep["created_at"],
        "updated_at": dep["updated_at"],
        "statuses_url": f"{u}/deployments/{dep['id']}/statuses",
        "repository_url": u,
        "transient_environment": dep.get("transient_environment", False),
        "production_environment": dep.get("production_environment", dep["environment"] == "production"),
    }


def deployment_status(store: Store, repo_rec: J, ds: J) -> J:
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "url": f"{u}/deployments/{ds['deployment_id']}/statuses/{ds['id']}",
        "id": ds["id"],
        "node_id": node_id("DES", ds["id"]),
        "state": ds["state"],
        "creator": user(store.user(ds["creator"])),
        "description": ds.get("description") or "",
        "environment": ds.get("environment") or "",
        # the description requires target_url to be a URI; without a log URL, point at the deployments page
        "target_url": ds.get("log_url") or f"{web_base()}/{repo_rec['owner']}/{repo_rec['name']}/deployments",
        **({"log_url": ds["log_url"]} if ds.get("log_url") else {}),
        **({"environment_url": ds["environment_url"]} if ds.get("environment_url") else {}),
        "created_at": ds["created_at"],
        "updated_at": ds["created_at"],
        "deployment_url": f"{u}/deployments/{ds['deployment_id']}",
        "repository_url": u,
    }


def hook(repo_rec: J, h: J) -> J:
    u = f"{api_base()}/repos/{repo_rec['owner']}/{repo_rec['name']}/hooks/{h['id']}"
    config = {k: v for k, v in h["config"].items() if k != "secret"}
    if h["config"].get("secret"):
        config["secret"] = "********"
    return {
        "type": "Repository",
        "id": h["id"],
        "name": "web",
        "active": h.get("active", True),
        "events": h["events"],
        "config": config,
        "updated_at": h.get("updated_at", h["created_at"]),
        "created_at": h["created_at"],
        "url": u,
        "test_url": f"{u}/test",
        "ping_url": f"{u}/pings",
        "deliveries_url": f"{u}/deliveries",
        "last_response": h.get("last_response", {"code": None, "status": "unused", "message": None}),
    }


def delivery_item(d: J) -> J:
    return {
        "id": d["id"],
        "guid": d["guid"],
        "delivered_at": d["delivered_at"],
        "redelivery": d["redelivery"],
        "duration": d["duration"],
        "status": d["status"],
        "status_code": d["status_code"],
        "event": d["event"],
        "action": d["action"],
        "installation_id": d["installation_id"],
        "repository_id": d["repository_id"],
        "throttled_at": None,
    }


def delivery(d: J) -> J:
    body = delivery_item(d)
    body["url"] = d.get("url")
    body["request"] = {"headers": d["request_headers"], "payload": d["payload"]}
    body["response"] = {"headers": d.get("response_headers", {}), "payload": d.get("response_body")}
    return body


def stamp() -> str:
    return now_iso()
