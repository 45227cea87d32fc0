"""Which gate results may be published: each must come from the base commit's config (pure).

The publish job (`mlgate publish results`, never running the project's code) gets the results
JSON files the gates job uploaded and the base commit's config, read through the API. A result is
published as it is only when `versions.config_sha256` is the hash of that config and
`versions.config_ref` is that commit (so the files that set limits were read from it too);
otherwise the gate is published as `error`, saying the result was computed with another config.
Which gates there are is the base config's decision: a configured gate without results is an
error too, so a change cannot switch a gate off by removing its section or by failing before it
runs. `mlgate/tests` has no config and is passed through.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.checks.results import RunResults, error_result

TESTS = "tests"


@dataclass(frozen=True)
class BaseConfig:
    """The config the results must come from; `problem` says why it could not be read."""

    path: str  # in the repository
    ref: str | None
    sha256: str | None
    gates: tuple[str, ...] = ()
    problem: str | None = None


@dataclass
class Verdict:
    gate: str
    results: RunResults  # what to publish (the original, or an error result in its place)
    refused: str | None = None  # why the original was not published as it is


def _replace(gate: str, original: RunResults | None, message: str, code: str = "config.untrusted") -> RunResults:
    versions = dict(original.versions) if original else {}
    baseline = dict(original.baseline) if original else {"path": None, "git_sha": None, "note": ""}
    replaced = RunResults(gates=[error_result(gate, message, code=code)], versions=versions,
                          baseline=baseline)
    if original is not None and original.created_at:
        replaced.created_at = original.created_at
    return replaced


def verify(found: dict[str, RunResults], base: BaseConfig, *, expect_tests: bool) -> list[Verdict]:
    """One verdict per gate the base config runs, per result found, and for tests when expected."""
    names = list(base.gates)
    names += [g for g in found if g not in names and g != TESTS]
    if expect_tests or TESTS in found:
        names.insert(0, TESTS)
    where = f"{base.path} at {base.ref[:12]}" if base.ref else base.path
    out: list[Verdict] = []
    for gate in names:
        results = found.get(gate)
        if results is None:
            job = "the tests job" if gate == TESTS else "the gates job"
            why = (f"no results for mlgate/{gate}: {job} did not upload them (it failed before or while running "
                   f"mlgate; see the workflow run)")
            out.append(Verdict(gate, _replace(gate, None, why, "results.missing"), why))
            continue
        if gate == TESTS:
            out.append(Verdict(gate, results))
            continue
        if base.problem or base.sha256 is None:
            why = f"cannot check which config mlgate/{gate} was computed with: {base.problem or 'no base config'}"
            out.append(Verdict(gate, _replace(gate, results, why), why))
            continue
        got = results.versions.get("config_sha256")
        got_ref = results.versions.get("config_ref")
        if got is None:
            why = (f"the result was computed without a config file (flags only), not with the base commit's config "
                   f"({where}, {base.sha256}): only the base config's limits judge a change.")
        elif got != base.sha256:
            why = (f"the result was computed with the PR's own config, not the base commit's: its config_sha256 is "
                   f"{got}, {where} is {base.sha256}. The limits that judge a change come from its base commit; a "
                   f"change to the config takes effect after it lands.")
        elif got_ref != base.ref:
            why = (f"the result was not computed with --config-ref {base.ref}: its limit files (data schema, "
                   f"regression baseline) may come from the PR's checkout (config_ref: {got_ref or 'none'}).")
        else:
            out.append(Verdict(gate, results))
            continue
        out.append(Verdict(gate, _replace(gate, results, why), why))
    return out
