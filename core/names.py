"""Every name mlgate writes to GitHub and later looks for again, and GitHub's size limits. Pure constants.

The bot (`mlgate.bot`) and the publishing code of the actions (`mlgate.checks.publish`) must agree
on these, and `mlgate.checks` never imports the bot, so they live here, at the root of the
namespace, where both may import them. A name changed here changes what both sides write and read.
"""

from __future__ import annotations

# --- check runs -------------------------------------------------------------------------------
SUMMARY_CHECK = "mlgate"  # the bot's own check run: all gates on one SHA; the one branch protection requires
GATE_PREFIX = "mlgate/"  # mlgate/<gate>: one check run per gate, published by the actions
BOT_EXTERNAL_ID = "mlgate"  # external_id of the bot's check runs: how token mode (no app id) finds its own

# --- the repository's config ------------------------------------------------------------------
CONFIG_PATH = ".github/mlgate.yml"  # read from the base branch, never from a PR head

# --- branches the merge queue owns --------------------------------------------------------------
STAGING_BRANCH_PREFIX = "mlgate/staging/"  # mlgate/staging/<base>: the batch under test
TRY_BRANCH_PREFIX = "mlgate/try/"  # mlgate/try/<PR number>: a /try build, never landed
TEMP_BRANCH_PREFIX = "mlgate/tmp/"  # mlgate/tmp/<build id>: where a staging commit is assembled


def staging_branch(base: str, slot: int = 0) -> str:
    """`mlgate/staging/<base>` for the first build of a base; with `merge.parallel` > 1 each further build
    in flight has its own ref, `mlgate/staging/<base>@<slot+1>` (a ref cannot be both a name and a
    folder, so not `<base>/<n>`), which CI's `mlgate/staging/**` filter matches too."""
    return f"{STAGING_BRANCH_PREFIX}{base}" if slot <= 0 else f"{STAGING_BRANCH_PREFIX}{base}@{int(slot) + 1}"


def staging_base(tail: str) -> str:
    """The base branch of a staging ref's tail (`main` or `main@2` -> `main`)."""
    name, at, slot = tail.rpartition("@")
    return name if at and name and slot.isdigit() else tail


def try_branch(number: int) -> str:
    return f"{TRY_BRANCH_PREFIX}{int(number)}"


def temp_branch(build_id: int) -> str:
    return f"{TEMP_BRANCH_PREFIX}{int(build_id)}"


# --- hidden markers in the bot's comments (HTML comments: invisible on GitHub) -------------------
REPORT_MARKER = "<!-- mlgate-report -->"  # the one report comment per PR, edited in place
REPLY_MARKER_PREFIX = "<!-- mlgate-reply:"  # a reply to comment <id>: posted once, even when retried
QUEUE_MARKER = "<!-- mlgate-queue -->"  # every merge-queue comment
DEPLOY_MARKER = "<!-- mlgate-deploy -->"  # deployment notices on the PRs of a deployed version
STATE_MARKER_PREFIX = "<!-- mlgate-state: "  # small JSON state the report keeps for the next evaluation
BOT_MARKERS = (REPORT_MARKER, REPLY_MARKER_PREFIX, QUEUE_MARKER)  # text the bot never obeys: it wrote it


def reply_marker(comment_id: int) -> str:
    """The hidden marker of the reply to comment `comment_id` (a retried delivery finds it and posts nothing)."""
    return f"{REPLY_MARKER_PREFIX}{int(comment_id)} -->"


# --- GitHub's size limits -----------------------------------------------------------------------
COMMENT_LIMIT = 65_536  # an issue comment's body
CHECK_OUTPUT_LIMIT = 65_535  # a check run's output.summary and output.text, each
