"""Predefined groups: learn the shop's own customer groups from a few labelled customers.

The shop names some customers' group (a CSV or table of ``customer_id,label``,
or rules in ``[segments.classify.rules]``: SQL conditions over the
``customer_features`` columns), and a classifier places everyone else:

* ``model = "tree"`` (CART, Breiman et al. 1984; readable as IF ... THEN rules),
  ``"logistic"`` (multinomial logistic regression), ``"forest"`` (random
  forest, Breiman 2001) or ``"linear_svm"`` (linear support vector machine);
  logistic and SVM see standardised features, trees and forests raw ones, so
  the tree's thresholds read in the features' own units (days, orders, money);
* accuracy is estimated by stratified k-fold cross-validation (seeded); with
  self-training the unlabelled customers join every training fold, never a
  test fold, so the estimate covers the whole procedure;
* ``self_training = true`` wraps the model in scikit-learn's
  ``SelfTrainingClassifier`` (Yarowsky 1995): customers predicted with
  probability >= ``self_training_threshold`` become labels for the next round,
  which helps when only a handful of customers are labelled;
* ``use_clusters = true`` adds the run's behavioural cluster as one-hot
  features (cluster-then-classify), so a group can be "most of cluster 3".

Customers with a given label keep it; the rest get the prediction.  The result
is scheme ``group`` in ``segments`` (and its profiles in ``segment_profiles``).

>>> import pandas as pd
>>> X = pd.DataFrame({"recency_days": [5, 10, 20, 200, 300, 400, 15, 250]})
>>> y = pd.Series(["active"] * 3 + ["lapsed"] * 3 + [None, None])
>>> gc = GroupClassifier(features=["recency_days"], cv_folds=3).fit(X, y)
>>> gc.predict(X.tail(2)).tolist()
['active', 'lapsed']
>>> print(gc.rules_[0])
IF recency_days <= 110 THEN active (3 customers, 100%)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier
from sklearn.svm import LinearSVC
from sklearn.calibration import CalibratedClassifierCV
from sklearn.tree import DecisionTreeClassifier, export_text

from ..config import Config, load_config
from ..errors import ConfigError, DataContractError, ModelFitError, NotFittedError
from ..params import Check, Interval, Options, validate_params
from ._common import SegmentWarning
from .profile import segment_profiles

MODELS = ("tree", "logistic", "forest", "linear_svm")
# The [segments.classify] settings (the config checks them through shopseg.segment._parameters) and this
# classifier's parameters of the same names: one table.
PARAMETER_CONSTRAINTS = {
    "segments.classify.model": Options(*MODELS),
    "segments.classify.max_depth": Interval(int, 0, 100),
    "segments.classify.min_samples_leaf": Interval(int, 1, None),
    "segments.classify.cv_folds": Interval(int, 2, 50),
    "segments.classify.self_training_threshold": Interval(float, 0, 1, closed="right"),
    "segments.classify.random_state": Interval(int, 0, None),
    # raises its own ConfigError naming the rule at fault
    "segments.classify.rules": Check("a list of tables with a 'label' and a 'when' SQL condition (no ';')",
                                     lambda v: isinstance(v, list) and check_rules(v) is not None),
}
SCHEME = "group"
# Not features: identifiers and the flag that repeats frequency > 0.
_NOT_FEATURES = {"customer_id", "run_id", "as_of"}


def default_features(frame: pd.DataFrame) -> list[str]:
    """Every numeric or boolean column of ``customer_features`` (category shares included)."""
    return [c for c in frame.columns if c not in _NOT_FEATURES and not c.startswith("in_cluster_")
            and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def tree_rules(tree: DecisionTreeClassifier, features: list[str], names=None) -> list[str]:
    """One readable rule per leaf: ``IF a <= 1 AND b > 2 THEN label (n customers, purity)``: n training
    customers in the leaf (pseudo-labelled ones included with self-training), purity the share of the label.

    Conditions on the same feature along a path are merged (``40 < recency_days <= 90``);
    rules are listed by decreasing number of labelled customers in the leaf.
    ``names`` maps the tree's class codes to group names (default: the codes).
    """
    t = tree.tree_
    out = []

    def walk(node, bounds):
        if t.children_left[node] == t.children_right[node]:  # leaf
            counts = t.value[node][0]
            k = int(np.argmax(counts))
            n = int(t.n_node_samples[node])
            purity = counts[k] / counts.sum() if counts.sum() else 0.0
            conds = []
            for f in sorted(bounds, key=features.index):
                lo, hi = bounds[f]
                if lo is not None and hi is not None:
                    conds.append(f"{_fmt(lo)} < {f} <= {_fmt(hi)}")
                elif hi is not None:
                    conds.append(f"{f} <= {_fmt(hi)}")
                else:
                    conds.append(f"{f} > {_fmt(lo)}")
            head = "IF " + " AND ".join(conds) + " THEN " if conds else "ALWAYS "
            cls = tree.classes_[k]
            label = names[int(cls)] if names is not None else cls
            out.append((n, f"{head}{label} ({n} customers, {purity:.0%})"))
            return
        f = features[t.feature[node]]
        thr = float(t.threshold[node])
        lo, hi = bounds.get(f, (None, None))
        walk(t.children_left[node], {**bounds, f: (lo, thr if hi is None else min(hi, thr))})
        walk(t.children_right[node], {**bounds, f: (thr if lo is None else max(lo, thr), hi)})

    walk(0, {})
    return [r for _, r in sorted(out, key=lambda x: -x[0])]


class GroupClassifier(ClassifierMixin, BaseEstimator):
    """Place unlabelled customers into the shop's predefined groups.

    ``fit(X, y)``: ``y`` holds a label for labelled customers and None / NaN
    for the others (used only by self-training).  Learned attributes:
    ``features_``, ``classes_``, ``estimator_``, ``cv_scores_`` (accuracy per
    fold), ``cv_accuracy_`` (their mean), ``n_labelled_``, ``rules_`` (tree
    only: readable rules), ``tree_text_`` (tree only: sklearn's export_text).
    """

    def __init__(self, model="tree", features=None, max_depth=4, min_samples_leaf=1, cv_folds=5,
                 self_training=False, self_training_threshold=0.9, random_state=0):
        self.model = model
        self.features = features
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.cv_folds = cv_folds
        self.self_training = self_training
        self.self_training_threshold = self_training_threshold
        self.random_state = random_state

    @classmethod
    def from_config(cls, cfg: Config) -> "GroupClassifier":
        c = cfg["segments.classify"]
        return cls(model=c["model"], features=c["features"] or None, max_depth=c["max_depth"],
                   min_samples_leaf=c["min_samples_leaf"], cv_folds=c["cv_folds"],
                   self_training=c["self_training"], self_training_threshold=c["self_training_threshold"],
                   random_state=c["random_state"])

    def _base(self):
        validate_params({"model": self.model}, PARAMETER_CONSTRAINTS, "segments.classify.")
        rs = self.random_state
        if self.model == "tree":
            return DecisionTreeClassifier(max_depth=self.max_depth or None, min_samples_leaf=self.min_samples_leaf,
                                          random_state=rs)
        if self.model == "forest":
            return RandomForestClassifier(n_estimators=200, max_depth=self.max_depth or None,
                                          min_samples_leaf=self.min_samples_leaf, random_state=rs, n_jobs=1)
        if self.model == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=rs))
        # linear_svm, calibrated so that self-training (and predict_proba) has probabilities to threshold
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(LinearSVC(random_state=rs), cv=3))

    def _make(self):
        base = self._base()
        if self.self_training:
            return SelfTrainingClassifier(base, threshold=self.self_training_threshold)
        return base

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise ConfigError(f"Classification features missing from the data: {', '.join(missing)}.",
                              hint="Check [segments.classify] features against the customer_features columns.")
        return np.nan_to_num(X[self.features_].to_numpy(dtype=float), nan=0.0)

    def fit(self, X: pd.DataFrame, y) -> "GroupClassifier":
        self._base()  # validates model
        validate_params({"self_training_threshold": self.self_training_threshold}, PARAMETER_CONSTRAINTS,
                        "segments.classify.")
        y = pd.Series(np.asarray(y, dtype=object), index=X.index)
        known = y.notna().to_numpy()
        self.features_ = list(self.features) if self.features else default_features(X)
        A = self._matrix(X)
        yk = y[known].astype(str).to_numpy()
        self.n_labelled_ = int(known.sum())
        classes, counts = np.unique(yk, return_counts=True)
        if len(classes) < 2:
            raise ModelFitError(f"Classifying needs labelled customers of at least 2 groups. Got "
                                f"{len(classes)} group(s) among {self.n_labelled_} labelled customer(s).",
                                hint="Label a few customers of every group (customer_id,label).")
        self.classes_ = classes
        folds = min(int(self.cv_folds), int(counts.min()))
        self.cv_scores_ = np.array([])
        if folds >= 2:
            self.cv_scores_ = self._cross_validate(A, known, yk, folds)
        else:
            warnings.warn(f"Group {classes[np.argmin(counts)]!r} has a single labelled customer: "
                          "no cross-validated accuracy.", SegmentWarning, stacklevel=2)
        self.cv_accuracy_ = float(self.cv_scores_.mean()) if len(self.cv_scores_) else float("nan")
        self.cv_folds_ = folds if folds >= 2 else 0
        self.estimator_ = self._fit_one(A, known, yk)
        self.rules_, self.tree_text_ = None, None
        if self.model == "tree":
            tree = self.estimator_.estimator_ if self.self_training else self.estimator_
            self.rules_ = tree_rules(tree, self.features_, self.classes_)
            self.tree_text_ = export_text(tree, feature_names=self.features_, decimals=2,
                                          class_names=[str(self.classes_[int(c)]) for c in tree.classes_])
        return self

    def _fit_one(self, A, known, yk):
        est = self._make()
        if self.self_training:
            codes = np.full(len(A), -1)
            codes[known] = np.searchsorted(self.classes_, yk)
            est.fit(A, codes)
        else:
            est.fit(A[known], np.searchsorted(self.classes_, yk))
        return est

    def _cross_validate(self, A, known, yk, folds) -> np.ndarray:
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        idx_known = np.flatnonzero(known)
        codes = np.searchsorted(self.classes_, yk)
        scores = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny folds: sklearn's "member count" and convergence chatter
            for tr, te in skf.split(idx_known, codes):
                train_known = np.zeros(len(A), dtype=bool)
                train_known[idx_known[tr]] = True
                est = self._make()
                if self.self_training:
                    use = train_known | ~known  # unlabelled customers train, test fold never does
                    lab = np.full(len(A), -1)
                    lab[idx_known[tr]] = codes[tr]
                    est.fit(A[use], lab[use])
                else:
                    est.fit(A[idx_known[tr]], codes[tr])
                scores.append(float((est.predict(A[idx_known[te]]) == codes[te]).mean()))
        return np.array(scores)

    def _check_fitted(self):
        if not hasattr(self, "estimator_"):
            raise NotFittedError("This GroupClassifier instance is not fitted yet; call fit(X, y) first.")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return self.classes_[np.asarray(self.estimator_.predict(self._matrix(X)), dtype=int)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of each group (columns in ``classes_`` order)."""
        self._check_fitted()
        return self.estimator_.predict_proba(self._matrix(X))


# -- labels ------------------------------------------------------------------------------------
def read_labels(source) -> pd.DataFrame:
    """``customer_id, label`` from a DataFrame or a CSV path; checks the two columns are there."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise ConfigError(f"The labels file {str(p)!r} does not exist.",
                              hint="Give a CSV with a header customer_id,label.")
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    else:
        df = pd.DataFrame(source)
    missing = [c for c in ("customer_id", "label") if c not in df.columns]
    if missing:
        raise DataContractError(f"Labels must have columns customer_id and label. Missing: {', '.join(missing)}; "
                                f"got columns {list(df.columns)}.")
    df = df[["customer_id", "label"]].astype({"customer_id": str})
    df["label"] = df["label"].where(df["label"].astype(str).str.strip() != "", None)
    df = df.dropna(subset=["label"])
    dup = df["customer_id"].duplicated(keep=False)
    clash = df[dup].groupby("customer_id")["label"].nunique()
    if (clash > 1).any():
        ex = clash[clash > 1].index[0]
        raise DataContractError(f"Customer {ex!r} has more than one label in the labels.",
                                hint="Give each customer one label.")
    return df.drop_duplicates("customer_id").reset_index(drop=True)


def rule_labels(features: pd.DataFrame, rules, con=None) -> pd.DataFrame:
    """Label customers by rules ``[{label, when}]`` (``when``: SQL over customer_features); first match wins.

    Customers no rule matches stay unlabelled.  Conditions are evaluated by DuckDB.

    >>> f = pd.DataFrame({"customer_id": ["a", "b", "c"], "recency_days": [5, 90, 400]})
    >>> rule_labels(f, [{"label": "recent", "when": "recency_days <= 30"},
    ...                 {"label": "gone", "when": "recency_days > 365"}])["label"].tolist()
    ['recent', 'gone']
    """
    import duckdb

    rules = check_rules(rules)
    if not rules:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "label": pd.Series(dtype=str)})
    own = con is None
    con = duckdb.connect() if own else con
    cases = " ".join(f"WHEN ({r['when']}) THEN ?" for r in rules)
    try:
        con.execute("SELECT 1").fetchall()
        con.register("_shopseg_classify_f", features)
        try:
            df = con.execute(f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, CASE {cases} END AS label "
                             "FROM _shopseg_classify_f", [str(r["label"]) for r in rules]).df()
        except duckdb.Error as e:
            raise ConfigError(f"A [segments.classify.rules] condition is not valid SQL over customer_features: "
                              f"{str(e).splitlines()[0]}",
                              hint="Conditions use customer_features columns, e.g. recency_days <= 40.") from None
    finally:
        try:
            con.unregister("_shopseg_classify_f")
        except Exception:  # not registered
            pass
        if own:
            con.close()
    return df.dropna(subset=["label"]).reset_index(drop=True)


def check_rules(rules) -> list[dict]:
    """Validate ``[segments.classify] rules``: a list of tables with a ``label`` and a ``when`` condition."""
    out = []
    for i, r in enumerate(rules or []):
        ok = isinstance(r, dict) and set(r) == {"label", "when"} and isinstance(r["when"], str) \
            and r["when"].strip() and ";" not in r["when"] and str(r["label"]).strip()
        if not ok:
            raise ConfigError(f"The 'segments.classify.rules' setting must be a list of tables with a 'label' and a "
                              f"'when' SQL condition over customer_features (no ';'). Got {r!r} at position {i}.",
                              hint='rules = [{ label = "vip", when = "monetary_net > 1000 AND frequency >= 5" }]')
        out.append(r)
    return out


# -- the stage hook ------------------------------------------------------------------------------
def with_cluster_onehot(features: pd.DataFrame, clusters: pd.Series | None) -> pd.DataFrame:
    """``features`` plus ``in_cluster_<id>`` 0/1 columns (cluster-then-classify fusion)."""
    if clusters is None or not len(clusters):
        return features
    c = pd.Series(np.asarray(clusters, dtype=object), index=features.index).astype(str)
    dummies = pd.get_dummies(c, prefix="in", prefix_sep="_", dtype=float)
    return pd.concat([features, dummies], axis=1)


def _features_for(ws, run_id, as_of, cfg) -> pd.DataFrame:
    if run_id is not None and ws.has_table("customer_features") and ws.scalar(
            "SELECT count(*) FROM customer_features WHERE run_id = ?", [run_id]):
        return ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id",
                     [run_id])
    from ..features import customer_features
    return customer_features(ws, as_of, None, config=cfg)


def classify_groups(ws, run_id: int | None, as_of, config: Config | None = None, labels=None) -> dict:
    """Train on labelled customers, place the rest, write scheme 'group' rows; returns a summary.

    ``labels``: a DataFrame / CSV path of ``customer_id,label``; else
    ``[segments.classify] labels_path`` / ``labels_table``, else the rules.
    Nothing configured: returns ``{"note": "skipped: ..."}`` and writes nothing.
    """
    cfg = config if config is not None else load_config()
    c = cfg["segments.classify"]
    feats = _features_for(ws, run_id, as_of, cfg)
    if labels is None and c["labels_path"]:
        labels = c["labels_path"]
    if labels is None and c["labels_table"]:
        if not ws.has_table(c["labels_table"]):
            raise ConfigError(f"The 'segments.classify.labels_table' setting names table {c['labels_table']!r}, "
                              "which is not in the workspace.")
        labels = ws.df(f'SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(label AS VARCHAR) AS label '
                       f'FROM "{c["labels_table"]}"')
    if labels is not None:
        lab = read_labels(labels)
        source = "labels"
    elif c["rules"]:
        lab = rule_labels(feats, c["rules"])
        source = "rules"
    else:
        return {"note": "skipped: no labels_path, labels_table or rules in [segments.classify]"}
    clusters = None
    if c["use_clusters"] and run_id is not None and ws.has_table("segments"):
        seg = ws.df("SELECT customer_id, segment FROM segments WHERE run_id = ? AND scheme = 'cluster'", [run_id])
        if len(seg):
            clusters = feats[["customer_id"]].merge(seg, on="customer_id", how="left")["segment"].fillna("none")
    X = with_cluster_onehot(feats, clusters)
    y = feats[["customer_id"]].merge(lab, on="customer_id", how="left")["label"]
    unknown = int((~lab["customer_id"].isin(feats["customer_id"])).sum())
    if unknown:
        warnings.warn(f"{unknown} labelled customer(s) are not among the customers known at as_of; ignored.",
                      SegmentWarning, stacklevel=2)
    model, group = place_groups(X, y, cfg)
    summary = {"source": source, "model": model.model, "labelled": model.n_labelled_,
               "placed": int(y.isna().sum()), "groups": {str(k): int(v) for k, v in
                                                          pd.Series(group).value_counts().sort_index().items()},
               "cv_accuracy": None if np.isnan(model.cv_accuracy_) else round(model.cv_accuracy_, 4),
               "cv_folds": model.cv_folds_, "self_training": bool(model.self_training),
               "use_clusters": clusters is not None, "rules": model.rules_}
    if run_id is not None:
        extra = {g: {"classifier": {k: summary[k] for k in ("source", "model", "labelled", "placed", "cv_accuracy",
                                                             "cv_folds", "self_training", "use_clusters")},
                     "rules": [r for r in (model.rules_ or []) if r.split(" THEN ")[-1].startswith(f"{g} (")]}
                 for g in set(group)}
        prof = segment_profiles(feats, pd.Series(group, index=feats.index), SCHEME, extra)
        _write_group(ws, run_id, feats["customer_id"], group, prof)
    return summary


def place_groups(X: pd.DataFrame, y, cfg: Config) -> tuple[GroupClassifier, np.ndarray]:
    """Fit the configured classifier on the labelled rows of ``y`` (None elsewhere) and place every row.

    Labelled rows keep their label; returns (fitted model, group per row).
    """
    c = cfg["segments.classify"]
    model = GroupClassifier.from_config(cfg)
    if c["features"]:
        model.set_params(features=list(c["features"]) + [col for col in X.columns if col.startswith("in_cluster_")])
    y = pd.Series(np.asarray(y, dtype=object), index=X.index)
    model.fit(X, y.to_numpy(dtype=object))
    group = np.where(y.notna().to_numpy(), y.to_numpy(dtype=object), model.predict(X))
    return model, group


def _write_group(ws, run_id: int, customer_id: pd.Series, group: np.ndarray, prof: pd.DataFrame) -> None:
    """Replace this run's 'group' rows of segments and segment_profiles, keeping the other schemes."""
    rows = pd.DataFrame({"customer_id": customer_id.astype(str).to_numpy(), "scheme": SCHEME,
                         "segment": pd.Series(group).astype(str).to_numpy()})
    con = ws.con
    con.execute("SELECT 1").fetchall()
    con.register("_shopseg_group", rows)
    con.register("_shopseg_group_prof", prof)
    try:
        for table, view, cols in (
                ("segments", "_shopseg_group", "CAST(customer_id AS VARCHAR) AS customer_id, "
                 "CAST(scheme AS VARCHAR) AS scheme, CAST(segment AS VARCHAR) AS segment"),
                ("segment_profiles", "_shopseg_group_prof", "CAST(scheme AS VARCHAR) AS scheme, "
                 "CAST(segment AS VARCHAR) AS segment, CAST(name AS VARCHAR) AS name, "
                 "CAST(n_customers AS BIGINT) AS n_customers, CAST(share AS DOUBLE) AS share, "
                 "CAST(profile AS VARCHAR) AS profile")):
            if not ws.has_table(table):
                ws.write_output(table, run_id, f"SELECT {cols} FROM {view}")
                continue
            con.execute(f'DELETE FROM "{table}" WHERE run_id = ? AND scheme = ?', [run_id, SCHEME])
            con.execute(f'INSERT INTO "{table}" BY NAME SELECT CAST(? AS BIGINT) AS run_id, {cols} FROM {view}',
                        [run_id])
    finally:
        con.execute("SELECT 1").fetchall()
        for v in ("_shopseg_group", "_shopseg_group_prof"):
            try:
                con.unregister(v)
            except Exception:  # not registered
                pass
