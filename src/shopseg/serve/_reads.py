"""The reads the handlers call: the customer view (from the snapshot when it can), segments, members, the churn
threshold curve and the campaign plan, each over the read layer (:mod:`shopseg.views`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from ..errors import ShopsegError
from ..views import (
    members,
    next_action_words,
    plan_view,
    read_parts,
    recommendation_words,
    segment_listing,
    segment_run,
    shape,
)
from . import models as M
from ._state import _State

_MISS = object()


def fast_customer_view(state: _State, customer_id: str):
    """The view from memory alone (run snapshot + live cache), or ``_MISS`` when SQL is needed.

    No SQL, no thread hop: what GET /customers/{id} answers on the event loop.
    """
    got = _fast_parts(state, customer_id)
    return _MISS if got is None else _assemble(got[0], customer_id, got[1])


def _fast_parts(state: _State, customer_id: str) -> tuple[dict, dict] | None:
    """(runs, parts of the view) from memory alone, or None when SQL is needed."""
    runs = state.fresh_runs()
    if runs is None or runs.get("snapshot") is None:
        return None
    got = runs["snapshot"].lookup(customer_id, state.live.cached(runs["run_id"], customer_id))
    return None if got is None else (runs, got)


def members_page(state: _State, cur, scheme: str, segment: str, page: int, size: int) -> M.MembersPage:
    """One page of a segment's customer ids (ordered by id), for the API and the dashboard."""
    return M.MembersPage(**members(cur, state.runs(cur), scheme, segment, page, size))


def customer_view(state: _State, cur, customer_id: str, *, use_snapshot: bool = True) -> M.CustomerView | None:
    """Everything known about one customer (:func:`shopseg.views.customer_view`); each part None / empty when its
    table is absent.

    From the run's in-memory snapshot plus the live cache when the run knows the
    customer (no SQL); else the read layer's one SQL statement (:func:`shopseg.views.read_parts`).
    """
    runs = state.runs(cur)
    snap = runs.get("snapshot")
    got = None
    if snap is not None and use_snapshot:
        got = snap.lookup(customer_id, state.live.cached(runs["run_id"], customer_id))
    if got is None:
        got = read_parts(cur, runs, customer_id)
    return _assemble(runs, customer_id, got)


def _assemble(runs: dict, customer_id: str, got: dict) -> M.CustomerView | None:
    d = shape(runs, customer_id, got)
    return None if d is None else M.CustomerView.model_validate(d)


def segments_view(state: _State, cur, scheme: str | None = None) -> M.SegmentsView:
    """Sizes and names of every scheme's segments; with ``scheme``, that scheme's only, each with its profile and
    figures (:func:`shopseg.views.segment_listing`), or a 404 naming the schemes there are."""
    runs = state.runs(cur)
    return M.SegmentsView(run_id=runs["run_id"], schemes=segment_listing(cur, runs, scheme))


def _segment_run(state: _State, cur, scheme: str, segment: str) -> int:
    return segment_run(cur, state.runs(cur), scheme, segment)


def churn_threshold_curve(state: _State, cur) -> dict:
    """Campaign reach at every threshold 0.00..1.00: true churners and false alarms above it.

    Source, first available: (1) ``validation``: the stored churn model's
    predictions on its validation cutoff (``as_of - H``) against the observed
    labels of ``[as_of - H, as_of)`` (the same customers and labels as the
    model's quality figures); (2) ``observed``: the run's ``churn_scores``
    against orders observed in the H days after the run's as_of, when the
    workspace holds that much later data; else an empty curve with a note.
    """
    runs = state.runs(cur)
    rid = runs["run_id"]
    if rid in state._curve_cache:
        return state._curve_cache[rid]
    grid = np.round(np.arange(0, 101) / 100, 2)
    out: dict[str, Any] = {"run_id": rid, "thresholds": grid.tolist(), "source": None, "note": None,
                           "n": 0, "n_churners": 0, "true_churners": [], "false_alarms": []}
    p = y = None
    ws_path = state.ws.path
    from .live import _ConWs

    from .. import models

    if rid is not None and models.exists(state.ws, "churn", rid):
        from ..predict.churn import churn_labels, cutoff_frame, load_churn_model

        own = state.ws.con.cursor()
        try:
            w = _ConWs(own, ws_path)
            model = load_churn_model(w, rid)
            meta = model.metadata_
            H = int(meta["horizon"]["horizon_days"])
            c2 = datetime.fromisoformat(meta["cutoffs"]["valid"])
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = cutoff_frame(w, c2, H, runs["config"])
                lab = churn_labels(w, c2, H)
                frame = frame.merge(lab, on="customer_id", how="inner")
                p = model.predict_proba(frame[model.feature_names_in_])[:, 1]
            y = frame["churned"].to_numpy(dtype=int)
            out.update(source="validation", horizon_days=H, cutoff=c2.isoformat())
        except (ShopsegError, KeyError, ValueError) as e:
            out["note"] = f"stored churn model unusable: {e}"
        finally:
            own.close()
    if p is None and runs["tables"].get("churn_scores") is not None:
        H = None
        if runs["tables"].get("model_reports") is not None:
            got = cur.execute("SELECT max(CAST(json_extract(details, '$.horizon_days') AS INTEGER)) FROM model_reports "
                              "WHERE run_id = ?", [runs["tables"]["model_reports"]]).fetchall()
            H = got[0][0]
        H = int(H or runs["config"]["churn.fallback_horizon_days"])
        as_of = runs["as_of"]
        last = cur.execute("SELECT max(ordered_at) FROM orders").fetchall()[0][0]
        if last is not None and (last - as_of).days >= H:
            df = cur.execute(
                """SELECT s.probability, CAST(NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = s.customer_id
                       AND o.kind = 'sale' AND o.ordered_at >= $as_of AND o.ordered_at < $as_of + to_days($h))
                       AS INTEGER) AS churned
                   FROM churn_scores s WHERE s.run_id = $run""",
                {"as_of": as_of, "h": H, "run": runs["tables"]["churn_scores"]}).df()
            p, y = df["probability"].to_numpy(float), df["churned"].to_numpy(int)
            out.update(source="observed", horizon_days=H)
        elif out["note"] is None:
            out["note"] = (f"no churn model stored and fewer than {H} days of orders after the run's as_of: "
                           "nothing to check the scores against yet")
    if p is not None:
        reach = p[None, :] >= grid[:, None]
        out["true_churners"] = (reach & (y[None, :] == 1)).sum(axis=1).tolist()
        out["false_alarms"] = (reach & (y[None, :] == 0)).sum(axis=1).tolist()
        out["n"], out["n_churners"] = int(len(y)), int(y.sum())
    elif out["note"] is None:
        out["note"] = "no churn scores in the workspace"
    state._curve_cache[rid] = out
    return out


def add_filters(env) -> None:
    """The read layer's sentences as Jinja filters: the dashboard says what the CLI says."""
    env.filters["action_words"] = next_action_words
    env.filters["recommendation_words"] = recommendation_words
    from ..predict._status import p_alive_name
    from ..predict.explain import percent_words, probability_words

    env.filters["percent_words"] = percent_words
    env.filters["probability_words"] = probability_words
    env.filters["p_alive_name"] = p_alive_name


def campaign_plan(state: _State, cur) -> dict:
    """The plan of the latest run with actions (:func:`shopseg.views.plan_view`: the figures `shopseg plan` and
    the report show), with its first actions."""
    plan = plan_view(cur, first_actions=50)
    plan.pop("frame")
    return plan
