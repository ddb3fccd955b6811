"""The read layer: what every surface shows of a workspace's runs, read in one place.

The CLI, the API, the dashboard and the report format these; none of them queries the output tables on its
own. (The service also keeps an in-memory copy of the customer view's parts for its hot path; it is built from
the same :data:`VIEW_PARTS` and shaped by the same :func:`shape`.)

- :func:`customer_view`: one customer (segments of every scheme, churn with reasons, CLV, P(alive), interests,
  recommendations with product names and why, the next action, one status sentence); :func:`next_action_words`
  and :func:`recommendation_words` put the action and a recommendation in words.
- :func:`plan_view`: the campaign plan of a run (per campaign and in total).
- :func:`segment_listing` (sizes, names, profiles and figures of a scheme's segments), :func:`members` (a page of
  a segment's customers), :func:`segment_figures` (revenue, AOV, repeat rate, churn risk, CLV per segment).
- :func:`customers`: one row per customer with every segment and score (also ``ws.customers()``).
- :mod:`shopseg.views.outputs`: a run's top CLV and churn customers, churn validation, reviews per language,
  segment sizes over runs and the migration between two runs (what ``shopseg predict``, ``reviews``,
  ``history`` and ``diff`` print).

Every function reads the run of :func:`read_runs` (the latest done run by default; each output table at that
run or the latest earlier one that wrote it).
"""

from ._frames import CLV_COLUMNS, customer_interests, customers
from .customer import (VIEW_PARTS, customer_view, next_action_words, not_planned, read_parts, read_runs,
                       recommendation_words, shape, view_sql)
from .plan import plan_view
from .segments import (FIGURES, k_min_of, members, segment_figures, segment_figures_sql, segment_listing,
                       segment_run, suppress_small)

__all__ = ["CLV_COLUMNS", "FIGURES", "VIEW_PARTS", "customer_interests", "customer_view", "customers", "k_min_of",
           "members", "next_action_words", "not_planned", "plan_view", "read_parts", "read_runs", "recommendation_words",
           "segment_figures", "segment_figures_sql", "segment_listing", "segment_run", "shape", "suppress_small",
           "view_sql"]
