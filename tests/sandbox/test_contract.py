"""The contract suite itself: it knows every implemented operation, agrees with GitHub's own
example payloads, and catches a deliberately wrong response or payload."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import jsonschema
import pytest

from mlgate.sandbox import render
from mlgate.sandbox.api import operations
from mlgate.sandbox.harness import SandboxServer
from tests.conftest import github_webhook_examples
from tests.sandbox.conftest import uncovered_operations
from tests.sandbox.contract import FORMATS, Contract

EMITTED_EVENTS = {"pull_request", "pull_request_review", "issue_comment", "check_run", "check_suite", "status",
                  "push", "deployment", "deployment_status", "installation", "ping"}


def test_every_implemented_operation_is_in_githubs_description(contract: Contract) -> None:
    missing = [f"{m} {p}" for m, p in operations() if contract.operation(m, p) is None]
    assert missing == []
    assert len(operations()) == len(set(operations()))


def test_validator_accepts_githubs_own_webhook_examples(contract: Contract) -> None:
    """If GitHub's examples failed our validator, a failure would say nothing about the sandbox.

    The recorded examples predate some fields the schemas now require (``is_template``, ...) and use
    old timestamp formats, so missing required properties and formats are tolerated here; any
    other complaint means the validator is off.
    """
    checked = 0
    for group in github_webhook_examples():
        if group["name"] not in EMITTED_EVENTS:
            continue
        for example in group["examples"]:
            name = contract.definition_for(group["name"], example)
            if name is None:
                continue
            validator = jsonschema.Draft7Validator({"$ref": f"urn:webhooks#/definitions/{name}"},
                                                   registry=contract._webhook_registry, format_checker=FORMATS)
            leaves = _leaf_errors(validator.iter_errors(example))
            other = [e.message for e in leaves if e.validator not in ("required", "format")]
            assert other == [], (group["name"], example.get("action"), other[:3])
            checked += 1
    assert checked >= 15


def _leaf_errors(errors: Any) -> list[jsonschema.ValidationError]:
    """Errors with oneOf/anyOf branches flattened to the branch that got furthest."""
    out = []
    for err in errors:
        while err.context:
            err = max(err.context, key=lambda e: len(e.absolute_path))
        out.append(err)
    return out


def test_a_wrong_response_is_caught(contract: Contract, server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    server.push_files("alice", repo["name"], "w", {"w.txt": "1\n"}, "alice", base="main")
    pr = server.open_pr("alice", repo["name"], "w", "alice")
    template = "/repos/{owner}/{repo}/pulls/{pull_number}"
    assert contract.check_response("GET", template, 200, pr) == []
    wrong: dict[str, Any] = copy.deepcopy(pr)
    del wrong["head"]
    assert any("'head' is a required property" in str(v) for v in contract.check_response("GET", template, 200, wrong))
    wrong = copy.deepcopy(pr)
    wrong["number"] = "1"
    assert contract.check_response("GET", template, 200, wrong)
    assert contract.check_response("GET", template, 201, pr)  # undocumented success status
    assert contract.check_response("GET", "/repos/{owner}/{repo}/nonsense", 200, {})  # unknown operation
    assert contract.check_response("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", 204, {"x": 1})  # body on 204


def test_the_live_hook_fails_a_test_on_a_broken_serializer(contract: Contract, server: SandboxServer,  # type: ignore[no-untyped-def]
                                                           make_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo("alice")
    real = render.issue

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = real(*args, **kwargs)
        body["state"] = 3  # not a string
        return body

    monkeypatch.setattr(render, "issue", broken)
    server.api("POST", f"/repos/{repo['full_name']}/issues", "alice", json={"title": "t"})
    caught = contract.take()  # what the conftest hook would have turned into a failure
    assert any("POST /repos/{owner}/{repo}/issues -> 201" in str(v) and "state" in str(v) for v in caught)


def test_a_wrong_webhook_payload_is_caught(contract: Contract, server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, dict[str, Any]]] = []
    server.sandbox.dispatcher.observers.append(lambda event, payload: seen.append((event, payload)))
    try:
        repo = make_repo("alice")
        server.push_files("alice", repo["name"], "w", {"w.txt": "1\n"}, "alice", base="main")
        server.open_pr("alice", repo["name"], "w", "alice")
    finally:
        server.sandbox.dispatcher.observers.pop()
    example = next(p for e, p in seen if e == "pull_request" and p["action"] == "opened")
    assert contract.check_webhook("pull_request", example) == []
    bad = copy.deepcopy(example)
    bad["pull_request"]["sandbox_extra"] = True  # webhook objects allow no additional properties
    assert contract.check_webhook("pull_request", bad)
    bad = copy.deepcopy(example)
    del bad["sender"]
    assert contract.check_webhook("pull_request", bad)


def test_an_accepted_request_the_spec_forbids_is_caught(contract: Contract) -> None:
    template = "/repos/{owner}/{repo}/statuses/{sha}"
    assert contract.check_request("POST", template, {"state": "success", "context": "ci"}) == []
    assert contract.check_request("POST", template, {"state": "great"})  # not in the enum
    assert contract.check_request("POST", "/repos/{owner}/{repo}/pulls", {"title": "t"})  # head/base missing


def test_discriminators_choose_the_branch_and_its_required_fields(contract: Contract, server: SandboxServer) -> None:
    """GitHub's description picks public-user or private-user by ``user_view_type`` (an OpenAPI
    ``discriminator``, which JSON Schema alone ignores): the property must be there, name a mapped
    branch, and the body must satisfy that branch."""
    me = server.api("GET", "/user", "alice").json()
    other = server.api("GET", "/users/bob", "alice").json()
    assert me["user_view_type"] == "private" and other["user_view_type"] == "public"
    assert contract.check_response("GET", "/user", 200, me) == []
    assert contract.check_response("GET", "/users/{username}", 200, other) == []

    missing = {k: v for k, v in me.items() if k != "user_view_type"}
    assert any("user_view_type" in str(v) for v in contract.check_response("GET", "/user", 200, missing))
    unknown = {**other, "user_view_type": "admin"}
    assert contract.check_response("GET", "/users/{username}", 200, unknown)
    # A public profile that claims to be private lacks private-user's required fields.
    claims_private = {**other, "user_view_type": "private"}
    problems = contract.check_response("GET", "/users/{username}", 200, claims_private)
    assert any("is a required property" in str(v) for v in problems), problems
    # And a private profile labelled public carries fields public-user does not allow.
    assert contract.check_response("GET", "/user", 200, {**me, "user_view_type": "public"})


def test_every_discriminator_in_the_description_is_enforced(contract: Contract) -> None:
    """No discriminator is left for JSON Schema to ignore silently."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "discriminator" in node:
                found.append(path)
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(contract.spec, "")
    assert found == []
    assert contract.discriminators >= 4  # /user, /users/{username}, /user/{account_id}, contents


def test_the_coverage_check_names_every_operation_no_response_of_which_was_validated() -> None:
    everything = operations()
    assert len(uncovered_operations(Counter())) == len(everything) > 50
    one = everything[0]
    assert f"{one[0]} {one[1]}" not in uncovered_operations(Counter({one: 1}))
    assert uncovered_operations(Counter(dict.fromkeys(everything, 1))) == []
