"""Parameter counts equal the estimators' own arrays; other formats are read as data, never run."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from mlgate.checks.errors import InputError
from mlgate.checks.gates.parameters import count_parameters
from mlgate.checks.inputs.model_files import inspect_model

X, Y = load_breast_cancer(return_X_y=True)  # real data, shipped inside scikit-learn
X = StandardScaler().fit_transform(X)  # scaled: the solvers converge without warnings
X_SMALL, Y_SMALL = X[:200], Y[:200]


def test_logistic_regression_counts_coef_and_intercept() -> None:
    m = LogisticRegression(max_iter=5000).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    assert c.total == m.coef_.size + m.intercept_.size == 31
    assert c.weights == c.total and c.complete


def test_l1_sparsity_is_the_share_of_zero_coefficients() -> None:
    m = Lasso(alpha=0.05).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    zeros = int((m.coef_ == 0).sum() + (np.atleast_1d(m.intercept_) == 0).sum())
    assert zeros > 10  # an L1 model this strong drops most of the 30 features
    assert c.zeros == zeros and c.total == m.coef_.size + 1
    assert c.sparsity == pytest.approx(zeros / c.total)


def test_no_intercept_is_not_counted() -> None:
    m = Ridge(fit_intercept=False).fit(X_SMALL, Y_SMALL)
    assert count_parameters(m).total == m.coef_.size


def test_forest_counts_every_tree_node() -> None:
    m = RandomForestClassifier(n_estimators=7, max_depth=4, random_state=0).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    assert c.total == sum(t.tree_.node_count for t in m.estimators_)
    assert c.weights == 0 and c.sparsity is None  # nodes are parameters, not weights
    grouped = c.grouped()
    assert len(grouped) == 1 and grouped[0].component == "estimators_[*]" and grouped[0].count == c.total


def test_gradient_boosting_counts_trees_and_its_initial_estimator() -> None:
    m = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    nodes = sum(t.tree_.node_count for t in m.estimators_.ravel())
    assert c.total == nodes + m.init_.class_prior_.size


def test_hist_gradient_boosting_counts_predictor_nodes() -> None:
    m = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    nodes = sum(len(p.nodes) for it in m._predictors for p in it)
    assert c.total == nodes + np.asarray(m._baseline_prediction).size


def test_svc_counts_support_vectors_dual_coefficients_and_intercept() -> None:
    m = SVC().fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    assert c.total == m.support_vectors_.size + m.dual_coef_.size + m.intercept_.size


def test_mlp_counts_every_weight_matrix_and_bias() -> None:
    m = MLPClassifier(hidden_layer_sizes=(7, 3), solver="lbfgs", max_iter=2000, random_state=0).fit(X_SMALL, Y_SMALL)
    c = count_parameters(m)
    assert c.total == sum(w.size for w in m.coefs_) + sum(b.size for b in m.intercepts_)


def test_knn_counts_the_stored_samples() -> None:
    m = KNeighborsClassifier().fit(X_SMALL, Y_SMALL)
    assert count_parameters(m).total == m._fit_X.size


def test_pipeline_with_column_transformer_sums_its_components() -> None:
    import pandas as pd

    df = pd.DataFrame({"a": X_SMALL[:, 0], "b": X_SMALL[:, 1], "c": np.where(X_SMALL[:, 2] > 100, "hi", "lo")})
    enc = ColumnTransformer([("cat", OneHotEncoder(), ["c"]), ("num", StandardScaler(), ["a", "b"])])
    m = Pipeline([("encode", enc), ("model", LogisticRegression())]).fit(df, Y_SMALL)
    c = count_parameters(m)
    ohe, scaler, lr = m[0].named_transformers_["cat"], m[0].named_transformers_["num"], m[-1]
    assert c.total == (sum(len(x) for x in ohe.categories_) + scaler.mean_.size + scaler.scale_.size
                       + lr.coef_.size + lr.intercept_.size)
    assert {p.component for p in c.parts} == {"encode/cat", "encode/num", "model"}
    assert next(p for p in c.parts if p.name == "categories_").zeros is None


def test_an_unknown_estimator_is_named_not_guessed() -> None:
    class Custom:
        weights_ = np.ones(5)

    m = Pipeline([("scale", StandardScaler().fit(X_SMALL)), ("custom", Custom())])
    c = count_parameters(m)
    assert not c.complete and c.unknown == ["custom (Custom)"]
    assert c.total == 2 * X_SMALL.shape[1]  # only the scaler: a lower bound


def test_skops_file_is_loaded_with_trusted_types_and_counted(tmp_path: Path) -> None:
    m = LogisticRegression(max_iter=5000).fit(X_SMALL, Y_SMALL)
    sio.dump(m, tmp_path / "m.skops")
    info = inspect_model(tmp_path / "m.skops")
    assert info.format == "skops" and info.parameters is not None and info.parameters.total == 31
    assert info.size_bytes == (tmp_path / "m.skops").stat().st_size
    assert info.estimator is not None


def test_pickle_is_refused_unless_allowed(tmp_path: Path) -> None:
    import joblib

    joblib.dump(LogisticRegression().fit(X_SMALL, Y_SMALL), tmp_path / "m.joblib")
    with pytest.raises(InputError, match="refusing to load a pickle"):
        inspect_model(tmp_path / "m.joblib")
    assert inspect_model(tmp_path / "m.joblib", allow_pickle=True).parameters.total == 31


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    header, data, offset = {}, b"", 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_safetensors_counts_from_the_header_and_zeros_from_the_bytes(tmp_path: Path) -> None:
    w = np.array([[0.0, 1.5, 0.0], [2.0, -0.0, 3.0]], dtype="<f4")
    bf16 = np.array([0x0000, 0x8000, 0x3F80, 0x4000], dtype="<u2")  # +0, -0, 1.0, 2.0 in bfloat16
    _safetensors(tmp_path / "m.safetensors", {"w": ("F32", [2, 3], w.tobytes()),
                                              "b": ("BF16", [4], bf16.tobytes())})
    info = inspect_model(tmp_path / "m.safetensors")
    assert info.estimator is None and info.format == "safetensors"
    assert info.parameters.total == 10
    assert info.parameters.zeros == 3 + 2


@pytest.mark.parametrize("raw, problem", [
    (b"\x01", "shorter than its 8-byte header"),
    (struct.pack("<Q", 10**9) + b"{}", "does not fit the file"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
])
def test_malformed_safetensors_is_an_input_error(tmp_path: Path, raw: bytes, problem: str) -> None:
    (tmp_path / "m.safetensors").write_bytes(raw)
    with pytest.raises(InputError, match=problem):
        inspect_model(tmp_path / "m.safetensors")


def test_safetensors_offsets_outside_the_file_are_refused(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(InputError, match="data_offsets"):
        inspect_model(tmp_path / "m.safetensors")


def test_npz_is_read_without_unpickling(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", w=np.array([0.0, 1.0, 0.0]), b=np.array([2.0]))
    info = inspect_model(tmp_path / "m.npz")
    assert info.parameters.total == 4 and info.parameters.zeros == 2
    np.savez(tmp_path / "o.npz", o=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="without unpickling"):
        inspect_model(tmp_path / "o.npz")


def test_a_format_mlgate_cannot_read_has_unknown_parameters_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n")
    info = inspect_model(tmp_path / "m.h5")
    assert info.parameters is None and info.estimator is None and info.size_bytes == 6
    assert "without running code" in info.notes[0]
