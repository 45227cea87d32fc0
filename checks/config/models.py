"""`.github/mlgate.yml`: one file, validated strictly, with errors that name the key path and line.

Each gate's section has its own module here (checks/config/<gate>.py), apart from the gate's code,
so that reading a config loads neither numpy nor pandas nor scipy (the bot reads configs and never
runs a gate; tests/test_layering.py holds that). The bot's sections (merge, review, deploy) are
defined in this module because the bot and `mlgate config validate` both need the whole file.
Unknown keys anywhere are errors: a typo must not disable a gate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mlgate.checks.config.bias import BiasConfig
from mlgate.checks.config.budget import BudgetConfig
from mlgate.checks.config.data import DataConfig
from mlgate.checks.config.explain import ExplainConfig
from mlgate.checks.config.features import FeaturesConfig
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import QualityConfig
from mlgate.checks.config.regression import RegressionConfig
from mlgate.checks.config.shadow import ShadowConfig
from mlgate.checks.config.skew import SkewConfig
from mlgate.checks.config.yamlpos import dotted, line_of, load_with_lines
from mlgate.checks.errors import ConfigError
from mlgate.checks.gates.limits import StrictModel
from mlgate.names import CONFIG_PATH

GATE_NAMES = ("data", "quality", "bias", "skew", "regression", "features", "budget", "explain", "shadow")
# Gates that judge a deployment, not a merge: `shadow` judges a model after it ran in shadow, so a
# pull request (whose model has not run anywhere yet) cannot be held to it. They run in `check all`
# and publish their check runs like every gate; `deploy.environments.<env>.requires_gates` uses them.
DEPLOY_GATES = ("shadow",)


class RequiredCheck(StrictModel):
    """A CI check that must succeed on the exact SHA; `app` pins who may report it."""

    name: str
    app: str | None = None


class MergeConfig(StrictModel):
    branches: list[str] = ["main"]
    method: Literal["merge", "squash", "rebase"] = "merge"
    batch_size: int = Field(default=5, ge=1, le=50)
    timeout_minutes: int = Field(default=120, ge=1)
    start_timeout_minutes: int = Field(default=15, ge=1)  # a required check that never starts fails fast
    required_checks: list[RequiredCheck | str] = []
    delete_branches: bool = False
    preempt: bool = True
    # The only app whose mlgate/<gate> check runs count (the actions publish with GITHUB_TOKEN, i.e. as
    # github-actions). null lets any app publish them: not recommended.
    gate_app: str | None = "github-actions"
    # Fork PRs are refused by /merge and /try unless true: their staging and try branches would live in
    # the base repository, where `on: push` workflows run the fork's code with the base's secrets.
    allow_forks: bool = False
    batch_delay_seconds: float = Field(default=0, ge=0, le=3600)  # wait for more PRs before a fresh batch
    adaptive: bool = True  # size batches from the recent failure rate
    confirm_threshold: float = Field(default=0.1, ge=0)  # flake rate above which a suspect is re-run alone
    parallel: int = Field(default=1, ge=1, le=8)  # speculative builds tested at once per base (Zuul-style)


class ReviewRule(StrictModel):
    """A path rule: changes to `paths` need `approvals` from `users`/`teams` (anyone with write if both empty).

    `from_features: true` takes the paths and the approver from the feature registry instead: a change
    to a feature's code or docs needs its owner's approval.
    """

    name: str
    paths: list[str] = []  # glob patterns of changed files this rule applies to
    approvals: int = Field(default=1, ge=1)
    users: list[str] = []
    teams: list[str] = []  # "org/team"
    allow_author: bool = False
    approvals_on: Literal["head", "unchanged_paths"] = "head"  # or: the diff since does not touch the paths
    from_features: bool = False
    request_reviews: bool = False

    @model_validator(mode="after")
    def _paths_or_features(self) -> ReviewRule:
        if not self.paths and not self.from_features:
            raise ValueError("a rule needs `paths`, or `from_features: true`")
        if self.paths and self.from_features:
            raise ValueError("`paths` is not used with `from_features: true`: the registry's code and docs paths are")
        return self


class ReviewConfig(StrictModel):
    rules: list[ReviewRule] = []


COMMAND_NAMES = ("merge", "cancel", "retry", "try", "priority", "single", "deploy", "rollback", "help")
PermissionName = Literal["none", "read", "triage", "write", "maintain", "admin"]


class CommandsConfig(StrictModel):
    """Who may run which slash-command: the least repository permission, per command."""

    permissions: dict[str, PermissionName] = {}

    @field_validator("permissions")
    @classmethod
    def _known_commands(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in v if k not in COMMAND_NAMES]
        if unknown:
            raise ValueError(f"unknown command {unknown[0]!r}; commands: {', '.join(COMMAND_NAMES)}")
        return v


class DeployEnvironment(StrictModel):
    auto: bool = False  # deploy automatically after landing
    requires: str | None = None  # an environment that must have a successful deployment of the same version
    # gates whose mlgate/<gate> result on the version's commit must have passed (pass or warn), for
    # that very model version, before a deployment here, e.g. [shadow] for production
    requires_gates: list[str] = []
    rollback_on_failure: bool = False

    @field_validator("requires_gates")
    @classmethod
    def _known_gates(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in GATE_NAMES:
                raise ValueError(f"unknown gate {name!r}; gates: {', '.join(GATE_NAMES)}")
        if len(set(v)) != len(v):
            raise ValueError(f"a gate is listed twice: {v}")
        return v


class DeployConfig(StrictModel):
    environments: dict[str, DeployEnvironment] = {}


class ArtifactsConfig(StrictModel):
    """The model and data files whose content hashes are the versions a deployment carries."""

    model: str | None = None
    data: list[str] = []


class CardConfig(StrictModel):
    """The model card's free text (`mlgate card`): what the model is for and where it must not be used."""

    name: str | None = None
    summary: str | None = None
    intended_use: str | None = None
    out_of_scope: str | None = None
    limitations: str | None = None
    owners: list[str] = []
    contact: str | None = None


class AlertsConfig(StrictModel):
    """`alerts:`: what the bot raises an alert for (docs/dashboard.md) and whether it keeps each as a
    GitHub issue. Read from the default branch, like the commands."""

    enabled: bool = True
    issues: bool = True  # keep each alert as one GitHub issue (opened once, updated, closed when resolved)
    label: str = Field(default="mlgate-alert", min_length=1, max_length=50)
    gate_failure: bool = True  # a gate failed on the newest landed commit of a base branch
    data_stale: bool = True  # the data gate's staleness limit is crossed on a base branch
    deployment: bool = True  # a deployment failed or was rolled back
    batch_timeout: bool = True  # a merge-queue batch runs past merge.timeout_minutes
    mention: list[str] = []  # logins or org/team names @-mentioned in a new alert issue


class MlgateConfig(StrictModel):
    """The whole `.github/mlgate.yml`. A gate runs when its section is present."""

    version: Literal[1] = 1
    artifacts: ArtifactsConfig = ArtifactsConfig()
    predictions: PredictionsConfig = PredictionsConfig()
    data: DataConfig | None = None
    quality: QualityConfig | None = None
    bias: BiasConfig | None = None
    skew: SkewConfig | None = None
    regression: RegressionConfig | None = None
    features: FeaturesConfig | None = None
    budget: BudgetConfig | None = None
    explain: ExplainConfig | None = None
    shadow: ShadowConfig | None = None
    card: CardConfig = CardConfig()
    merge: MergeConfig = MergeConfig()
    review: ReviewConfig = ReviewConfig()
    commands: CommandsConfig = CommandsConfig()
    deploy: DeployConfig = DeployConfig()
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, v: object) -> object:
        if v != 1:
            raise ValueError(f"unsupported config version {v!r}; this mlgate reads version 1")
        return v

    @model_validator(mode="after")
    def _required_gates_configured(self) -> MlgateConfig:
        """A deployment that requires a gate without a section could never happen: say so now."""
        for env, spec in self.deploy.environments.items():
            for i, name in enumerate(spec.requires_gates):
                if getattr(self, name) is None:
                    raise PydanticCustomError(
                        "gate_not_configured",
                        "the {gate} gate is not configured (add a {gate} section), so {env} could never be deployed",
                        {"gate": name, "env": env, "at": ("deploy", "environments", env, "requires_gates", i)})
        return self

    def configured_gates(self) -> list[str]:
        """Every gate with a section: what `check all` runs and the gates workflow publishes."""
        return [g for g in GATE_NAMES if getattr(self, g) is not None]

    def merge_gates(self) -> list[str]:
        """The configured gates a merge waits for: all but the deployment gates (DEPLOY_GATES)."""
        return [g for g in self.configured_gates() if g not in DEPLOY_GATES]


def parse_config(text: str, source: str = CONFIG_PATH) -> MlgateConfig:
    """Validate config text. Raises ConfigError naming the key path and line of the first problems."""
    data, lines = load_with_lines(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of sections, got {type(data).__name__}", where=source)
    try:
        return MlgateConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines), where=source) from None


def load_config(path: str | Path) -> MlgateConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", where=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", where=str(path)) from exc
    return parse_config(text, str(path))


def config_sha256(path: str | Path) -> str:
    return bytes_sha256(Path(path).read_bytes())


def bytes_sha256(data: bytes) -> str:
    """`sha256:<hex>` of raw bytes: the form of `versions.config_sha256` the bot compares."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# Files the config names that set limits or hold the expected values a change is judged against.
# With `--config-ref` they are read from that commit, like the config itself; everything else a
# gate reads (data, predictions, models, the feature registry under test) comes from the checkout.
LIMIT_FILES = ("data.schema", "regression.baseline_predictions", "budget.baseline_model",
               "explain.baseline_model")


def config_paths(cfg: MlgateConfig) -> list[tuple[str, str]]:
    """Every path the config names, as (key, value); values of glob keys may hold wildcards."""
    out: list[tuple[str, str]] = []

    def add(key: str, value: object) -> None:
        if isinstance(value, str) and value.strip():
            out.append((key, value))

    add("artifacts.model", cfg.artifacts.model)
    for value in cfg.artifacts.data:
        add("artifacts.data", value)
    add("predictions.path", cfg.predictions.path)
    if cfg.predictions.model is not None:
        add("predictions.model.path", cfg.predictions.model.path)
        add("predictions.model.data", cfg.predictions.model.data)
    if cfg.data is not None:
        add("data.table", cfg.data.table)
        add("data.schema", cfg.data.table_schema)  # a str is a file; a mapping is the schema inline
    if cfg.skew is not None:
        add("skew.training", cfg.skew.training)
        add("skew.serving", cfg.skew.serving)
        if cfg.skew.parity is not None:
            add("skew.parity.reference", cfg.skew.parity.reference)
            add("skew.parity.candidate", cfg.skew.parity.candidate)
    if cfg.regression is not None:
        add("regression.golden", cfg.regression.golden)
        add("regression.baseline_predictions", cfg.regression.baseline_predictions)
    if cfg.budget is not None:
        add("budget.model", cfg.budget.model)
        add("budget.baseline_model", cfg.budget.baseline_model)
        if cfg.budget.latency is not None:
            add("budget.latency.data", cfg.budget.latency.data)
    if cfg.explain is not None:
        add("explain.model", cfg.explain.model)
        add("explain.baseline_model", cfg.explain.baseline_model)
        add("explain.data", cfg.explain.data)
    if cfg.shadow is not None:
        add("shadow.export", cfg.shadow.export)
    if cfg.features is not None:
        add("features.registry", cfg.features.registry)
        for value in cfg.features.code_paths:
            add("features.code_paths", value)
        for value in cfg.features.docs_paths:
            add("features.docs_paths", value)
    return out


def _describe(exc: ValidationError, lines: dict) -> str:
    parts = []
    for err in exc.errors()[:5]:
        at = (err.get("ctx") or {}).get("at")  # a whole-config rule names the key it is about
        loc = tuple(at) if at else tuple(p for p in err["loc"] if not (isinstance(p, str) and _is_union_tag(p)))
        line = line_of(lines, loc)
        where = dotted(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        parts.append(f"{where}{f' (line {line})' if line else ''}: {msg}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _is_union_tag(part: str) -> bool:
    """pydantic puts union member names (e.g. 'RequiredCheck', 'str') into error locations."""
    return part[:1].isupper() or part in {"str", "int", "float", "bool", "list[str]", "function-after"} or "[" in part
