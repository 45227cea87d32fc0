"""Feature definitions of the example model. Each one is registered in features.yaml."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

FEATURE_BUILDERS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {}


def feature(name: str) -> Callable:
    """Register a feature builder under the name used in features.yaml."""

    def register(fn: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.Series]:
        FEATURE_BUILDERS[name] = fn
        return fn

    return register


@feature("age")
def age(df: pd.DataFrame) -> pd.Series:
    return df["age"].astype("int64")


@feature("sex")
def sex(df: pd.DataFrame) -> pd.Series:
    return df["sex"].astype(str)


@feature("employed")
def employed(df: pd.DataFrame) -> pd.Series:
    return df["employed"].astype(str)


@feature("citizen")
def citizen(df: pd.DataFrame) -> pd.Series:
    return df["citizen"].astype(str)


@feature("checks")
def checks(df: pd.DataFrame) -> pd.Series:
    return df["checks"].astype("int64")


@feature("has_record")
def has_record(df: pd.DataFrame) -> pd.Series:
    return (df["checks"] > 0).map({True: "Yes", False: "No"})


def build_features(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for name, build in FEATURE_BUILDERS.items():
        out[name] = build(df)
    return out
