"""The features gate: the feature registry stays true to the code and the code stays documented.

Static checks (always): every registry feature has the required fields (non-blank), its code
location and docs exist; features defined in code (found with `definition_pattern` in
`code_paths`) are registered, and registered features are defined somewhere in code.

Change check (with --base/--head): a change is `git diff base...head` — from the merge-base of
the two refs to head, i.e. what the pull request adds, not what landed on the base branch
meanwhile. A feature whose code the change touches must also have its registry entry changed
(parsed entry at the merge-base vs at head) or its docs file touched; otherwise the gate fails.
For a `path::symbol` location only changes within that symbol's lines count (Python files;
elsewhere any change to the file counts). A feature without `code:` is located by the files
where `definition_pattern` finds it.

`evaluate` is pure; `run` reads the registry, the working tree and git.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.checks.config.features import DEFAULT_DEFINITION_PATTERN, FeaturesConfig, Rule
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import gitdiff
from mlgate.checks.gates.feature_registry import (
    CodeLocation,
    Feature,
    Registry,
    has_wildcard,
    load_registry,
    normalize,
    parse_registry,
    path_matches,
    static_prefix,
)
from mlgate.checks.gates.limits import threshold_check
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.paths import confine
from mlgate.checks.results import Finding, GateResult, Metric, Status, finding_status

GATE = "features"

# Never walked unless a pattern names them explicitly: tool caches, virtualenvs, vendored packages.
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "venv"}
_MAX_EXAMPLES = 20

@dataclass
class CodeIndex:
    """What the working tree says about the features (computed by `index_code`)."""

    files: list[str] = field(default_factory=list)  # code files scanned
    definitions: dict[str, list[str]] = field(default_factory=dict)  # name -> ["path:line", …]
    location_problems: dict[str, str] = field(default_factory=dict)  # location text -> what is wrong
    docs: dict[str, str] = field(default_factory=dict)  # feature name -> docs that exist


@dataclass
class Changes:
    """What `git diff merge-base(base, head)..head` touched (computed by `collect_changes`)."""

    base: str
    head: str
    base_sha: str
    head_sha: str
    merge_base: str
    files: list[str]
    lines: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # head line ranges per file
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # "file::symbol" -> head lines
    base_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    head_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- the pure part -------------------------------------------------------------------------------


def evaluate(
    registry: Registry,
    changes: Changes | None,
    code_index: CodeIndex,
    cfg: FeaturesConfig,
    baseline: GateResult | None,
) -> GateResult:
    """Judge the registry against the code (and the change, when there is one). No I/O."""
    findings: list[Finding] = []
    metrics: list[Metric] = [Metric("features_total", len(registry.features)),
                             Metric("features_in_code", len(code_index.definitions))]
    src = registry.path

    for fld in cfg.require:
        lacking = [f for f in registry.features if f.field_value(fld) is None]
        metrics.append(threshold_check(f"missing_{fld}", len(lacking), "max", 0))
        if lacking:
            findings.append(_finding(
                "fail", f"{_n(len(lacking))} in {src} {_verb(len(lacking), 'has', 'have')} no {fld}: "
                        f"add a non-blank `{fld}:`",
                [f"{f.name} (line {f.line})" for f in lacking], f"features.missing_{fld}", fld))

    no_docs = [f for f in registry.features if f.name not in code_index.docs]
    _rule(cfg.missing_docs, "missing_docs", no_docs, findings, metrics,
          lambda n: f"{_n(n)} {_verb(n, 'has', 'have')} no docs: set `docs:` in {src} "
                    f"or add <name>.md under {', '.join(cfg.docs_paths)}",
          [f"{f.name}: {f.docs} does not exist" if f.docs else f.name for f in no_docs])

    broken = [(f, loc) for f in registry.features for loc in f.code if loc.text in code_index.location_problems]
    _rule(cfg.missing_code, "missing_code", sorted({f.name for f, _ in broken}), findings, metrics,
          lambda n: f"{_n(n)} {_verb(n, 'points', 'point')} at code that does not exist: "
                    f"fix `code:` in {src}",
          [f"{f.name}: {code_index.location_problems[loc.text]}" for f, loc in broken])

    unused = [f for f in registry.features if f.name not in code_index.definitions]
    hint = "" if code_index.definitions else " (no definitions found at all: check code_paths and definition_pattern)"
    _rule(cfg.unused, "unused", unused, findings, metrics,
          lambda n: f"{_n(n)} {_verb(n, 'is', 'are')} registered but never defined in code{hint}: "
                    f"remove from {src} or define in code",
          [f"{f.name} (line {f.line})" for f in unused])

    unregistered = sorted(set(code_index.definitions) - registry.names())
    _rule(cfg.unregistered, "unregistered", unregistered, findings, metrics,
          lambda n: f"{_n(n)} {_verb(n, 'is', 'are')} defined in code but missing from {src}: "
                    "add an entry with description and owner",
          [f"{name} ({', '.join(code_index.definitions[name][:3])})" for name in unregistered])

    if changes is None:
        findings.append(Finding("info", "change check skipped: no --base/--head refs given, so only the "
                                "registry and the code were checked", code="features.change_skipped"))
    else:
        _check_changes(registry, changes, code_index, cfg, findings, metrics)

    _attach_baseline(metrics, baseline)
    status = Status.worst([*(finding_status(f.severity) for f in findings), *(m.status for m in metrics)])
    details: dict[str, Any] = {"registry": src, "code_files": len(code_index.files),
                               # the feature list with owners, for the model card (mlgate card)
                               "features": [{"name": f.name, "owner": f.owner, "description": f.description}
                                            for f in registry.features]}
    if changes is not None:
        details["change"] = {"base": changes.base, "head": changes.head, "base_sha": changes.base_sha,
                             "head_sha": changes.head_sha, "merge_base": changes.merge_base,
                             "changed_files": len(changes.files)}
    return GateResult(GATE, status, _summary(status, registry, findings, changes),
                      metrics=metrics, findings=findings, details=details, baseline_used=baseline is not None)


def _check_changes(
    registry: Registry, changes: Changes, index: CodeIndex, cfg: FeaturesConfig,
    findings: list[Finding], metrics: list[Metric],
) -> None:
    touched: list[tuple[Feature, list[str]]] = []
    for feature in registry.features:
        files = touched_code(feature, changes, index)
        if files:
            touched.append((feature, files))
    undocumented = [
        (f, files) for f, files in touched
        if changes.base_entries.get(f.name) == changes.head_entries.get(f.name)
        and not _docs_touched(index.docs.get(f.name) or f.docs, changes.files)
    ]
    metrics.append(Metric("changed_features", len(touched)))
    _rule(cfg.changed_without_docs, "changed_without_docs", [f for f, _ in undocumented], findings, metrics,
          lambda n: f"{_n(n)} changed in {changes.base}...{changes.head} without a change to "
                    f"{_verb(n, 'its', 'their')} entry in {registry.path} or {_verb(n, 'its', 'their')} docs: "
                    "update the description or the docs",
          [f"{f.name}: {', '.join(files[:3])} changed; docs: {index.docs.get(f.name) or f.docs or 'none'}"
           for f, files in undocumented])
    if touched and not undocumented:
        its = _verb(len(touched), "its", "their")
        findings.append(_finding("info", f"{_n(len(touched))} changed with {its} registry entry or docs updated",
                                 [f.name for f, _ in touched], "features.changed"))
    findings.extend(Finding("info", note, code="features.change_note") for note in changes.notes)


def touched_code(feature: Feature, changes: Changes, index: CodeIndex) -> list[str]:
    """Changed files that touch this feature's code (within its symbol, when one is named)."""
    locations = feature.code or tuple(
        CodeLocation(where.rsplit(":", 1)[0]) for where in index.definitions.get(feature.name, [])
    )
    hits: list[str] = []
    for file in changes.files:
        for loc in locations:
            if not loc.matches(file):
                continue
            span = changes.spans.get(f"{file}::{loc.symbol}") if loc.symbol else None
            ranges = changes.lines.get(file)
            if span is None or ranges is None or any(a <= span[1] and b >= span[0] for a, b in ranges):
                hits.append(file)
                break
    return hits


def _docs_touched(docs: str | None, files: list[str]) -> bool:
    if not docs or _is_url(docs):
        return False
    return any(path_matches(docs, f) for f in files)


def _rule(
    rule: Rule, name: str, items: list[Any], findings: list[Finding], metrics: list[Metric],
    message: Callable[[int], str], examples: list[str],
) -> None:
    """Record a metric for a configurable check and, unless it is off, a finding when it fires."""
    if rule == "off":
        metrics.append(Metric(name, len(items), note="check is off"))
        return
    metrics.append(threshold_check(name, len(items), "max", 0, severity=rule))
    if items:
        findings.append(_finding(rule, message(len(items)), examples, f"features.{name}"))


def _finding(severity: str, message: str, examples: list[str], code: str, column: str | None = None) -> Finding:
    return Finding(severity, message, column=column, count=len(examples), examples=examples[:_MAX_EXAMPLES],
                   code=code)


def _attach_baseline(metrics: list[Metric], baseline: GateResult | None) -> None:
    """Show the base commit's counts next to ours; the features gate never judges by them."""
    if baseline is None:
        return
    for m in metrics:
        old = baseline.metric(m.name)
        if old is not None and old.value is not None and m.value is not None:
            m.baseline, m.delta = old.value, m.value - old.value


def _summary(status: Status, registry: Registry, findings: list[Finding], changes: Changes | None) -> str:
    blocking = [f for f in findings if finding_status(f.severity) == status and status != Status.PASS]
    if blocking:
        return "; ".join(f.message.split(": ")[0] for f in blocking[:3])
    scope = "change check skipped (no --base/--head)" if changes is None else \
        f"changes in {changes.base}...{changes.head} documented"
    return f"{len(registry.features)} features registered, described and owned; {scope}"


def _n(count: int) -> str:
    return f"{count} feature{'' if count == 1 else 's'}"


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


# --- the I/O part --------------------------------------------------------------------------------


def run(
    config: Any,
    ctx: RunContext,
    baseline: GateResult | None,
    *,
    base_ref: str | None = None,
    head_ref: str | None = None,
) -> GateResult:
    """Run the gate on `config.features`: read the registry and code, and the git diff when refs are given."""
    cfg: FeaturesConfig | None = getattr(config, "features", None)
    if cfg is None:
        raise ConfigError("no `features:` section in the config")
    registry = load_registry(ctx.record(cfg.registry), normalize(cfg.registry))
    _confine_registry(ctx.base_dir, registry, cfg.registry)
    index = index_code(ctx.base_dir, registry, cfg)
    changes = None
    if base_ref or head_ref:
        if not base_ref:
            raise InputError("--head needs --base: the change check compares base...head")
        changes = collect_changes(ctx.base_dir, registry, index, cfg, base_ref, head_ref or "HEAD")
    return evaluate(registry, changes, index, cfg, baseline)


def _confine_registry(base_dir: Path, registry: Registry, where: str) -> None:
    """The registry's code and docs paths stay inside the repository (checks/inputs/paths.py says why)."""
    for feature in registry.features:
        for loc in feature.code:
            confine(base_dir, f"feature {feature.name!r} code", loc.path, where=where)
        if feature.docs and not _is_url(feature.docs):
            confine(base_dir, f"feature {feature.name!r} docs", feature.docs, where=where)


def index_code(base_dir: Path, registry: Registry, cfg: FeaturesConfig) -> CodeIndex:
    """Scan the working tree: feature definitions, whether code locations and docs exist."""
    rx = re.compile(cfg.definition_pattern, re.MULTILINE)
    group: str | int = "name" if "name" in rx.groupindex else 1
    index = CodeIndex(files=walk(base_dir, cfg.code_paths))
    for rel in index.files:
        text = _read(base_dir / rel)
        for m in rx.finditer(text):
            name = m.group(group)
            if name:
                index.definitions.setdefault(name, []).append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}")
    by_stem: dict[str, str] = {}
    for rel in walk(base_dir, cfg.docs_paths):
        by_stem.setdefault(Path(rel).stem, rel)
    for feature in registry.features:
        for loc in feature.code:
            problem = _location_problem(base_dir, loc)
            if problem:
                index.location_problems[loc.text] = problem
        if feature.docs:
            if _is_url(feature.docs) or (base_dir / feature.docs).exists():
                index.docs[feature.name] = feature.docs
        elif feature.name in by_stem:
            index.docs[feature.name] = by_stem[feature.name]
    return index


def _location_problem(base_dir: Path, loc: CodeLocation) -> str | None:
    files = walk(base_dir, [loc.path]) if has_wildcard(loc.path) or (base_dir / loc.path).is_dir() else (
        [loc.path] if (base_dir / loc.path).is_file() else [])
    if not files:
        return f"{loc.path} does not exist" if not has_wildcard(loc.path) else f"no file matches {loc.path}"
    if loc.symbol and not any(_symbol_in(base_dir / f, loc.symbol) for f in files):
        return f"{loc.symbol} is not defined in {loc.path}"
    return None


def _symbol_in(path: Path, symbol: str) -> bool:
    text = _read(path)
    if path.suffix == ".py":
        return symbol_span(text, symbol) is not None
    return re.search(rf"\b{re.escape(symbol)}\b", text) is not None


def symbol_span(text: str, symbol: str) -> tuple[int, int] | None:
    """First and last line of a top-level (or dotted, `Class.method`) def, class or assignment."""
    try:
        body: list[ast.stmt] = ast.parse(text).body
    except (SyntaxError, ValueError):
        return None
    node: ast.stmt | None = None
    for part in symbol.split("."):
        node = next((n for n in body if part in _names(n)), None)
        if node is None:
            return None
        body = getattr(node, "body", [])
    assert node is not None
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start, node.end_lineno or node.lineno


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def walk(base_dir: Path, patterns: list[str]) -> list[str]:
    """Repository files (relative, '/'-separated) matching any pattern; skips hidden and vendored dirs."""
    found: set[str] = set()
    for pattern in patterns:
        prefix = static_prefix(pattern)
        start = base_dir / prefix if prefix else base_dir
        if start.is_file():
            if path_matches(pattern, prefix):
                found.add(prefix)
            continue
        for root, dirs, files in os.walk(start):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            rel_root = Path(root).relative_to(base_dir).as_posix()
            for name in files:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if path_matches(pattern, rel):
                    found.add(rel)
    return sorted(found)


def collect_changes(
    base_dir: Path, registry: Registry, index: CodeIndex, cfg: FeaturesConfig, base: str, head: str
) -> Changes:
    """Ask git what `base...head` changed: files, line ranges of symbol locations, registry entries."""
    base_sha, head_sha = gitdiff.resolve(base_dir, base), gitdiff.resolve(base_dir, head)
    mb = gitdiff.merge_base(base_dir, base_sha, head_sha)
    changes = Changes(base, head, base_sha, head_sha, mb, gitdiff.changed_files(base_dir, mb, head_sha))
    with_symbols = [loc for f in registry.features for loc in f.code if loc.symbol]
    need_lines: set[str] = set()
    for file in changes.files:
        for loc in with_symbols:
            if loc.matches(file) and file.endswith(".py"):
                need_lines.add(file)
                text = gitdiff.show(base_dir, head_sha, file)
                span = symbol_span(text, loc.symbol or "") if text is not None else None
                if span is not None:
                    changes.spans[f"{file}::{loc.symbol}"] = span
    changes.lines = gitdiff.changed_lines(base_dir, mb, head_sha, sorted(need_lines))
    reg_rel = normalize(os.path.relpath(base_dir / cfg.registry, base_dir))
    changes.base_entries = _entries_at(base_dir, mb, reg_rel, "the merge-base", changes.notes, strict=False)
    changes.head_entries = _entries_at(base_dir, head_sha, reg_rel, head, changes.notes, strict=True)
    return changes


def _entries_at(
    base_dir: Path, commit: str, rel: str, label: str, notes: list[str], *, strict: bool
) -> dict[str, dict[str, Any]]:
    """Registry entries at a commit; at the merge-base a missing or broken registry means 'all new'."""
    text = gitdiff.show(base_dir, commit, rel)
    if text is None:
        notes.append(f"{rel} does not exist at {label} ({commit[:12]}): every entry counts as new")
        return {}
    try:
        return {f.name: f.entry for f in parse_registry(text, f"{rel}@{commit[:12]}").features}
    except InputError as exc:
        if strict:
            raise
        notes.append(f"{rel} at {label} could not be read ({exc}): every entry counts as new")
        return {}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


__all__ = ["DEFAULT_DEFINITION_PATTERN", "Changes", "CodeIndex", "FeaturesConfig", "evaluate", "run"]
