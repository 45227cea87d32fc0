"""The checks' commands: `mlgate check …`, `mlgate config validate`, `mlgate report`, `mlgate publish`.

The root command (mlgate.cli) loads this module only when one of them runs: it imports pandas.
Exit codes: 0 every gate passed (warnings allowed), 1 a gate failed, 2 bad input or config.
A user error prints one line naming the file, column or key, never a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from mlgate.checks import progress
from mlgate.checks.config.models import LIMIT_FILES, MlgateConfig, config_paths, config_sha256, load_config
from mlgate.checks.errors import ConfigError
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.paths import confine
from mlgate.checks.inputs.trusted import LoadedConfig, PinnedFiles, load_config_at, pin_limit_files
from mlgate.checks.report import render_report, verdict_line
from mlgate.checks.results import RunResults, Status, results_json
from mlgate.checks.runner import Baseline, read_results, run_gates

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]  # what click.option(...) returns


def _fail_usage(message: str) -> None:
    click.echo(f"mlgate: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


# ----------------------------------------------------------------------------- mlgate check


def _common_outputs(f: Callable) -> Callable:
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to mlgate.yml."),
        click.option("--config-ref", "config_ref", metavar="COMMIT",
                     help="Read --config, and the files it names that set limits (data.schema, "
                          "regression.baseline_predictions, budget.baseline_model, explain.baseline_model), from "
                          "this commit of the repository at --root "
                          "instead of the working tree (CI: the base commit, so a change cannot loosen its own "
                          "gates). Data, predictions and models still come from the working tree."),
        click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
                     help="Results JSON of the base branch to compare with."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results JSON here."),
        click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the Markdown report here ('-' for stdout)."),
        click.option("--root", type=click.Path(file_okay=False, exists=True), default=".",
                     help="Directory that relative paths in the config start from (default: current)."),
        click.option("--progress/--no-progress", "show_progress", default=None,
                     help="Progress (rows read, groups computed) on stderr [default: on when stderr is a "
                          "terminal and CI is unset]."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _prediction_options(f: Callable) -> Callable:
    options = [
        click.option("--predictions", help="Predictions table (CSV or Parquet)."),
        click.option("--label", help="Column with the true label."),
        click.option("--prediction", help="Column with the predicted class."),
        click.option("--score", help="Column with the score / probability of the positive class."),
        click.option("--timestamp", help="Column with the row's time (for the future-data slice)."),
        click.option("--id", "id_column", help="Column with a row id."),
        click.option("--positive-label", help="The label value that counts as positive (default 1)."),
        click.option("--threshold", type=float, help="Score threshold for the predicted class."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@click.group()
def check() -> None:
    """Run gates on data and predictions."""


@check.command("all")
@_common_outputs
@click.option("--base", "base_ref", help="Git ref of the base (for the features gate's change check).")
@click.option("--head", "head_ref", help="Git ref of the head (default: HEAD when --base is given).")
def check_all(config_path, config_ref, baseline_path, json_path, markdown_path, root, show_progress, base_ref,
              head_ref) -> None:
    """Run every gate configured in the config file."""
    if not config_path:
        _fail_usage("check all needs --config PATH")
    loaded = _load(config_path, config_ref, root)
    assert loaded is not None
    gates = loaded.config.configured_gates()
    if not gates:
        raise ConfigError("no gate is configured (add a data, quality, bias, skew, regression, features, budget, "
                          "explain or shadow section)", where=loaded.source)
    _run_and_report(loaded, loaded.config, gates, baseline_path, json_path, markdown_path, root,
                    base_ref=base_ref, head_ref=head_ref, show_progress=show_progress)


def _load(config_path: str | None, config_ref: str | None, root: str) -> LoadedConfig | None:
    """The config from the working tree, or from commit `config_ref`; its paths confined to --root."""
    if config_ref is not None and not config_path:
        _fail_usage("--config-ref needs --config PATH (the config file to read from that commit)")
    if not config_path:
        return None
    if config_ref is not None:
        loaded = load_config_at(config_path, Path(root), config_ref)
    else:
        loaded = LoadedConfig(load_config(config_path), config_sha256(config_path), config_path, config_path)
    shown_root = Path(root).resolve()
    for key, value in config_paths(loaded.config):
        # A limit file read from the commit is judged by its path there, not by a link in the checkout.
        follow = not (loaded.tree is not None and key in LIMIT_FILES)
        confine(shown_root, key, value, where=loaded.source, follow_symlinks=follow)
    return loaded


def _gate_command(name: str, extra: list[Decorator], build: Callable[[dict[str, Any], dict[str, Any]], None],
                  predictions: bool = False, help_text: str = "") -> None:
    """Register `mlgate check <name>`: config section (if any) overridden by flags."""

    def command(config_path, config_ref, baseline_path, json_path, markdown_path, root, show_progress,
                **flags) -> None:
        loaded = _load(config_path, config_ref, root)
        raw = loaded.config.model_dump(exclude_unset=True, by_alias=True, mode="python") if loaded else {}
        if predictions:
            _override_predictions(raw, flags)
        build(raw, flags)
        if raw.get(name) is None:
            hint = f"add a '{name}' section to the config" if config_path else "pass --config or the gate's flags"
            _fail_usage(f"the {name} gate is not configured: {hint}")
        config = _validate(raw, loaded.source if loaded else None)
        base_ref, head_ref = flags.get("base_ref"), flags.get("head_ref")
        _run_and_report(loaded, config, [name], baseline_path, json_path, markdown_path, root,
                        base_ref=base_ref, head_ref=head_ref, show_progress=show_progress)

    command.__doc__ = help_text
    for opt in reversed(extra):
        command = opt(command)
    if predictions:
        command = _prediction_options(command)
    command = _common_outputs(command)
    check.command(name)(command)


def _validate(raw: dict[str, Any], config_path: str | None) -> MlgateConfig:
    try:
        return MlgateConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in (first.get("ctx") or {}).get("at") or first["loc"])
        raise ConfigError(f"{where}: {first['msg']}", where=config_path or "command-line flags") from None


def _parse_scalar(text: str) -> Any:
    """'1' → 1, 'true' → True, 'Yes' → 'Yes': numbers as YAML reads them; of YAML 1.1's booleans
    only true/false (a flag is not YAML: whoever types --positive-label Yes means the text)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, bool) and text.strip().lower() not in ("true", "false"):
        return text
    return value if isinstance(value, str | int | float | bool) else text


def _override_predictions(raw: dict[str, Any], flags: dict[str, Any]) -> None:
    section = dict(raw.get("predictions") or {})
    mapping = {"predictions": "path", "label": "label", "prediction": "prediction", "score": "score",
               "timestamp": "timestamp", "id_column": "id", "threshold": "threshold"}
    for flag, key in mapping.items():
        if flags.get(flag) is not None:
            section[key] = flags[flag]
    if flags.get("predictions"):
        section.pop("model", None)
    if flags.get("positive_label") is not None:
        section["positive_label"] = _parse_scalar(flags["positive_label"])
    raw["predictions"] = section


def _section(raw: dict[str, Any], name: str, updates: dict[str, Any], *, create: bool) -> None:
    """Apply flag values to a section; create it from flags alone when `create` (and there is something to say)."""
    updates = {k: v for k, v in updates.items() if v not in (None, (), [])}
    if raw.get(name) is None and not create:
        return
    raw[name] = {**(raw.get(name) or {}), **updates}


def _build_quality(raw, flags):
    # Quality needs no flags of its own: predictions alone are enough to report every metric.
    has_predictions = bool((raw.get("predictions") or {}).get("path") or (raw.get("predictions") or {}).get("model"))
    _section(raw, "quality", {"task": flags.get("task")}, create=has_predictions)


def _build_bias(raw, flags):
    _section(raw, "bias", {"sensitive": list(flags.get("sensitive") or ()),
                           "min_group_size": flags.get("min_group_size")}, create=bool(flags.get("sensitive")))


def _build_data(raw, flags):
    _section(raw, "data", {"table": flags.get("table"), "schema": flags.get("schema")}, create=bool(flags.get("table")))


def _build_skew(raw, flags):
    _section(raw, "skew", {"training": flags.get("training"), "serving": flags.get("serving")},
             create=bool(flags.get("training") or flags.get("serving")))


def _build_regression(raw, flags):
    _section(raw, "regression", {"golden": flags.get("golden"),
                                 "baseline_predictions": flags.get("baseline_predictions"),
                                 "id": flags.get("golden_id")}, create=bool(flags.get("golden")))


def _build_features(raw, flags):
    _section(raw, "features", {"registry": flags.get("registry")},
             create=bool(flags.get("registry") or flags.get("base_ref")))


def _build_budget(raw, flags):
    latency = dict((raw.get("budget") or {}).get("latency") or {})
    if flags.get("latency_data"):
        latency["data"] = flags["latency_data"]
    _section(raw, "budget", {"model": flags.get("model"), "baseline_model": flags.get("baseline_model"),
                             "latency": latency or None},
             create=bool(flags.get("model")))


def _build_explain(raw, flags):
    _section(raw, "explain", {"model": flags.get("model"), "baseline_model": flags.get("baseline_model"),
                              "data": flags.get("data"), "label": flags.get("explain_label"),
                              "top_k": flags.get("top_k")}, create=bool(flags.get("data")))


def _build_shadow(raw, flags):
    section = dict(raw.get("shadow") or {})
    for side in ("shadow", "production"):
        cols = {k: flags.get(f"{side}_{k}") for k in ("score", "prediction") if flags.get(f"{side}_{k}")}
        if cols:
            section[side] = cols  # flags name the side's columns: the config's are replaced, not mixed
    if section or flags.get("export"):
        raw["shadow"] = section
    _section(raw, "shadow", {"export": flags.get("export"), "id": flags.get("request_id"),
                             "label": flags.get("shadow_label")}, create=bool(flags.get("export")))


_gate_command("quality", [click.option("--task", type=click.Choice(["classification", "multiclass", "regression"]))],
              _build_quality, predictions=True,
              help_text="Model quality (and the future-data slice) against floors and the baseline.")
_gate_command("bias", [click.option("--sensitive", multiple=True, help="Sensitive attribute column (repeat)."),
                       click.option("--min-group-size", type=int, help="Groups smaller than this are not judged.")],
              _build_bias, predictions=True,
              help_text="Per-group error rates and the gaps between groups.")
_gate_command("data", [click.option("--table", help="Table to validate (CSV or Parquet)."),
                       click.option("--schema", help="pandera YAML schema file.")],
              _build_data, help_text="Schema, missing values and staleness of a data table.")
_gate_command("skew", [click.option("--training", help="Training sample."),
                       click.option("--serving", help="Serving sample.")],
              _build_skew, help_text="Training/serving skew (PSI, KS, chi-square) and prediction parity.")
_gate_command("regression", [click.option("--golden", help="Candidate predictions on the golden set."),
                             click.option("--baseline-predictions", help="Base branch predictions on it."),
                             click.option("--golden-id", help="Row id column.")],
              _build_regression, help_text="Golden-set predictions against the baseline's.")
_gate_command("features", [click.option("--registry", help="Feature registry (features.yaml)."),
                           click.option("--base", "base_ref", help="Base git ref for the change check."),
                           click.option("--head", "head_ref", help="Head git ref (default HEAD).")],
              _build_features, help_text="Feature registry completeness and docs for changed features.")
_gate_command("budget", [click.option("--model", help="Model file (.skops; .safetensors/.npz/.onnx: size and "
                                                      "parameters only)."),
                         click.option("--baseline-model", help="The base commit's model file."),
                         click.option("--latency-data", help="Rows to time the model on (CSV or Parquet).")],
              _build_budget, help_text="Model size, parameters, sparsity, latency and memory against limits and "
                                       "the base.")
_gate_command("explain", [click.option("--model", help="Model file (.skops)."),
                          click.option("--baseline-model", help="The base commit's model file."),
                          click.option("--data", help="Holdout rows with the features and the label."),
                          click.option("--label", "explain_label", help="Label column."),
                          click.option("--top-k", type=int, help="How many top features to compare.")],
              _build_explain, help_text="Permutation importance of the candidate and the base model; forbidden "
                                        "features and rank shifts.")
_gate_command("shadow", [click.option("--export", help="Shadow export: one row per request (CSV or Parquet)."),
                         click.option("--id", "request_id", help="Request id column."),
                         click.option("--shadow-score", help="Shadow model's score column."),
                         click.option("--shadow-prediction", help="Shadow model's class column."),
                         click.option("--production-score", help="Production model's score column."),
                         click.option("--production-prediction", help="Production model's class column."),
                         click.option("--label", "shadow_label", help="Column of labels that arrived later.")],
              _build_shadow, help_text="Shadow vs production on the same requests: agreement, score and "
                                       "selection-rate shifts, per group, quality on labelled requests.")


def _run_and_report(loaded: LoadedConfig | None, config: MlgateConfig, gates: list[str], baseline_path, json_path,
                    markdown_path, root, *, base_ref=None, head_ref=None, show_progress=None) -> None:
    baseline = Baseline.load(baseline_path) if baseline_path else None
    pinned = pin_limit_files(loaded, config) if loaded else PinnedFiles()
    with _collector_paused():
        try:
            ctx = RunContext(base_dir=Path(root).resolve(), pinned=pinned.files)
            with progress.reporting(progress.wanted(show_progress)):
                results = run_gates(config, gates, ctx, baseline=baseline,
                                    config_hash=loaded.sha256 if loaded else None, base_ref=base_ref,
                                    head_ref=head_ref)
        finally:
            pinned.cleanup()
        # Which config judged the run: the bot refuses a result whose config is not its base's.
        results.versions["config_ref"] = loaded.ref if loaded else None
        results.versions["config_path"] = (loaded.repo_path or loaded.path) if loaded else None
        _write_outputs(results, json_path, markdown_path)
    errors = [g for g in results.gates if g.status == Status.ERROR]
    for g in errors:  # bad input: the other gates' results are still written, but the exit code is 2
        click.echo(f"mlgate: error: {g.gate}: {g.summary}", err=True)
    sys.exit(EXIT_USAGE if errors else _exit_code(results.status))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the gates run and their results are written.

    A run with many groups builds tens of thousands of small dicts, and each of the collector's full
    passes walks every object pandas and pyarrow created at import, again and again (30,000 groups:
    0.9 s → 0.5 s). What the run leaves behind is freed by reference counting, or collected after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _exit_code(status: Status) -> int:
    return EXIT_FAIL if status == Status.FAIL else EXIT_PASS


def _write_outputs(results: RunResults, json_path: str | None, markdown_path: str | None) -> None:
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(results_json(results), encoding="utf-8")
    report = render_report(results)
    if markdown_path == "-" or (not markdown_path and not json_path):
        click.echo(report)
    elif markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(report, encoding="utf-8")
    click.echo(verdict_line(results), err=True)
    for g in results.gates:
        click.echo(f"  {g.status.icon} {g.gate}: {g.summary}", err=True)


# ----------------------------------------------------------------------------- other commands


@click.group()
def config() -> None:
    """Work with .github/mlgate.yml."""


@config.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def config_validate(path: str) -> None:
    """Check a config file: unknown keys, wrong types and bad values, with key path and line."""
    cfg = load_config(path)
    gates = cfg.configured_gates()
    click.echo(f"{path}: valid; gates: {', '.join(gates) or 'none configured'}")


@click.command("report")
@click.argument("results_path", type=click.Path(dir_okay=False))
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, allow_dash=True), default="-")
def report(results_path: str, markdown_path: str) -> None:
    """Render the Markdown report of a results JSON file again."""
    results = RunResults.from_dict(read_results(results_path))
    text = render_report(results)
    if markdown_path == "-":
        click.echo(text)
    else:
        Path(markdown_path).write_text(text, encoding="utf-8")


@click.command("card")
@click.argument("results_path", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="The config whose `card:` section gives the free text (intended use, limitations …).")
@click.option("--config-ref", "config_ref", metavar="COMMIT", help="Read --config from this commit (the landed one).")
@click.option("--root", type=click.Path(file_okay=False, exists=True), default=".",
              help="Directory the config's paths start from (default: current).")
@click.option("--reviews", "reviews_path", type=click.Path(dir_okay=False),
              help="JSON of the reviews that approved the change (GitHub's list-reviews response).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the card as Markdown here ('-' for stdout; the default without --json).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the card as JSON here.")
def card(results_path, config_path, config_ref, root, reviews_path, markdown_path, json_path) -> None:
    """The model card of a landed version, from its results JSON (Markdown and JSON)."""
    from mlgate.checks.card import build_card, load_reviews, render_card

    results = RunResults.from_dict(read_results(results_path))
    loaded = _load(config_path, config_ref, root)
    reviews = load_reviews(reviews_path) if reviews_path else None
    built = build_card(results, loaded.config if loaded else None, reviews,
                       config_sha256=loaded.sha256 if loaded else None)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(built, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = render_card(built)
    if markdown_path == "-" or (not markdown_path and not json_path):
        click.echo(text)
    elif markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(text, encoding="utf-8")


@click.command("publish", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
             add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def publish(args: tuple[str, ...]) -> None:
    """Glue for the GitHub Actions: baselines, check runs, verification (mlgate publish --help)."""
    from mlgate.checks.publish.run import main as publish_main

    sys.exit(publish_main(list(args)))
