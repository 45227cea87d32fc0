"""Run a composite action's steps the way the GitHub runner does, without a runner.

What it does, step by step, like the runner:

- reads `action.yml`, fills `inputs` from the caller and the declared defaults (defaults may hold
  `${{ github.token }}` and the like);
- evaluates `if:` (default `success()`), and `${{ }}` in `env:`, `with:`, `working-directory:` and
  the action's `outputs:`, over the contexts `inputs`, `github`, `runner`, `env`, `steps`;
- runs each `run:` step with `bash --noprofile --norc -eo pipefail {file}` (GitHub's bash) and the
  environment the runner builds: the job's variables, what earlier steps appended to GITHUB_ENV
  and GITHUB_PATH, the step's `env:`, GITHUB_ACTION_PATH, a fresh GITHUB_OUTPUT per step, and the
  job's GITHUB_STEP_SUMMARY; then reads `name=value` and `name<<DELIM` outputs;
- does not run `uses:` steps of other actions: it asserts they are pinned to a full commit SHA and
  records their evaluated `with:` (a test can pass a hook to imitate one, e.g. upload-artifact).

Like the runner (and unlike JavaScript actions), composite actions get no INPUT_* variables
for free: an action that needs an input in a script maps it through `env:`. The harness refuses
`${{ }}` inside `run:` outright, the rule zizmor enforces too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


class HarnessError(AssertionError):
    """The action broke a rule the runner (or our security bar) enforces."""


# ----------------------------------------------------------------------------- expressions


_TOKEN = re.compile(r"""\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')
                        |(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
                        |(?P<name>[A-Za-z_][A-Za-z0-9_-]*))""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise HarnessError(f"cannot parse expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(v: Any) -> bool:
    return not (v is None or v is False or v == 0 or v == "")


def _num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else 0.0
        except ValueError:
            return float("nan")
    return float("nan")


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if type(a) is type(b) or (a is None and b is None):
        return a == b
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a is b
    return _num(a) == _num(b)


def to_string(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


class Evaluator:
    """GitHub's expression language, enough of it: literals, contexts, ! == != < > && || and the
    functions always success failure cancelled contains startsWith endsWith format join toJSON fromJSON."""

    def __init__(self, contexts: dict[str, Any], status: Callable[[], str] = lambda: "success") -> None:
        self.contexts = contexts
        self.status = status

    def evaluate(self, text: str) -> Any:
        self.toks = _tokens(text)
        self.i = 0
        value = self._or()
        if self.i != len(self.toks):
            raise HarnessError(f"unexpected {self.toks[self.i][1]!r} in expression {text!r}")
        return value

    def _peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise HarnessError("expression ends too early")
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise HarnessError(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._cmp()
        while self._peek() == "&&":
            self._take()
            right = self._cmp()
            left = right if _truthy(left) else left
        return left

    def _cmp(self) -> Any:
        left = self._unary()
        op = self._peek()
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self._take()
            right = self._unary()
            if op == "==":
                return _eq(left, right)
            if op == "!=":
                return not _eq(left, right)
            a, b = _num(left), _num(right)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind != "name":
            raise HarnessError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == "(":
            self._take("(")
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take(",")
            self._take(")")
            return self._call(text, args)
        if text not in self.contexts:
            raise HarnessError(f"unknown context {text!r} (the runner would refuse this expression)")
        return self.contexts[text]

    def _postfix(self, value: Any) -> Any:
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                _kind, name = self._take()
                if name == "*":
                    value = list(value.values()) if isinstance(value, dict) else []
                    continue
                value = _get(value, name)
            else:
                key = self._or()
                self._take("]")
                value = _get(value, key)
        return value

    def _call(self, name: str, args: list[Any]) -> Any:
        lname = name.lower()
        if lname == "always":
            return True
        if lname == "success":
            return self.status() == "success"
        if lname == "failure":
            return self.status() == "failure"
        if lname == "cancelled":
            return False
        if lname == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_eq(x, needle) for x in hay)
            return to_string(needle).lower() in to_string(hay).lower()
        if lname == "startswith":
            return to_string(args[0]).lower().startswith(to_string(args[1]).lower())
        if lname == "endswith":
            return to_string(args[0]).lower().endswith(to_string(args[1]).lower())
        if lname == "format":
            out = to_string(args[0])
            for i, a in enumerate(args[1:]):
                out = out.replace("{" + str(i) + "}", to_string(a))
            return out
        if lname == "join":
            sep = to_string(args[1]) if len(args) > 1 else ","
            return sep.join(to_string(x) for x in args[0]) if isinstance(args[0], list) else to_string(args[0])
        if lname == "tojson":
            return json.dumps(args[0], indent=2)
        if lname == "fromjson":
            return json.loads(to_string(args[0]))
        raise HarnessError(f"function {name}() is not supported by the harness")


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        lowered = {str(k).lower(): v for k, v in value.items()}
        return lowered.get(str(key).lower())
    if isinstance(value, list) and isinstance(key, int | float) and 0 <= int(key) < len(value):
        return value[int(key)]
    return None


def substitute(text: Any, ev: Evaluator) -> Any:
    """`${{ expr }}` in a string → its value as text (a whole-string expression keeps its type)."""
    if not isinstance(text, str):
        return text
    whole = _EXPR.fullmatch(text.strip())
    if whole and text.strip() == text:
        return ev.evaluate(whole.group(1))
    return _EXPR.sub(lambda m: to_string(ev.evaluate(m.group(1))), text)


def evaluate_if(cond: Any, ev: Evaluator) -> bool:
    if cond is None:
        return ev.status() == "success"
    if isinstance(cond, bool):
        return cond
    text = str(cond).strip()
    m = _EXPR.fullmatch(text)
    if m:
        text = m.group(1)
    # Like the runner: a condition without a status function implies success() && (...)
    if not re.search(r"\b(always|success|failure|cancelled)\s*\(", text):
        text = f"success() && ({text})"
    return _truthy(ev.evaluate(text))


# ----------------------------------------------------------------------------- running an action


@dataclass
class StepRecord:
    id: str
    name: str
    kind: str  # run | uses
    outcome: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    uses: str = ""
    with_: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionRun:
    action: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    steps: list[StepRecord]
    summary: str
    env_file: dict[str, str]
    path_entries: list[str]
    warnings: list[str]

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    @property
    def exit_code(self) -> int:
        """Exit code of the first failing step (0 when every step succeeded)."""
        return next((s.returncode or 1 for s in self.steps if s.outcome == "failure"), 0)

    def step(self, step_id: str) -> StepRecord:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.outcome}]\n{s.stdout}{s.stderr}" for s in self.steps)

    def uses_steps(self) -> list[StepRecord]:
        return [s for s in self.steps if s.kind == "uses"]


UsesHook = Callable[[dict[str, Any], "Harness"], dict[str, str]]


def parse_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV syntax: `name=value` lines and `name<<DELIM … DELIM` blocks."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise HarnessError(f"unterminated {name}<<{delim} block in {path.name}")
            i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise HarnessError(f"malformed line in {path.name}: {line!r}")
    return out


class Harness:
    """One job: a workspace, RUNNER_TEMP, the job's env files, and the contexts actions see."""

    def __init__(self, workspace: Path, runner_temp: Path, github: dict[str, Any], env: dict[str, str] | None = None,
                 uses_hooks: dict[str, UsesHook] | None = None) -> None:
        self.workspace = workspace
        self.runner_temp = runner_temp
        runner_temp.mkdir(parents=True, exist_ok=True)
        self.github = dict(github)
        self.github.setdefault("workspace", str(workspace))
        self.job_env: dict[str, str] = dict(env or {})
        self.env_file_values: dict[str, str] = {}
        self.path_entries: list[str] = []
        self.summary_file = runner_temp / "_step_summary.md"
        self.summary_file.write_text("")
        self.uses_hooks = uses_hooks or {}
        event_path = runner_temp / "_event.json"
        event_path.write_text(json.dumps(self.github.get("event", {})))
        self.event_path = event_path

    # the variables the runner sets for every step
    def base_env(self) -> dict[str, str]:
        g = self.github
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": g.get("repository", ""),
            "GITHUB_REPOSITORY_OWNER": g.get("repository", "/").split("/")[0],
            "GITHUB_EVENT_NAME": g.get("event_name", ""),
            "GITHUB_EVENT_PATH": str(self.event_path),
            "GITHUB_SHA": g.get("sha", ""),
            "GITHUB_REF": g.get("ref", ""),
            "GITHUB_API_URL": g.get("api_url", ""),
            "GITHUB_SERVER_URL": g.get("server_url", "https://github.com"),
            "GITHUB_RUN_ID": str(g.get("run_id", "1")),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_STEP_SUMMARY": str(self.summary_file),
            "GITHUB_ENV": str(self.runner_temp / "_env"),
            "GITHUB_PATH": str(self.runner_temp / "_path"),
            "RUNNER_TEMP": str(self.runner_temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        env.update(self.job_env)
        env.update(self.env_file_values)
        if self.path_entries:
            env["PATH"] = os.pathsep.join([*reversed(self.path_entries), env["PATH"]])
        return env

    def run_action(self, action_dir: Path, inputs: dict[str, str] | None = None) -> ActionRun:
        action_dir = action_dir.resolve()
        spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
        if (spec.get("runs") or {}).get("using") != "composite":
            raise HarnessError(f"{action_dir} is not a composite action")
        declared = spec.get("inputs") or {}
        given = dict(inputs or {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise HarnessError(f"unexpected inputs {unknown} for {action_dir.name} (declared: {sorted(declared)})")
        warnings = [f"required input {k!r} not given" for k, d in declared.items()
                    if (d or {}).get("required") and k not in given and "default" not in (d or {})]
        github_ctx = {**self.github, "action_path": str(action_dir)}
        contexts: dict[str, Any] = {"github": github_ctx, "runner": {"temp": str(self.runner_temp), "os": "Linux",
                                                                      "arch": "X64"},
                                    "env": {}, "steps": {}, "job": {"status": "success"}}
        ev = Evaluator(contexts)
        resolved: dict[str, str] = {}
        for name, d in declared.items():
            if name in given:
                resolved[name] = given[name]
            else:
                resolved[name] = to_string(substitute(str((d or {}).get("default", "")), ev))
        contexts["inputs"] = resolved
        status = {"value": "success"}
        ev = Evaluator(contexts, status=lambda: status["value"])
        records: list[StepRecord] = []
        for index, step in enumerate(spec["runs"]["steps"]):
            step_id = step.get("id") or f"__{index}"
            name = step.get("name") or step.get("uses") or step_id
            contexts["env"] = {**self.base_env()}
            if not evaluate_if(step.get("if"), ev):
                records.append(StepRecord(step_id, name, "uses" if "uses" in step else "run", "skipped"))
                contexts["steps"][step_id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            step_env = {k: to_string(substitute(str(v), ev)) for k, v in (step.get("env") or {}).items()}
            if "uses" in step:
                rec = self._uses(step, step_id, name, ev)
            else:
                rec = self._run(step, step_id, name, ev, step_env, action_dir)
            records.append(rec)
            contexts["steps"][step_id] = {"outputs": rec.outputs, "outcome": rec.outcome, "conclusion": rec.outcome}
            if rec.outcome == "failure" and not step.get("continue-on-error"):
                status["value"] = "failure"
        outputs = {k: to_string(substitute(str((d or {}).get("value", "")), ev))
                   for k, d in (spec.get("outputs") or {}).items()}
        return ActionRun(action_dir.name, resolved, outputs, records, self.summary_file.read_text(encoding="utf-8"),
                         dict(self.env_file_values), list(self.path_entries), warnings)

    def _uses(self, step: dict[str, Any], step_id: str, name: str, ev: Evaluator) -> StepRecord:
        uses = str(step["uses"])
        with_ = {k: substitute(str(v), ev) for k, v in (step.get("with") or {}).items()}
        if not uses.startswith("./") and not PINNED.match(uses.split()[0]):
            raise HarnessError(f"step {name!r}: {uses} is not pinned to a full commit SHA")
        outputs: dict[str, str] = {}
        action = uses.split("@")[0]
        hook = self.uses_hooks.get(action)
        if hook:
            outputs = hook(with_, self) or {}
        return StepRecord(step_id, name, "uses", "success", outputs, uses=uses, with_=with_)

    def _run(self, step: dict[str, Any], step_id: str, name: str, ev: Evaluator, step_env: dict[str, str],
             action_dir: Path) -> StepRecord:
        script = str(step["run"])
        if _EXPR.search(script):
            raise HarnessError(f"step {name!r} has ${{{{ }}}} inside run: (template injection); use env:")
        shell = step.get("shell")
        if shell != "bash":
            raise HarnessError(f"step {name!r}: composite run steps need shell: bash (got {shell!r})")
        output_file = self.runner_temp / f"_output_{uuid.uuid4().hex}"
        output_file.write_text("")
        env_file = self.runner_temp / "_env"
        path_file = self.runner_temp / "_path"
        env_file.write_text("")
        path_file.write_text("")
        env = {**self.base_env(), **step_env, "GITHUB_OUTPUT": str(output_file),
               "GITHUB_ACTION_PATH": str(action_dir), "GITHUB_ACTION": step_id}
        script_file = self.runner_temp / f"_script_{uuid.uuid4().hex}.sh"
        script_file.write_text(script)
        cwd = self.workspace
        if step.get("working-directory"):
            cwd = self.workspace / to_string(substitute(str(step["working-directory"]), ev))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        outputs = parse_outputs(output_file)
        self.env_file_values.update(parse_outputs(env_file))
        self.path_entries += [p for p in path_file.read_text().splitlines() if p.strip()]
        return StepRecord(step_id, name, "run", "success" if proc.returncode == 0 else "failure", outputs,
                          proc.returncode, proc.stdout, proc.stderr)


def upload_artifact_hook(with_: dict[str, Any], harness: Harness) -> dict[str, str]:
    """Imitate actions/upload-artifact: copy the files to RUNNER_TEMP/_artifacts/<name>/."""
    import shutil

    target = harness.runner_temp / "_artifacts" / to_string(with_.get("name"))
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for line in to_string(with_.get("path")).splitlines():
        src = Path(line.strip())
        if line.strip() and src.is_file():
            shutil.copy2(src, target / src.name)
            copied += 1
    if not copied and with_.get("if-no-files-found") == "error":
        raise HarnessError(f"upload-artifact: no files at {with_.get('path')!r}")
    return {"artifact-id": "1"}
