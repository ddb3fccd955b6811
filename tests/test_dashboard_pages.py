"""Dashboard pages rendered from a hand-made customer view: the next action reads as a sentence, not JSON."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader

import shopseg.serve
from shopseg.serve.app import add_filters

TEMPLATES = Path(shopseg.serve.__file__).parent / "templates"
ACTION = {"customer_id": "c1", "campaign": "vip", "offer": "Double loyalty points this month", "channel": "direct_mail",
          "group": "treatment", "incentive": 5.0, "expected_value": 2.7408599999999996, "cost": 0.05,
          "reason": "vip: value_tier is high; lifecycle is active; it's the customer's first"}


def env() -> Environment:
    e = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    add_filters(e)
    return e


def render(view) -> str:
    return env().get_template("customer.html").render(view=view, customer_id="c1", version="x", active="customer")


def view(**kw):
    return {"customer_id": "c1", "run_id": 1, "as_of": "2024-12-31", "live": False, "features": {},
            "segments": {"rfm": {"segment": "Champions", "name": "Champions", "source": "run"}}, "churn": None,
            "clv": None, "recommendations": None, "status": "Active: no order for 5 days.", **kw}


def test_the_next_action_is_a_sentence_with_rounded_figures():
    html = render(view(next_action=ACTION))
    assert "vip by direct mail: &#34;Double loyalty points this month&#34; (incentive 5.00). " \
        "Expected value 2.74 at a cost of 0.05." in html and "2.7408599" not in html
    assert "Why: vip: value_tier is high; lifecycle is active; it&#39;s the customer&#39;s first" in html
    assert '"campaign":' not in html and "\\u0027" not in html
    assert 'href="/dashboard/segment?scheme=rfm&amp;segment=Champions"' in html  # segments link to members
    assert '<p id="status" class="status">Active: no order for 5 days.</p>' in html


def test_a_control_customer_is_said_to_be_held_out():
    html = render(view(next_action={**ACTION, "group": "control"}))
    assert "Held out of vip as a control customer: not contacted" in html
    assert "Expected value" not in html


def test_recommendations_show_product_names_and_why():
    recs = [{"product_id": "P1", "product_name": "Blue mug", "kind": "repeat", "reason": "you buy this every ~46 days"},
            {"product_id": "P2", "product_name": None, "kind": None, "reason": None}]
    html = render(view(next_action=None, recommendations=recs))
    assert "<li>Blue mug (repeat: you buy this every ~46 days)</li><li>P2</li>" in html
    assert '<p id="next-action" class="muted">Nothing planned.</p>' in html


def test_a_customer_without_an_action_is_told_why_each_campaign_left_them_out():
    why = ["win_back: needs churn_probability >= 0.8; theirs is 0.557.", "vip: needs value_tier in high; theirs is low."]
    html = env().get_template("customer.html").render(view=view(next_action=None), why_not=why, customer_id="c1",
                                                     version="x", active="customer")
    assert ('<ul id="why-not" class="muted"><li>win_back: needs churn_probability &gt;= 0.8; theirs is 0.557.</li>'
            "<li>vip: needs value_tier in high; theirs is low.</li></ul>") in html
    assert 'id="why-not"' not in render(view(next_action=ACTION))


def test_campaign_rows_show_rounded_figures():
    plan = {"run_id": 1, "note": None, "priors": None, "summary": [{"campaign": "vip", "channel": "email", "treatment": 1234,
            "control": 56, "cost": 0.05, "incremental_value": 2.79, "expected_value": 2.74086, "uplift": 0.005}],
            "totals": {"treatment": 1234, "control": 56,
            "cost": 0.05, "incremental_value": 2.79, "expected_value": 2.7408599999999996},
            "columns": ["customer_id", "campaign", "uplift", "expected_value", "reason"],
            "rows": [{"customer_id": "c1", "campaign": "vip", "uplift": 0.005, "expected_value": 2.7408599999999996,
                      "reason": None}]}
    html = env().get_template("campaign.html").render(plan=plan, version="x", active="campaign")
    assert '<td class="num">2.74</td><td class="long"></td>' in html and "2.74085" not in html
    assert '<td class="num">1,234</td>\n<td class="num">56</td>' in html  # counts with thousands separators
    assert '<th class="num">1,234</th>' in html and '<th class="num">0.50%</th>' not in html
