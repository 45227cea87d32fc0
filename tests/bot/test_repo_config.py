"""The config as the bot reads it: from the base branch, validated, cached by blob SHA."""

from __future__ import annotations

import pytest

from mlgate.bot.pr.repo_config import CONFIG_PATH, ConfigCache, load_repo_config, push_touches_config
from tests.bot.fake_forge import FakeForge, blob_sha

GOOD = """\
review:
  rules:
    - name: training code
      paths: ["train.py"]
      users: [bob]
"""

# `approvls` is a typo on line 5: it must be named with its key path and line.
TYPO = """\
review:
  rules:
    - name: training code
      paths: ["train.py"]
      approvls: 2
"""


def test_missing_file_gives_defaults() -> None:
    forge = FakeForge()
    cfg = load_repo_config(forge, "acme/ml", "main")
    assert cfg.source == "defaults" and cfg.valid and cfg.blob_sha is None
    assert cfg.effective.review.rules == [] and cfg.effective.configured_gates() == []
    assert forge.reads == [("read_file", "acme/ml", CONFIG_PATH, "main")]


def test_valid_file_from_the_named_ref() -> None:
    forge = FakeForge()
    forge.put_file("acme/ml", "main", CONFIG_PATH, GOOD)
    forge.put_file("acme/ml", "topic", CONFIG_PATH, "review: {rules: []}\n")
    cfg = load_repo_config(forge, "acme/ml", "main")
    assert cfg.source == "file" and cfg.ref == "main" and cfg.blob_sha == blob_sha(GOOD)
    assert [r.name for r in cfg.effective.review.rules] == ["training code"]
    assert cfg.effective.review.rules[0].users == ["bob"]


def test_invalid_file_names_key_path_and_line() -> None:
    forge = FakeForge()
    forge.put_file("acme/ml", "main", CONFIG_PATH, TYPO)
    cfg = load_repo_config(forge, "acme/ml", "main")
    assert cfg.source == "invalid" and not cfg.valid and cfg.config is None
    assert cfg.error is not None
    assert "review.rules[0].approvls" in cfg.error or "review.rules.0.approvls" in cfg.error, cfg.error
    assert "line 5" in cfg.error and "unknown key" in cfg.error
    with pytest.raises(ValueError, match="invalid"):
        cfg.effective  # noqa: B018


def test_yaml_syntax_error_is_invalid_not_a_crash() -> None:
    forge = FakeForge()
    forge.put_file("acme/ml", "main", CONFIG_PATH, "review: [unclosed\n")
    cfg = load_repo_config(forge, "acme/ml", "main")
    assert cfg.source == "invalid" and cfg.error


def test_cache_parses_each_blob_once() -> None:
    forge, cache = FakeForge(), ConfigCache()
    forge.put_file("acme/ml", "main", CONFIG_PATH, GOOD)
    forge.put_file("acme/other", "main", CONFIG_PATH, GOOD)
    first = load_repo_config(forge, "acme/ml", "main", cache)
    second = load_repo_config(forge, "acme/other", "main", cache)
    assert cache.parses == 1 and first.config is second.config
    forge.put_file("acme/ml", "main", CONFIG_PATH, TYPO)
    assert load_repo_config(forge, "acme/ml", "main", cache).source == "invalid"
    assert load_repo_config(forge, "acme/ml", "main", cache).source == "invalid"
    assert cache.parses == 2


def test_cache_evicts_least_recently_used() -> None:
    cache = ConfigCache(max_entries=2)
    for text in ("version: 1\n", "review: {}\n", "merge: {}\n"):
        cache.parse(blob_sha(text), text)
    cache.parse(blob_sha("version: 1\n"), "version: 1\n")
    assert cache.parses == 4


def _push(*commits: dict, **extra: object) -> dict:
    return {"ref": "refs/heads/main", "deleted": False, "forced": False, "commits": list(commits), **extra}


def _commit(added: tuple[str, ...] = (), modified: tuple[str, ...] = (), removed: tuple[str, ...] = ()) -> dict:
    return {"added": list(added), "modified": list(modified), "removed": list(removed)}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (_push(_commit(modified=(CONFIG_PATH,))), True),
        (_push(_commit(added=(CONFIG_PATH,))), True),
        (_push(_commit(removed=(CONFIG_PATH,))), True),
        (_push(_commit(modified=("train.py",)), _commit(modified=(CONFIG_PATH,))), True),
        (_push(_commit(modified=("train.py", ".github/mlgate.yaml", "x/.github/mlgate.yml"))), False),
        (_push(_commit(modified=(CONFIG_PATH,)), ref="refs/tags/v1"), False),
        (_push(_commit(modified=(CONFIG_PATH,)), deleted=True), False),
        (_push(_commit(modified=("train.py",)), forced=True), True),  # a rewrite may have dropped a change
        (_push(forced=True), True),
        (_push(), False),
        (_push(_commit(modified=("a",)), size=30), True),  # more commits than listed
        (_push({"id": "abc"}), True),  # no file lists: cannot tell
    ],
)
def test_push_touches_config(payload: dict, expected: bool) -> None:
    assert push_touches_config(payload) is expected
