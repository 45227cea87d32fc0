"""How many parameters a fitted scikit-learn model holds, and how many of them are zero.

A model's cost starts with what it stores. For each estimator mlgate knows which fitted arrays are
its parameters (a linear model's `coef_` and `intercept_`, a tree's nodes, an SVM's support vectors
and dual coefficients, an MLP's weights, a scaler's means and scales, an encoder's categories …)
and walks the composites (Pipeline, ColumnTransformer, FeatureUnion, ensembles, search and
calibration wrappers) down to them. Counts are the sizes of those arrays, so they equal the
estimators' own (tests/checks/test_budget_parameters.py compares them array by array).

Sparsity is the share of zeros among the numeric weights (coefficients, support vectors, network
weights, scaler statistics …). Tree nodes and category lists are counted as parameters but are not
weights, so they are left out of the sparsity base; the result says how many values it covers.

An estimator mlgate does not know is not guessed at: it is listed in `unknown`, the total is then a
lower bound, and the budget gate says so instead of judging it as complete. Nothing here runs a
model or loads a file: it only reads attributes of an object already loaded (safely, see
checks/inputs/predictions.py's `load_model`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WEIGHTS = "weights"  # numeric parameters: counted in the sparsity base
STRUCTURE = "structure"  # tree nodes, categories, knots: counted, not in the sparsity base


@dataclass(frozen=True)
class ParameterPart:
    """One array (or family of arrays) of one component, e.g. `model` / LogisticRegression / coef_."""

    component: str
    estimator: str
    name: str
    count: int
    zeros: int | None  # None: not a weight (tree nodes, categories): outside the sparsity base

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "estimator": self.estimator, "name": self.name,
                "count": self.count, "zeros": self.zeros}


@dataclass
class ParameterCount:
    parts: list[ParameterPart] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # "component (Class)": parameters not counted

    @property
    def total(self) -> int:
        return sum(p.count for p in self.parts)

    @property
    def weights(self) -> int:
        """How many parameters the sparsity covers (the numeric weights)."""
        return sum(p.count for p in self.parts if p.zeros is not None)

    @property
    def zeros(self) -> int:
        return sum(p.zeros or 0 for p in self.parts)

    @property
    def sparsity(self) -> float | None:
        return self.zeros / self.weights if self.weights else None

    @property
    def complete(self) -> bool:
        return not self.unknown

    def grouped(self) -> list[ParameterPart]:
        """Parts with the members of an ensemble folded together (`estimators_[*]`), in first-seen order."""
        merged: dict[tuple[str, str, str], ParameterPart] = {}
        for p in self.parts:
            key = (re.sub(r"\[\d+\]", "[*]", p.component), p.estimator, p.name)
            old = merged.get(key)
            zeros = None if p.zeros is None or (old is not None and old.zeros is None) else \
                (p.zeros + (old.zeros or 0) if old else p.zeros)
            merged[key] = ParameterPart(key[0], p.estimator, p.name, p.count + (old.count if old else 0), zeros)
        return list(merged.values())


def _zeros(values: Any) -> int:
    if hasattr(values, "count_nonzero") and hasattr(values, "nnz"):  # scipy.sparse
        size = int(np.prod(values.shape))
        return size - int(values.count_nonzero())
    arr = np.asarray(values)
    if arr.dtype.kind not in "biufc":
        return 0
    return int(arr.size - np.count_nonzero(arr))


def _size(values: Any) -> int:
    if hasattr(values, "nnz") and hasattr(values, "shape"):  # scipy.sparse: its dense shape
        return int(np.prod(values.shape))
    return int(np.asarray(values).size)


class _Counter:
    def __init__(self) -> None:
        self.out = ParameterCount()

    def weight(self, component: str, est: Any, name: str, values: Any) -> None:
        if values is None:
            return
        self.out.parts.append(ParameterPart(component, type(est).__name__, name, _size(values), _zeros(values)))

    def weights(self, component: str, est: Any, name: str, arrays: Iterable[Any]) -> None:
        arrays = [a for a in arrays if a is not None]
        if arrays:
            self.out.parts.append(ParameterPart(component, type(est).__name__, name, sum(_size(a) for a in arrays),
                                                sum(_zeros(a) for a in arrays)))

    def structure(self, component: str, est: Any, name: str, count: int) -> None:
        self.out.parts.append(ParameterPart(component, type(est).__name__, name, int(count), None))

    def unknown(self, component: str, est: Any) -> None:
        self.out.unknown.append(f"{component or 'model'} ({type(est).__name__})")


def count_parameters(estimator: Any) -> ParameterCount:
    """The parameters of a fitted scikit-learn estimator (or composite), by component."""
    counter = _Counter()
    _walk(counter, estimator, "")
    return counter.out


def _join(path: str, name: object) -> str:
    return f"{path}/{name}" if path else str(name)


def _is_skipped(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step in ("drop", "passthrough"))


# class name -> fitted attributes that are weights (when present and not None)
_WEIGHT_ATTRS: dict[str, tuple[str, ...]] = {
    "StandardScaler": ("mean_", "scale_"),
    "MinMaxScaler": ("min_", "scale_"),
    "MaxAbsScaler": ("scale_",),
    "RobustScaler": ("center_", "scale_"),
    "SimpleImputer": ("statistics_",),
    "KNNImputer": ("_fit_X",),
    "PCA": ("components_", "mean_"),
    "IncrementalPCA": ("components_", "mean_"),
    "KernelPCA": ("eigenvectors_", "eigenvalues_", "X_fit_"),
    "TruncatedSVD": ("components_",),
    "FastICA": ("components_", "mean_"),
    "NMF": ("components_",),
    "FactorAnalysis": ("components_", "mean_", "noise_variance_"),
    "Nystroem": ("components_", "normalization_"),
    "RBFSampler": ("random_weights_", "random_offset_"),
    "QuantileTransformer": ("quantiles_", "references_"),
    "TargetEncoder": ("target_mean_",),
    "GaussianNB": ("theta_", "var_", "class_prior_"),
    "MultinomialNB": ("feature_log_prob_", "class_log_prior_"),
    "ComplementNB": ("feature_log_prob_", "class_log_prior_"),
    "BernoulliNB": ("feature_log_prob_", "class_log_prior_"),
    "CategoricalNB": ("class_log_prior_",),
    "NearestCentroid": ("centroids_",),
    "QuadraticDiscriminantAnalysis": ("means_", "rotations_", "scalings_", "priors_"),
    "KNeighborsClassifier": ("_fit_X",),
    "KNeighborsRegressor": ("_fit_X",),
    "RadiusNeighborsClassifier": ("_fit_X",),
    "RadiusNeighborsRegressor": ("_fit_X",),
    "NearestNeighbors": ("_fit_X",),
    "DummyClassifier": ("class_prior_",),
    "DummyRegressor": ("constant_",),
    "IsotonicRegression": ("X_thresholds_", "y_thresholds_"),
    "_SigmoidCalibration": ("a_", "b_"),
    "PowerTransformer": ("lambdas_",),
}
# classes that learn nothing that predictions use (or only which columns to keep)
_STATELESS = {
    "FunctionTransformer", "Normalizer", "Binarizer", "PolynomialFeatures", "MissingIndicator",
    "VarianceThreshold", "SelectKBest", "SelectPercentile", "SelectFpr", "SelectFdr", "SelectFwe",
    "GenericUnivariateSelect", "SelectFromModel", "RFE", "RFECV", "SequentialFeatureSelector",
    "FeatureHasher", "HashingVectorizer", "LabelEncoder",
}


def _walk(c: _Counter, est: Any, path: str) -> None:
    name = type(est).__name__
    if _is_skipped(est):
        return
    if hasattr(est, "steps") and isinstance(getattr(est, "steps", None), list):  # Pipeline
        for step_name, step in est.steps:
            if not _is_skipped(step):
                _walk(c, step, _join(path, step_name))
        return
    if hasattr(est, "transformers_"):  # ColumnTransformer (fitted)
        for t_name, trans, _cols in est.transformers_:
            if not _is_skipped(trans):
                _walk(c, trans, _join(path, t_name))
        return
    if hasattr(est, "transformer_list"):  # FeatureUnion
        for t_name, trans in est.transformer_list:
            if not _is_skipped(trans):
                _walk(c, trans, _join(path, t_name))
        return
    if hasattr(est, "best_estimator_"):  # GridSearchCV, RandomizedSearchCV, …
        _walk(c, est.best_estimator_, _join(path, "best_estimator_"))
        return
    if name == "TransformedTargetRegressor":
        _walk(c, est.regressor_, _join(path, "regressor_"))
        if getattr(est, "transformer_", None) is not None:
            _walk(c, est.transformer_, _join(path, "transformer_"))
        return
    if hasattr(est, "calibrated_classifiers_"):  # CalibratedClassifierCV
        for i, cc in enumerate(est.calibrated_classifiers_):
            _walk(c, cc.estimator, _join(path, f"calibrated_classifiers_[{i}].estimator"))
            for j, cal in enumerate(cc.calibrators):
                _walk(c, cal, _join(path, f"calibrated_classifiers_[{i}].calibrators[{j}]"))
        return
    if hasattr(est, "_predictors") and hasattr(est, "_baseline_prediction"):  # HistGradientBoosting*
        nodes = sum(len(p.nodes) for per_iter in est._predictors for p in per_iter)
        c.structure(path or "model", est, "tree nodes", nodes)
        c.weight(path or "model", est, "baseline prediction", np.asarray(est._baseline_prediction))
        return
    if hasattr(est, "tree_") and hasattr(est.tree_, "node_count"):  # one decision tree
        c.structure(path or "model", est, "tree nodes", est.tree_.node_count)
        return
    if hasattr(est, "estimators_"):  # forests, bagging, boosting, voting, stacking, one-vs-rest …
        members = est.estimators_
        flat = list(np.asarray(members, dtype=object).ravel()) if isinstance(members, np.ndarray) else list(members)
        for i, member in enumerate(flat):
            _walk(c, member, _join(path, f"estimators_[{i}]"))
        if getattr(est, "final_estimator_", None) is not None:  # stacking
            _walk(c, est.final_estimator_, _join(path, "final_estimator_"))
        if getattr(est, "estimator_weights_", None) is not None:  # AdaBoost
            c.weight(path or "model", est, "estimator_weights_", est.estimator_weights_)
        init = getattr(est, "init_", None)  # GradientBoosting's initial estimator
        if init is not None and not isinstance(init, str):
            _walk(c, init, _join(path, "init_"))
        return
    where = path or "model"
    if hasattr(est, "support_vectors_"):  # SVC, SVR, NuSVC, OneClassSVM: coef_ is derived from these
        c.weight(where, est, "support_vectors_", est.support_vectors_)
        c.weight(where, est, "dual_coef_", est.dual_coef_)
        c.weight(where, est, "intercept_", np.atleast_1d(est.intercept_))
        return
    if hasattr(est, "coefs_") and hasattr(est, "intercepts_"):  # MLPClassifier / MLPRegressor
        c.weights(where, est, "coefs_", est.coefs_)
        c.weights(where, est, "intercepts_", est.intercepts_)
        return
    if name in ("OneHotEncoder", "OrdinalEncoder"):
        c.structure(where, est, "categories_", sum(len(cats) for cats in est.categories_))
        return
    if name == "TargetEncoder":
        c.weights(where, est, "encodings_", est.encodings_)
        c.weight(where, est, "target_mean_", np.atleast_1d(est.target_mean_))
        return
    if name == "CategoricalNB":
        c.weights(where, est, "feature_log_prob_", est.feature_log_prob_)
        c.weight(where, est, "class_log_prior_", est.class_log_prior_)
        return
    if name == "KBinsDiscretizer":
        c.structure(where, est, "bin_edges_", sum(len(edges) for edges in est.bin_edges_))
        return
    if name == "SplineTransformer":
        c.structure(where, est, "knots", sum(len(s.t) for s in est.bsplines_))
        return
    if name == "PowerTransformer":
        c.weight(where, est, "lambdas_", est.lambdas_)
        scaler = getattr(est, "_scaler", None)
        if scaler is not None:
            _walk(c, scaler, _join(path, "_scaler"))
        return
    if name in _WEIGHT_ATTRS:
        for attr in _WEIGHT_ATTRS[name]:
            value = getattr(est, attr, None)
            if value is not None:
                c.weight(where, est, attr, np.atleast_1d(np.asarray(value, dtype=float))
                         if np.isscalar(value) else value)
        return
    if name in _STATELESS:
        return
    if hasattr(est, "coef_"):  # linear models: LogisticRegression, Ridge, SGD*, LinearSVC, LDA, …
        c.weight(where, est, "coef_", est.coef_)
        intercept = getattr(est, "intercept_", None)
        if isinstance(intercept, np.ndarray) or (intercept is not None and getattr(est, "fit_intercept", True)):
            c.weight(where, est, "intercept_", np.atleast_1d(intercept))
        return
    c.unknown(path, est)
