"""Uplift learners on Hillstrom's randomised e-mail test: shopseg's against scikit-uplift's and causalml's.

Data: ``hillstrom/hillstrom.csv`` (Kevin Hillstrom's MineThatData e-mail experiment, 2008: 64,000
customers randomised to a men's e-mail, a women's e-mail or none; outcomes in the next two weeks).
One random 70/30 split of all rows, stratified by the three-way treatment (seed 0); for each
e-mail against no e-mail and each outcome (``visit``, ``spend``) every learner is fitted on the 70%
and scored on the 30%: normalised Qini AUC (AUUC) and uplift at the top 30% (treated minus control
mean outcome among the 30% with the highest predicted uplift), with 95% percentile intervals from
``--boot`` bootstrap resamples of the hold-out (the fitted models fixed), and fit seconds.

Every learner uses the same LightGBM settings (``shopseg.act.uplift_models._lgbm_params``) where it
takes a base model, so the comparison is of the meta-learners, not of tuning.  The metrics are
shopseg's (``qini_auc``, ``uplift_at_k``), which equal scikit-uplift's ``qini_auc_score`` and
``uplift_at_k(strategy='overall')`` on 0/1 outcomes (checked below on every visit model) and extend
the same formulas to spend.

    pip install scikit-uplift causalml      # eval-only: the [eval] extra of pyproject.toml
    python evals/hillstrom_uplift.py [DATA_DIR] [--boot 200] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shopseg.act.uplift_models import (LEARNERS, UpliftModel, _lgbm_params, make_learner, qini_auc, stratified_split,
                                       uplift_at_k)

EMAILS = {"mens": "Mens E-Mail", "womens": "Womens E-Mail"}
CONTROL = "No E-Mail"
N_ESTIMATORS = 200


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def features(df: pd.DataFrame) -> pd.DataFrame:
    X = df[["recency", "history", "mens", "womens", "newbie"]].astype(float)
    X["history_segment"] = df["history_segment"].str[0].astype(float)
    for col in ("zip_code", "channel"):
        X = X.join(pd.get_dummies(df[col], prefix=col, dtype=float))
    return X


def lgbm(binary: bool, seed: int = 0):
    import lightgbm as lgb

    p = _lgbm_params(seed, N_ESTIMATORS)
    return lgb.LGBMClassifier(**p) if binary else lgb.LGBMRegressor(**p)


def learners(binary: bool, p_treated: float) -> dict:
    """name -> (fit(X, t, y) -> predict(X) function): every learner of the comparison."""
    out = {}
    for name in LEARNERS:
        out[f"shopseg {name}"] = lambda X, t, y, n=name: make_learner(
            n, n_estimators=N_ESTIMATORS).fit(X, t, y).predict
    out["shopseg auto (chosen by validation)"] = lambda X, t, y: UpliftModel(
        n_estimators=N_ESTIMATORS).fit(X, t, y)
    try:
        from sklift.models import ClassTransformation, SoloModel, TwoModels

        def sk(make):
            def fit(X, t, y):
                m = make().fit(X, y, t)
                return m.predict
            return fit
        out["scikit-uplift SoloModel"] = sk(lambda: SoloModel(lgbm(binary)))
        out["scikit-uplift TwoModels"] = sk(lambda: TwoModels(lgbm(binary), lgbm(binary, 1), method="vanilla"))
        out["scikit-uplift TwoModels ddr_control"] = sk(lambda: TwoModels(lgbm(binary), lgbm(binary, 1),
                                                                           method="ddr_control"))
        if binary:
            out["scikit-uplift ClassTransformation"] = sk(lambda: ClassTransformation(lgbm(True)))
    except ImportError as e:
        print(f"scikit-uplift not available: {e}")
    try:
        from causalml.inference.meta import (BaseSClassifier, BaseSRegressor, BaseTClassifier, BaseTRegressor,
                                             BaseXClassifier, BaseXRegressor)

        def cm(make, needs_p=False):
            def fit(X, t, y):
                m = make()
                kw = {"p": np.full(len(t), p_treated)} if needs_p else {}
                m.fit(X, t, y, **kw)
                return lambda Xn: np.asarray(m.predict(Xn, **({"p": np.full(len(Xn), p_treated)} if needs_p
                                                              else {}))).reshape(-1)
            return fit
        if binary:
            out["causalml S-learner"] = cm(lambda: BaseSClassifier(lgbm(True)))
            out["causalml T-learner"] = cm(lambda: BaseTClassifier(lgbm(True)))
            out["causalml X-learner"] = cm(lambda: BaseXClassifier(lgbm(True), lgbm(False, 2)), needs_p=True)
        else:
            out["causalml S-learner"] = cm(lambda: BaseSRegressor(lgbm(False)))
            out["causalml T-learner"] = cm(lambda: BaseTRegressor(lgbm(False)))
            out["causalml X-learner"] = cm(lambda: BaseXRegressor(lgbm(False)), needs_p=True)
        if binary:
            from causalml.inference.tree import UpliftRandomForestClassifier

            def urf(X, t, y):
                m = UpliftRandomForestClassifier(n_estimators=20, max_depth=6, min_samples_leaf=200,
                                                 control_name="0", random_state=0, n_jobs=1)
                m.fit(X, np.where(t == 1, "1", "0"), y.astype(int))
                return lambda Xn: np.asarray(m.predict(Xn)).reshape(-1)
            out["causalml UpliftRandomForest"] = urf
    except ImportError as e:
        print(f"causalml not available: {e}")
    return out


def bootstrap(y, s, t, boot: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(y)
    q, u = [], []
    for _ in range(boot):
        i = rng.integers(0, n, n)
        q.append(qini_auc(y[i], s[i], t[i]))
        u.append(uplift_at_k(y[i], s[i], t[i], 0.3))
    return {"qini_low": float(np.nanpercentile(q, 2.5)), "qini_high": float(np.nanpercentile(q, 97.5)),
            "u30_low": float(np.nanpercentile(u, 2.5)), "u30_high": float(np.nanpercentile(u, 97.5))}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", nargs="?", default=str(default_data_dir()))
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated e-mail:outcome tasks, e.g. mens:visit")
    args = ap.parse_args(argv)
    df = pd.read_csv(Path(args.data_dir) / "hillstrom" / "hillstrom.csv")
    X_all = features(df).to_numpy(float)
    train, test = stratified_split(df["treatment"].to_numpy(), 0.3, random_state=0)
    is_train = np.zeros(len(df), bool)
    is_train[train] = True
    rows = []
    for email, label in EMAILS.items():
        keep = df["treatment"].isin([label, CONTROL]).to_numpy()
        t_all = (df["treatment"] == label).to_numpy().astype(int)
        for outcome in ("visit", "spend"):
            if args.only and f"{email}:{outcome}" not in args.only.split(","):
                continue
            y_all = df[outcome].to_numpy(float)
            tr, te = keep & is_train, keep & ~is_train
            binary = outcome == "visit"
            p_treated = float(t_all[tr].mean())
            ate = y_all[te & (t_all == 1)].mean() - y_all[te & (t_all == 0)].mean()
            print(f"\n== {email} e-mail vs none, {outcome}: train {tr.sum():,}, test {te.sum():,}, "
                  f"hold-out ATE {ate:+.4f}")
            for name, fit in learners(binary, p_treated).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    model = fit(X_all[tr], t_all[tr], y_all[tr])
                    secs = time.perf_counter() - t0
                    predict = model.predict if isinstance(model, UpliftModel) else model
                    s = np.asarray(predict(X_all[te]), float).reshape(-1)
                y, t = y_all[te], t_all[te]
                row = {"email": email, "outcome": outcome, "learner": name, "fit_seconds": round(secs, 2),
                       "qini_auc": qini_auc(y, s, t), "uplift_at_30": uplift_at_k(y, s, t, 0.3),
                       **bootstrap(y, s, t, args.boot, seed=1)}
                if isinstance(model, UpliftModel):
                    row["chosen"] = model.learner_
                    row["validation"] = {k: round(v, 4) for k, v in model.validation_.items()}
                if binary:
                    try:
                        warnings.simplefilter("ignore", FutureWarning)  # scikit-uplift's use of stable_cumsum
                        from sklift.metrics import qini_auc_score, uplift_at_k as sk_u

                        assert abs(qini_auc_score(y, s, t) - row["qini_auc"]) < 1e-9
                        assert abs(sk_u(y, s, t, "overall", 0.3) - row["uplift_at_30"]) < 1e-9
                    except ImportError:
                        pass
                rows.append(row)
                print(f"{name:42s} qini {row['qini_auc']:.4f} [{row['qini_low']:.4f}, {row['qini_high']:.4f}]  "
                      f"u@30 {row['uplift_at_30']:+.4f} [{row['u30_low']:+.4f}, {row['u30_high']:+.4f}]  "
                      f"{secs:6.2f} s" + (f"  chose {row['chosen']} {row['validation']}" if "chosen" in row else ""),
                      flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
