"""Publish gate results as GitHub check runs (`mlgate/<gate>`), and the glue the Actions call.

The check run of a gate carries:

- `output.summary`: `mlgate.checks.report.render_gate` of the gate, with a line naming the baseline;
- `output.text`: the results JSON (a `mlgate.results/v1` envelope holding that one gate), so the
  bot and later runs (baseline discovery) read the numbers back. When it does not fit GitHub's
  65,535-character limit, per-group rows and findings beyond a limit are dropped (metrics are
  always kept) and the envelope says `"truncated": true`; the full file is the run's artifact;
- annotations, in batches of 50 (GitHub takes at most 50 per request: the first batch goes with
  the create, the rest are appended with updates).

Conclusions: pass and warn → success (a warning passes; the title says "passed with warnings"),
fail and error → failure. Never `neutral`: the bot counts a gate as passing only on `success`.
When the token cannot write checks (a `pull_request` run from a fork gets a read-only token),
publishing is skipped with a message and the step does not fail on that account.

Command line (what the composite actions in `actions/` run; `mlgate publish …` in cli.py passes
its arguments here):

    mlgate publish config-ref                       # which commit's config judges this run
    mlgate publish gates --config FILE [--config-ref SHA]   # which gates that config enables
    mlgate publish baseline --gate G --out FILE     # find the base commit's results
    mlgate publish gate --gate G --results FILE …   # summary, outputs, (check run)
    mlgate publish tests --junit GLOB …             # the tests gate from JUnit XML
    mlgate publish results --results GLOB …         # verify results against the base config, publish
    mlgate publish report --results GLOB …          # one combined job summary

Everything about the run comes from the variables the runner sets (GITHUB_REPOSITORY,
GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REF, GITHUB_SHA, GITHUB_API_URL, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, …); the token from MLGATE_TOKEN (the action's `token` input). From any other
CI or a laptop (docs/any-ci.md) the same commands read MLGATE_REPOSITORY, MLGATE_SHA, MLGATE_REF,
MLGATE_GITHUB_URL (the API; default GitHub's) and MLGATE_PR (a PR number: the run is then that PR's,
read from the API, exactly as a `pull_request` run of the Actions) when the GITHUB_ ones are unset.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import glob
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import quote

from mlgate.checks.publish.baseline import BaselineChoice, find_baseline, short
from mlgate.checks.publish.config_ref import Resolved, plan, resolve
from mlgate.checks.publish.rest import GitHub, GitHubError, NoWriteAccess
from mlgate.checks.results import SCHEMA_ID, GateResult, RunResults, Status, error_result
from mlgate.names import CHECK_OUTPUT_LIMIT as CHECK_TEXT_LIMIT  # output.text and output.summary, in characters
from mlgate.names import CONFIG_PATH

ANNOTATION_BATCH = 50
MAX_ANNOTATIONS = 500  # beyond this, the summary and JSON still list everything
# The bot counts an mlgate/<gate> check as passing only on `success`: a skipped or neutral check judged
# nothing. A warning is a pass (its title says so), never `neutral`.
CONCLUSIONS = {Status.PASS: "success", Status.WARN: "success", Status.FAIL: "failure", Status.ERROR: "failure"}
_KEEP_STEPS = (200, 100, 50, 20, 5, 0)


# ----------------------------------------------------------------------------- the check run's output


def gate_envelope(results: RunResults, gate: GateResult) -> dict[str, Any]:
    """A results file holding just this gate (same versions and baseline block)."""
    one = RunResults(gates=[gate], versions=results.versions, baseline=results.baseline,
                     created_at=results.created_at)
    return one.to_dict()


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _rank(item: dict[str, Any], key: str) -> int:
    order = {"error": 3, "fail": 2, "warn": 1, "pass": 0, "info": 0}
    return -order.get(str(item.get(key, "")), 0)


def results_text(envelope: dict[str, Any], limit: int = CHECK_TEXT_LIMIT,
                 artifact: str | None = None) -> tuple[str, bool]:
    """The JSON for output.text, compacted when needed; (text, truncated)."""
    text = _dumps(envelope)
    if len(text) <= limit:
        return text, False
    for keep in _KEEP_STEPS:
        data = copy.deepcopy(envelope)
        kept: dict[str, Any] = {}
        for g in data.get("gates", []):
            groups, findings = g.get("groups", []), g.get("findings", [])
            # problems first, so what blocks survives the cut
            g["groups"] = sorted(groups, key=lambda r: _rank(r, "status"))[:keep]
            g["findings"] = sorted(findings, key=lambda f: _rank(f, "severity"))[:keep]
            for f in g["findings"]:
                f["examples"] = f.get("examples", [])[:5]
            if keep <= 50:
                g["details"] = {}
            kept[g["gate"]] = {"groups": [len(g["groups"]), len(groups)],
                               "findings": [len(g["findings"]), len(findings)], "details_dropped": keep <= 50}
        data["truncated"] = True
        data["truncation"] = {"kept": kept, "full_results": artifact or "the run's artifact",
                              "note": "per-group rows and findings beyond a limit were dropped; metrics are complete"}
        text = _dumps(data)
        if len(text) <= limit:
            return text, True
    # Still too long: the metrics themselves are too many. Keep what blocks, say so.
    data["gates"] = [{**g, "metrics": [m for m in g.get("metrics", []) if m.get("status") != "pass"]}
                     for g in data["gates"]]
    data["truncation"]["note"] = "passing metrics were dropped too; the artifact has everything"
    text = _dumps(data)
    return (text if len(text) <= limit else _dumps({k: v for k, v in data.items() if k != "gates"})), True


@dataclass
class Annotation:
    path: str
    start_line: int
    level: str  # notice | warning | failure
    message: str
    title: str = ""
    end_line: int | None = None
    raw_details: str = ""

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "start_line": self.start_line,
                               "end_line": self.end_line or self.start_line,
                               "annotation_level": self.level, "message": self.message[:4000]}
        if self.title:
            out["title"] = self.title[:255]
        if self.raw_details:
            out["raw_details"] = self.raw_details[:8000]
        return out


_LEVEL = {"warn": "warning", "fail": "failure", "error": "failure"}


def gate_annotations(gate: GateResult, config_path: str | None, config_lines: dict | None) -> list[Annotation]:
    """Failing metrics and findings, pinned to the config lines that set the limits they broke."""
    if not config_path:
        return []
    lines = config_lines or {}

    def line(*path: str) -> int:
        from mlgate.checks.config.yamlpos import line_of

        return line_of(lines, tuple(path)) or 1

    out: list[Annotation] = []
    for m in gate.metrics:
        if m.status in (Status.FAIL, Status.WARN, Status.ERROR):
            where = line(gate.gate, "metrics", m.name) if gate.gate == "quality" else line(gate.gate, "limits")
            value = "n/a" if m.value is None else f"{m.value:.4g}"
            sl = f" ({m.slice})" if m.slice and m.slice != "all" else ""
            out.append(Annotation(config_path, where, _LEVEL[m.status.value],
                                  f"{m.name}{sl} = {value}; limit {m.limit_text}" + (f"; {m.note}" if m.note else ""),
                                  title=f"mlgate/{gate.gate}: {m.name}{sl}"))
    for f in gate.findings:
        if f.severity in _LEVEL:
            out.append(Annotation(config_path, line(gate.gate), _LEVEL[f.severity], f.message,
                                  title=f"mlgate/{gate.gate}" + (f": {f.column}" if f.column else "")))
    return out


# ----------------------------------------------------------------------------- publishing


@dataclass
class Published:
    published: bool
    check_run_id: int | None = None
    html_url: str | None = None
    reason: str = ""
    calls: int = 0


def publish_check_run(gh: GitHub, *, name: str, sha: str, conclusion: str, title: str, summary: str, text: str,
                      annotations: list[Annotation] | None = None, details_url: str | None = None) -> Published:
    """Create a completed check run; append annotations beyond the first 50 with updates."""
    batches = [a.to_api() for a in (annotations or [])[:MAX_ANNOTATIONS]]
    chunks = [batches[i:i + ANNOTATION_BATCH] for i in range(0, len(batches), ANNOTATION_BATCH)] or [[]]
    external_id = f"mlgate-{uuid.uuid4()}"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def output(chunk: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"title": title[:255], "summary": summary[:CHECK_TEXT_LIMIT],
                               "text": text[:CHECK_TEXT_LIMIT]}
        if chunk:
            out["annotations"] = chunk
        return out

    body: dict[str, Any] = {"name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion,
                            "completed_at": now, "external_id": external_id, "output": output(chunks[0])}
    if details_url:
        body["details_url"] = details_url

    def recover() -> dict[str, Any] | None:
        """Did the create that got no answer take effect? Look for our external_id."""
        listing = gh.get(gh.repo_path(f"/commits/{sha}/check-runs"),
                         params={"check_name": name, "filter": "all", "per_page": 100})
        for run in (listing or {}).get("check_runs", []):
            if run.get("external_id") == external_id:
                return run
        return None

    run = gh.request("POST", gh.repo_path("/check-runs"), json=body, idempotent=False, write=True, recover=recover)
    calls = 1
    for chunk in chunks[1:]:
        gh.request("PATCH", gh.repo_path(f"/check-runs/{run['id']}"), json={"output": output(chunk)}, write=True)
        calls += 1
    return Published(True, run.get("id"), run.get("html_url"), calls=calls)


# ----------------------------------------------------------------------------- the run's context


@dataclass
class RunEnv:
    """What the runner tells a step about the run (all from environment variables)."""

    repository: str
    event_name: str
    event: dict[str, Any]
    sha: str
    ref: str
    api_url: str
    server_url: str
    run_id: str
    token: str | None
    workspace: Path
    output_file: str | None
    summary_file: str | None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> RunEnv:
        e = dict(os.environ if environ is None else environ)
        event: dict[str, Any] = {}
        path = e.get("GITHUB_EVENT_PATH")
        if path and Path(path).is_file():
            try:
                event = json.loads(Path(path).read_text(encoding="utf-8"))
            except ValueError:
                event = {}
        ref = e.get("GITHUB_REF") or e.get("MLGATE_REF") or ""
        if ref and not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}"  # another CI names the branch
        pr = (e.get("MLGATE_PR") or "").strip()
        return cls(repository=e.get("GITHUB_REPOSITORY") or e.get("MLGATE_REPOSITORY", ""),
                   event_name=e.get("GITHUB_EVENT_NAME", ""),
                   event=event, sha=e.get("GITHUB_SHA") or e.get("MLGATE_SHA", ""), ref=ref,
                   api_url=e.get("GITHUB_API_URL") or e.get("MLGATE_GITHUB_URL", ""),
                   extra={"pr": pr} if pr else {},
                   server_url=e.get("GITHUB_SERVER_URL", "https://github.com"), run_id=e.get("GITHUB_RUN_ID", ""),
                   token=e.get("MLGATE_TOKEN") or None, workspace=Path(e.get("GITHUB_WORKSPACE") or "."),
                   output_file=e.get("GITHUB_OUTPUT"), summary_file=e.get("GITHUB_STEP_SUMMARY"))

    def with_pull_request(self) -> RunEnv:
        """Outside GitHub Actions with MLGATE_PR set: the run is that PR's, as a `pull_request` run
        (its head is the tested commit, its base's config judges); read from the API."""
        number = self.extra.get("pr", "")
        if self.event or not number:
            return self
        if not number.isdigit() or not self.repository:
            _bad_input(f"MLGATE_PR must be a pull request number with MLGATE_REPOSITORY set, got {number!r}")
        try:
            pull = self.github().get(self.github().repo_path(f"/pulls/{int(number)}"))
        except GitHubError as exc:
            _bad_input(f"cannot read PR #{number} of {self.repository}: {exc}")
        return dataclasses.replace(self, event_name="pull_request", event={"pull_request": pull, "number": pull.get(
            "number")})

    def tested_sha(self, override: str | None = None) -> str:
        """The commit the check run belongs to: a PR's head (GITHUB_SHA is the merge commit there)."""
        if override:
            return override
        pr = self.event.get("pull_request")
        if isinstance(pr, dict) and (pr.get("head") or {}).get("sha"):
            return pr["head"]["sha"]
        return self.sha

    def fork_pr(self) -> str | None:
        """The fork's name when this is a pull_request run from a fork (read-only token)."""
        pr = self.event.get("pull_request")
        if self.event_name != "pull_request" or not isinstance(pr, dict):
            return None
        head = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
        base = ((pr.get("base") or {}).get("repo") or {}).get("full_name") or self.repository
        return head if head and head != base else None

    def run_url(self) -> str | None:
        if self.repository and self.run_id:
            return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"
        return None

    def github(self, log: Callable[[str], None] = print) -> GitHub:
        return GitHub(self.api_url, self.token, self.repository, log=log)

    def set_output(self, name: str, value: Any) -> None:
        text = "" if value is None else str(value)
        if not self.output_file:
            print(f"{name}={text}")
            return
        with open(self.output_file, "a", encoding="utf-8") as fh:
            if "\n" in text:
                delim = f"MLGATE_{uuid.uuid4().hex}"
                fh.write(f"{name}<<{delim}\n{text}\n{delim}\n")
            else:
                fh.write(f"{name}={text}\n")

    def add_summary(self, markdown: str) -> None:
        if self.summary_file:
            with open(self.summary_file, "a", encoding="utf-8") as fh:
                fh.write(markdown.rstrip("\n") + "\n\n")
        else:
            print(markdown)


def _bad_input(message: str) -> NoReturn:
    """One line on stderr and exit 2 (bad input, not a failed gate)."""
    print(f"mlgate publish: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _escape_command(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotate(level: str, message: str, title: str = "mlgate") -> None:
    """A workflow command (::error:: / ::warning:: / ::notice::) the runner shows on the run."""
    print(f"::{level} title={_escape_command(title).replace(',', '%2C').replace(':', '%3A')}::"
          f"{_escape_command(message)}", flush=True)


# ----------------------------------------------------------------------------- commands


FORK_REASON = (
    "this pull_request run comes from the fork {fork}, and GitHub gives such runs a read-only token, so {name} "
    "cannot be published here. The result is in the job summary and the artifact. The bot refuses /merge and "
    "/try for pull requests from forks unless the base config sets merge.allow_forks: true; otherwise a "
    "maintainer who has read the change pushes its commits to a branch of this repository and opens the pull "
    "request from there (docs/actions.md, \"Pull requests from forks\").")


def _publish_or_skip(env: RunEnv, enabled: bool, name: str, do: Callable[[GitHub], Published]) -> Published:
    if not enabled:
        return Published(False, reason="publishing is turned off (input publish: false)")
    if not env.repository:
        return Published(False, reason="GITHUB_REPOSITORY is not set: not running in GitHub Actions")
    fork = env.fork_pr()
    if fork:
        reason = FORK_REASON.format(fork=fork, name=name)
        annotate("notice", reason, f"{name} not published")
        return Published(False, reason=reason)
    if not env.token:
        reason = f"no token (input token is empty): {name} is not published"
        annotate("warning", reason, f"{name} not published")
        return Published(False, reason=reason)
    try:
        return do(env.github())
    except NoWriteAccess as exc:
        reason = (f"the token cannot write check runs ({exc}). Give the publishing job `permissions: checks: write`; "
                  f"runs from forks and Dependabot get read-only tokens, so there the result stays in the job "
                  f"summary and the artifact.")
        annotate("warning", reason, f"{name} not published")
        return Published(False, reason=reason)


def cmd_baseline(args: argparse.Namespace, env: RunEnv) -> int:
    gate, out = args.gate, Path(args.out)
    if args.baseline_file:
        path = Path(args.baseline_file)
        if not path.is_file():
            annotate("error", f"baseline file {path} not found (input baseline)", f"mlgate/{gate}")
            return 2
        note = f"Baseline: the file {args.baseline_file} (given as input baseline)."
        env.set_output("path", str(path))
        env.set_output("sha", "")
        env.set_output("note", note)
        print(note)
        return 0
    if args.discover != "true":
        note = "No baseline: discovery is turned off (input discover-baseline: false). Only absolute limits apply."
        choice = BaselineChoice(None, "", None, note)
    elif not env.repository:
        choice = BaselineChoice(None, "", None, "No baseline: not running in GitHub Actions (no GITHUB_REPOSITORY). "
                                                "Only absolute limits apply.")
    else:
        choice = find_baseline(env.github(), gate, event_name=env.event_name, event=env.event,
                               sha=env.tested_sha(args.sha), explicit_sha=args.baseline_sha or None, ref=env.ref)
    written = ""
    if choice.results is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(choice.results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written = str(out)
    env.set_output("path", written)
    env.set_output("sha", choice.sha or "")
    env.set_output("note", choice.note)
    print(choice.note)
    return 0


def _load_or_error(results_path: Path, gate: str, stderr_file: str | None, exit_code: int) -> RunResults:
    """The results mlgate wrote; when it wrote none (bad config, missing file …), an error result."""
    if results_path.is_file():
        try:
            data = json.loads(results_path.read_text(encoding="utf-8"))
            if data.get("schema") == SCHEMA_ID:
                return RunResults.from_dict(data)
        except ValueError:
            pass
    message = ""
    if stderr_file and Path(stderr_file).is_file():
        lines = [ln.strip() for ln in Path(stderr_file).read_text(encoding="utf-8", errors="replace").splitlines()]
        errors = [ln for ln in lines if ln.startswith("mlgate: error:")]
        message = (errors[-1].removeprefix("mlgate: error:").strip() if errors
                   else next((ln for ln in reversed(lines) if ln), ""))
    message = message or f"mlgate exited {exit_code} without writing results"
    from mlgate.checks.runner import mlgate_version

    return RunResults(gates=[error_result(gate, message)], versions={"mlgate": mlgate_version()},
                      baseline={"path": None, "git_sha": None, "note": ""})


def _config_lines(text: str | None, source: str) -> dict | None:
    if text is None:
        return None
    from mlgate.checks.config.yamlpos import load_with_lines

    try:
        return load_with_lines(text, source)[1]
    except Exception:  # an invalid config was already reported by mlgate itself
        return None


def _read_text(path: Path | None) -> str | None:
    if not path or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _repo_relative(path: Path, env: RunEnv) -> str:
    try:
        return path.resolve().relative_to(env.workspace.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _footer(env: RunEnv, artifact: str | None, truncated: bool) -> str:
    parts = []
    if env.run_url():
        parts.append(f"[workflow run]({env.run_url()})")
    if artifact:
        parts.append(f"full results JSON: artifact `{artifact}`")
    if truncated:
        parts.append("the JSON in this check run was shortened to fit (`\"truncated\": true`)")
    return ("\n\n<sub>" + " · ".join(parts) + "</sub>\n") if parts else ""


def check_title(gate: GateResult) -> str:
    """The check run's title; a warning passes (conclusion success) and the title says so."""
    if gate.status == Status.WARN:
        return f"{gate.status.icon} passed with warnings: {gate.summary}"
    return f"{gate.status.icon} {gate.summary}"


@dataclass
class Finished:
    gate: GateResult
    published: Published
    conclusion: str
    results_path: Path


def finish_gate(env: RunEnv, results: RunResults, gate_name: str, *, results_path: Path, baseline_note: str,
                baseline_sha: str | None, artifact: str | None, publish: bool, sha: str,
                annotations: list[Annotation] | None = None, config_display: str | None = None,
                config_text: str | None = None) -> Finished:
    """Write the results file and the job summary, then publish `mlgate/<gate>` (when `publish`).

    Annotations, when not given, point at the config lines that set the limits a metric broke:
    `config_display` is the config's path in the repository, `config_text` its content.
    """
    from mlgate.checks.report import render_gate

    gate = next((g for g in results.gates if g.gate == gate_name), None)
    if gate is None:
        gate = error_result(gate_name, f"the results hold no {gate_name} gate")
        results.gates.append(gate)
    if baseline_note:
        results.baseline = {**(results.baseline or {}), "note": baseline_note,
                            "git_sha": baseline_sha or (results.baseline or {}).get("git_sha"),
                            "source": "check run" if baseline_sha else (results.baseline or {}).get("source")}
    results.versions = {**(results.versions or {}), "check_sha": sha}
    envelope = gate_envelope(results, gate)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(envelope, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    text, truncated = results_text(envelope, artifact=artifact)
    footer = _footer(env, artifact, truncated)
    note = baseline_note or str((results.baseline or {}).get("note") or "")
    summary = render_gate(gate, baseline_note=note, budget=CHECK_TEXT_LIMIT - 2_000 - len(footer)) + footer
    env.add_summary(summary)
    name = f"mlgate/{gate_name}"
    conclusion = CONCLUSIONS[gate.status]
    if annotations is None:
        annotations = gate_annotations(gate, config_display, _config_lines(config_text, config_display or ""))
    title = check_title(gate)
    pub = _publish_or_skip(env, publish, name, lambda gh: publish_check_run(
        gh, name=name, sha=sha, conclusion=conclusion, title=title, summary=summary, text=text,
        annotations=annotations, details_url=env.run_url()))
    if pub.published:
        print(f"mlgate: published {name} on {short(sha)} ({conclusion}): {pub.html_url or pub.check_run_id}")
    else:
        print(f"mlgate: {name} not published: {pub.reason}")
    level = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}.get(gate.status)
    if level:
        annotate(level, gate.summary, f"{name}: {gate.status.value}")
    return Finished(gate, pub, conclusion, results_path)


def _gate_outputs(env: RunEnv, done: Finished) -> None:
    env.set_output("status", done.gate.status.value)
    env.set_output("conclusion", done.conclusion)
    env.set_output("results-path", str(done.results_path))
    env.set_output("summary", done.gate.summary)
    env.set_output("published", "true" if done.published.published else "false")
    env.set_output("check-run-id", done.published.check_run_id or "")
    env.set_output("check-run-url", done.published.html_url or "")


IN_JOB_RISK = ("mlgate: publishing from the job that ran the project's code: that code could have replaced "
               "mlgate or its results, and this job's token writes check runs. Publish from a separate job with "
               "actions/publish (docs/actions.md, \"What the workflow trusts\").")


def cmd_gate(args: argparse.Namespace, env: RunEnv) -> int:
    results_path = Path(args.results)
    results = _load_or_error(results_path, args.gate, args.stderr_file, args.exit_code)
    config = Path(args.config) if args.config else None
    publish = args.publish == "true"
    if publish:
        print(IN_JOB_RISK)
    try:
        done = finish_gate(env, results, args.gate, results_path=results_path,
                           baseline_note=args.baseline_note or "", baseline_sha=args.baseline_sha or None,
                           artifact=args.artifact or None, publish=publish, sha=env.tested_sha(args.sha),
                           config_display=_repo_relative(config, env) if config else None,
                           config_text=_read_text(config))
    except GitHubError as exc:
        annotate("error", f"could not publish mlgate/{args.gate}: {exc}", f"mlgate/{args.gate}")
        return 3
    _gate_outputs(env, done)
    return 0


def cmd_tests(args: argparse.Namespace, env: RunEnv) -> int:
    from mlgate.checks.gates.junit import parse_files, tests_gate
    from mlgate.checks.runner import mlgate_version

    project = Path(args.working_directory or ".").resolve()
    repo_root = env.workspace.resolve() if env.workspace else project
    patterns = [p for p in (args.junit or []) if p.strip()]
    files = sorted({Path(f) for p in patterns for f in glob.glob(p if os.path.isabs(p) else str(project / p),
                                                                 recursive=True)})
    summary, failed = parse_files(files, project, repo_root)
    gate = tests_gate(summary, failed, args.exit_code, args.command or "", patterns)
    annotations = [Annotation(t.path, t.line or 1, "failure", t.message or t.kind, title=t.test_id,
                              raw_details=t.details) for t in failed if t.path]
    # The annotations travel in the results, so the publish job (which has no checkout) can send them.
    gate.details = {**(gate.details or {}), "annotations": [a.to_api() for a in annotations]}
    results = RunResults(gates=[gate], versions={"mlgate": mlgate_version(), "git_sha": env.sha or None,
                                                 "junit": [str(f) for f in files]},
                         baseline={"path": None, "git_sha": None, "note": "the tests gate has no baseline"})
    publish = args.publish == "true"
    if publish:
        print(IN_JOB_RISK)
    try:
        done = finish_gate(env, results, "tests", results_path=Path(args.results), baseline_note="",
                           baseline_sha=None, artifact=args.artifact or None, publish=publish,
                           sha=env.tested_sha(args.sha), annotations=annotations)
    except GitHubError as exc:
        annotate("error", f"could not publish mlgate/tests: {exc}", "mlgate/tests")
        return 3
    _gate_outputs(env, done)
    return 0


def _read_results(patterns: list[str]) -> tuple[list[RunResults], list[str]]:
    """Results envelopes matching the globs; files that are not one are named, not fatal."""
    files = sorted({f for p in patterns for f in glob.glob(p, recursive=True) if os.path.isfile(f)})
    found: list[RunResults] = []
    skipped: list[str] = []
    for f in files:
        try:
            data = json.loads(Path(f).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            skipped.append(f)
            continue
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
            skipped.append(f)
            continue
        try:
            found.append(RunResults.from_dict(data))
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped.append(f)
    return found, skipped


GATE_ORDER = ["tests", "data", "quality", "bias", "skew", "regression", "features", "budget", "explain", "shadow"]


def _combine(runs: list[RunResults]) -> RunResults | None:
    gates: dict[str, GateResult] = {}
    versions: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    for run in runs:
        for g in run.gates:
            gates[g.gate] = g
        files_seen = {**versions.get("files", {}), **(run.versions.get("files") or {})}
        versions = {**versions, **run.versions, "files": files_seen}
        baseline = baseline or run.baseline
    if not gates:
        return None
    ordered = sorted(gates.values(), key=lambda g: (GATE_ORDER.index(g.gate) if g.gate in GATE_ORDER else 99,
                                                    g.gate))
    return RunResults(gates=ordered, versions=versions, baseline=baseline)


def _write_report(env: RunEnv, combined: RunResults, out: Path) -> None:
    from mlgate.checks.report import render_report

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(combined.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    env.add_summary(render_report(combined))
    env.set_output("status", combined.status.value)
    env.set_output("summary", combined.summary)
    env.set_output("results-path", str(out))
    print(f"{combined.status.icon} mlgate {combined.status.value}: {combined.summary}")


def cmd_report(args: argparse.Namespace, env: RunEnv) -> int:
    runs, _ = _read_results(args.results)
    combined = _combine(runs)
    if combined is None:
        annotate("error", f"no mlgate results found at {', '.join(args.results)}", "mlgate report")
        env.set_output("status", "error")
        env.set_output("results-path", "")
        return 2
    _write_report(env, combined, Path(args.out))
    return 0


def _config_ref(env: RunEnv, given: str) -> Resolved:
    if given:
        return Resolved(given, "given with --config-ref")
    gh = env.github() if env.repository else None
    return resolve(plan(env.event_name, env.event, env.ref, env.tested_sha()), gh)


def cmd_config_ref(args: argparse.Namespace, env: RunEnv) -> int:
    found = _config_ref(env, "")
    if found.sha is None:
        error = f"cannot tell which commit's config judges this run: {found.why}"
        annotate("error", error, "mlgate config")
        env.set_output("sha", "")
        env.set_output("why", found.why)
        env.set_output("error", error)
        return 2
    env.set_output("sha", found.sha)
    env.set_output("why", found.why)
    print(f"mlgate: the config of {found.sha} judges this run: {found.why}")
    return 0


def cmd_gates(args: argparse.Namespace, env: RunEnv) -> int:
    from mlgate.checks.config.models import load_config
    from mlgate.checks.errors import UserError
    from mlgate.checks.inputs.trusted import load_config_at

    try:
        if args.config_ref:
            gates = load_config_at(args.config, Path("."), args.config_ref).config.configured_gates()
        else:
            gates = load_config(args.config).configured_gates()
    except UserError as exc:
        annotate("error", str(exc), "mlgate config")
        return 2
    env.set_output("gates", json.dumps(gates))
    print("configured gates: " + (", ".join(gates) or "none"))
    return 0


def config_repo_path(config: str, working_directory: str) -> str | None:
    """The config's path in the repository (working-directory/config); None when it climbs out."""
    joined = os.path.normpath(os.path.join(working_directory or ".", config)).replace(os.sep, "/")
    if joined == ".." or joined.startswith("../") or PurePosixPath(joined).is_absolute():
        return None
    return joined


def fetch_base_config(gh: GitHub | None, path: str, ref: str | None) -> tuple[bytes | None, str | None]:
    """The config's raw bytes at `ref` through the contents API; (None, why) when it cannot be read."""
    if ref is None:
        return None, "the base commit is unknown"
    if gh is None:
        return None, "not running in GitHub Actions (no GITHUB_REPOSITORY): the base config cannot be read"
    try:
        item = gh.get(gh.repo_path(f"/contents/{quote(path, safe='/')}"), params={"ref": ref})
    except GitHubError as exc:
        if exc.status == 404:
            return None, f"{path} does not exist at {ref[:12]}"
        return None, f"could not read {path} at {ref[:12]}: {exc}"
    if not isinstance(item, dict) or item.get("type") != "file" or item.get("encoding") != "base64":
        kind = item.get("type") if isinstance(item, dict) else "directory"
        return None, f"{path} at {ref[:12]} is not a regular file ({kind})"
    try:
        return base64.b64decode(item.get("content") or ""), None
    except ValueError as exc:
        return None, f"{path} at {ref[:12]}: undecodable content ({exc})"


def _carried_annotations(gate: GateResult) -> list[Annotation]:
    """The annotations the tests job put in the gate's details; malformed entries are dropped."""
    out: list[Annotation] = []
    for a in (gate.details or {}).get("annotations") or []:
        try:
            level = str(a["annotation_level"])
            if level not in ("notice", "warning", "failure"):
                continue
            end = a.get("end_line")
            out.append(Annotation(str(a["path"]), int(a["start_line"]), level, str(a["message"]),
                                  title=str(a.get("title") or ""), end_line=int(end) if end else None,
                                  raw_details=str(a.get("raw_details") or "")))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def cmd_results(args: argparse.Namespace, env: RunEnv) -> int:
    """The publish job: verify each result against the base commit's config, then publish it."""
    from mlgate.checks.config.models import bytes_sha256, parse_config
    from mlgate.checks.errors import UserError
    from mlgate.checks.publish.verify import BaseConfig, verify

    ref = _config_ref(env, args.config_ref)
    path = config_repo_path(args.config, args.working_directory)
    raw: bytes | None = None
    problem: str | None = None
    gates: tuple[str, ...] = ()
    if path is None:
        problem = f"config {args.config!r} (in {args.working_directory!r}) is outside the repository"
    elif ref.sha is None:
        problem = f"cannot tell which commit's config judges this run: {ref.why}"
    else:
        raw, problem = fetch_base_config(env.github() if env.repository else None, path, ref.sha)
    text: str | None = None
    if raw is not None:
        try:
            text = raw.decode("utf-8")
            gates = tuple(parse_config(text, f"{path}@{short(ref.sha)}").configured_gates())
        except (UnicodeDecodeError, UserError) as exc:
            problem = f"the base config is invalid: {exc}"
    base = BaseConfig(path or args.config, ref.sha, bytes_sha256(raw) if raw is not None else None, gates, problem)
    print(f"mlgate: verifying against {base.path} at {short(ref.sha)} ({ref.why})"
          + (f": {problem}" if problem else f", {base.sha256}; gates: {', '.join(gates) or 'none'}"))
    runs, skipped = _read_results(args.results)
    for f in skipped:
        print(f"mlgate: {f} is not an mlgate results file; ignored")
    found: dict[str, RunResults] = {}
    for run in runs:
        for g in run.gates:
            found[g.gate] = RunResults(gates=[g], versions=dict(run.versions), baseline=dict(run.baseline),
                                       created_at=run.created_at)
    verdicts = verify(found, base, expect_tests=args.tests == "true")
    out_dir = Path(args.out).parent / "gates"
    published: list[RunResults] = []
    failed_api = False
    for v in verdicts:
        if v.refused:
            annotate("error", f"mlgate/{v.gate}: {v.refused}", f"mlgate/{v.gate} refused")
        tests_annotations = _carried_annotations(v.results.gates[0]) if v.gate == "tests" and not v.refused else None
        try:
            done = finish_gate(env, v.results, v.gate, results_path=out_dir / f"{v.gate}.json", baseline_note="",
                               baseline_sha=None, artifact=f"mlgate-{v.gate}", publish=args.publish == "true",
                               sha=env.tested_sha(args.sha), annotations=tests_annotations,
                               config_display=base.path if raw is not None else None, config_text=text)
        except GitHubError as exc:
            annotate("error", f"could not publish mlgate/{v.gate}: {exc}", f"mlgate/{v.gate}")
            failed_api = True
            continue
        published.append(RunResults(gates=[done.gate], versions=v.results.versions, baseline=v.results.baseline))
    combined = _combine(published)
    if combined is None:
        annotate("error", "nothing to publish: no gate is configured in the base config and no results were found",
                 "mlgate publish")
        env.set_output("status", "error")
        env.set_output("results-path", "")
        env.set_output("refused", "0")
        return 2
    _write_report(env, combined, Path(args.out))
    env.set_output("refused", str(sum(1 for v in verdicts if v.refused)))
    return 3 if failed_api else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlgate publish", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    cr = sub.add_parser("config-ref", help="which commit's config judges this run (output: sha, why)")
    cr.set_defaults(func=cmd_config_ref)

    b = sub.add_parser("baseline", help="find the base commit's results of a gate")
    b.add_argument("--gate", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--sha", default="")
    b.add_argument("--baseline-sha", default="")
    b.add_argument("--baseline-file", default="")
    b.add_argument("--discover", default="true", choices=["true", "false"])
    b.set_defaults(func=cmd_baseline)

    g = sub.add_parser("gate", help="job summary, outputs and (with --publish true) the check run of one gate")
    g.add_argument("--gate", required=True)
    g.add_argument("--results", required=True)
    g.add_argument("--exit-code", type=int, default=0)
    g.add_argument("--stderr-file", default="")
    g.add_argument("--config", default="")
    g.add_argument("--baseline-note", default="")
    g.add_argument("--baseline-sha", default="")
    g.add_argument("--artifact", default="")
    g.add_argument("--sha", default="")
    g.add_argument("--publish", default="false", choices=["true", "false"])
    g.set_defaults(func=cmd_gate)

    t = sub.add_parser("tests", help="the tests gate from JUnit XML")
    t.add_argument("--junit", action="append", default=[])
    t.add_argument("--exit-code", type=int, required=True)
    t.add_argument("--command", default="")
    t.add_argument("--working-directory", default=".")
    t.add_argument("--results", required=True)
    t.add_argument("--artifact", default="")
    t.add_argument("--sha", default="")
    t.add_argument("--publish", default="false", choices=["true", "false"])
    t.set_defaults(func=cmd_tests)

    v = sub.add_parser("results", help="verify results against the base commit's config and publish them")
    v.add_argument("--results", action="append", required=True, help="results JSON files (globs)")
    v.add_argument("--config", default=CONFIG_PATH, help="the config, relative to --working-directory")
    v.add_argument("--working-directory", default=".", help="the project's directory in the repository")
    v.add_argument("--config-ref", default="", help="the commit whose config judges (default: from the event)")
    v.add_argument("--tests", default="false", choices=["true", "false"], help="expect mlgate/tests results")
    v.add_argument("--out", required=True, help="where the combined results JSON goes")
    v.add_argument("--sha", default="")
    v.add_argument("--publish", default="true", choices=["true", "false"])
    v.set_defaults(func=cmd_results)

    r = sub.add_parser("report", help="one combined job summary from results files")
    r.add_argument("--results", action="append", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_report)

    c = sub.add_parser("gates", help="the gates a config enables, as a JSON list")
    c.add_argument("--config", required=True)
    c.add_argument("--config-ref", default="", help="read the config from this commit (see mlgate check)")
    c.set_defaults(func=cmd_gates)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args, RunEnv.from_environ().with_pull_request())


if __name__ == "__main__":
    sys.exit(main())
