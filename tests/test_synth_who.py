"""The demo shop's planted people (ground_truth_people): region, birth date, gender and interests per customer."""

from __future__ import annotations

import numpy as np
import pytest

from shopseg.segment.demographics import demographics
from shopseg.synth import synthesize
from shopseg.synth._personas import CATEGORIES
from shopseg.synth._who import MAX_INTERESTS, REGIONS
from shopseg.workspace import open_workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws = open_workspace(tmp_path_factory.mktemp("who") / "ws")
    summary = synthesize(ws, customers=400, seed=3)
    yield ws, summary
    ws.close()


def test_every_customer_has_one_planted_row_matching_the_customers_export(demo):
    ws, summary = demo
    assert summary["ground_truth_people"] == 400
    bad = ws.scalar("""SELECT count(*) FROM ground_truth_people g JOIN customers c USING (customer_id)
                       WHERE g.country <> c.country OR g.region <> c.region
                          OR (c.city IS NOT NULL AND c.city <> g.city)
                          OR (g.birth_date_given <> (c.birth_date IS NOT NULL))
                          OR (g.gender_given <> (c.gender IS NOT NULL))
                          OR (c.birth_date IS NOT NULL AND c.birth_date <> g.birth_date)
                          OR (c.gender IS NOT NULL AND c.gender <> g.gender)""")
    assert bad == 0
    cities = dict(ws.sql("SELECT DISTINCT city, region FROM ground_truth_people"))
    assert all(REGIONS[c] == r for c, r in cities.items())


def test_planted_age_bands_agree_with_the_demographics_sql_as_of_the_shops_end(demo):
    ws, _ = demo
    got, notes = demographics(ws, "2024-12-31")
    truth = ws.df("SELECT customer_id, age_band FROM ground_truth_people WHERE birth_date_given")
    m = truth.merge(got, on="customer_id", suffixes=("_planted", ""))
    assert len(m) > 300 and (m["age_band"] == m["age_band_planted"]).all() and not notes


def test_planted_interests_are_the_latent_mix_most_lifted_over_the_shops_sale_lines(demo):
    ws, _ = demo
    share = ws.df("SELECT p.category, count(*) / sum(count(*)) OVER () AS s FROM order_lines l JOIN orders o "
                  "USING (order_id) JOIN products p USING (product_id) WHERE o.kind = 'sale' AND p.is_merchandise "
                  "GROUP BY 1").set_index("category")["s"].reindex(list(CATEGORIES)).to_numpy()
    g = ws.df("SELECT category_mix, interest_1, interest_2, interest_3, interests FROM ground_truth_people")
    lift = np.stack(g["category_mix"].to_numpy()) / share
    order = np.argsort(-lift, axis=1, kind="stable")
    assert (np.array(CATEGORIES)[order[:, 0]] == g["interest_1"].to_numpy()).all()
    n = g[["interest_1", "interest_2", "interest_3"]].notna().sum(axis=1).to_numpy()
    assert n.min() == 1 and n.max() <= MAX_INTERESTS
    # the k-th is there exactly when its lift reaches 1.5 (k >= 2)
    sorted_lift = np.take_along_axis(lift, order, axis=1)
    assert (n == 1 + (sorted_lift[:, 1] >= 1.5) + (sorted_lift[:, 1:3].min(axis=1) >= 1.5)).all()
    assert g["interests"].str.split(", ").map(len).tolist() == n.tolist()
