"""Who the demo customers are: region, birth date, gender and interests, planted per customer.

Drawn on a random stream of their own (:func:`who_seed`), so the rest of the
shop (orders, events, reviews, every other ground truth) is the same with or
without them.  Country and city are the customers table's own draw
(``_write.customers_table``); this module adds the region of the city.

The planted interests are the categories the customer's latent category mix
(``category_mix``, stored in the table in :data:`CATEGORIES` order) favours most
over what the shop sells: ``lift = mix / shop share`` (the shop share: the
category's share of the synthesised merchandise sale lines, computed once every
chunk is written, :data:`INTERESTS_SQL`), the categories with
``lift >= INTEREST_MIN_LIFT`` by lift, at most ``MAX_INTERESTS``, at least the
top one.  Since the mix drives every merchandise pick (and the browsing), that
is what the purchases show; no product is changed.  Brands are not planted: a
customer's picks within a category follow price and popularity, not a brand.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..segment.demographics import AGE_BANDS
from ._personas import CATEGORIES, PERSONAS
from ._people import COUNTRIES_EN, COUNTRIES_ZH

WHO_STREAM = 24  # entropy word of this module's random stream (issue #24)
INTEREST_MIN_LIFT = 1.5
MAX_INTERESTS = 3
BIRTH_DATE_MISSING = 0.10  # customers who gave no birth date
GENDER_MISSING = 0.08  # customers who gave no gender
OTHER_GENDER = 0.02  # of those who gave one
# age in years at as_of: Normal(mean, sd), clipped to [18.1, 90]; share of women among female/male
AGE = {"vip": (46, 11), "regular": (44, 13), "bargain_hunter": (33, 10), "new": (29, 8),
       "window_shopper": (27, 7), "dormant": (41, 12), "churned": (38, 13), "wholesale": (48, 9)}
FEMALE_SHARE = {"vip": 0.45, "regular": 0.55, "bargain_hunter": 0.62, "new": 0.55, "window_shopper": 0.6,
                "dormant": 0.58, "churned": 0.5, "wholesale": 0.35}
GENDERS = ("female", "male", "other")
# city -> region (state, nation or province); city-states are their own region
REGIONS = {
    "New York": "New York", "Los Angeles": "California", "Chicago": "Illinois", "Houston": "Texas",
    "Seattle": "Washington", "Boston": "Massachusetts", "London": "England", "Manchester": "England",
    "Birmingham": "England", "Leeds": "England", "Glasgow": "Scotland", "Toronto": "Ontario",
    "Vancouver": "British Columbia", "Montreal": "Quebec", "Sydney": "New South Wales", "Melbourne": "Victoria",
    "Brisbane": "Queensland", "Berlin": "Berlin", "Munich": "Bavaria", "Hamburg": "Hamburg",
    "Paris": "Ile-de-France", "Lyon": "Auvergne-Rhone-Alpes", "Marseille": "Provence-Alpes-Cote d'Azur",
    "Dublin": "Leinster", "Cork": "Munster", "Amsterdam": "North Holland", "Rotterdam": "South Holland",
    "Utrecht": "Utrecht", "Shanghai": "Shanghai", "Beijing": "Beijing", "Shenzhen": "Guangdong",
    "Hangzhou": "Zhejiang", "Chengdu": "Sichuan", "Taipei": "Taipei", "Kaohsiung": "Kaohsiung",
    "Hong Kong": "Hong Kong", "Singapore": "Singapore",
}
assert set(REGIONS) == {c for group in (COUNTRIES_EN, COUNTRIES_ZH) for _, _, cities in group for c in cities}


def who_seed(seed: int, chunk: int) -> np.random.SeedSequence:
    """The seed of chunk ``chunk``'s people stream: apart from the shop's (``SeedSequence(seed)``'s children)."""
    return np.random.SeedSequence([seed, WHO_STREAM, chunk])


def age_in_years(birth: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """Whole years from ``birth`` (datetime64) to ``as_of``: the birthday counts from its day."""
    b = birth.astype("datetime64[D]")
    a = np.datetime64(as_of, "D")
    bM, aM = b.astype("datetime64[M]"), a.astype("datetime64[M]")
    by, ay = b.astype("datetime64[Y]").astype(int), a.astype("datetime64[Y]").astype(int)
    bm, am = bM.astype(int) % 12, aM.astype(int) % 12
    bd, ad = (b - bM).astype(int), (a - aM).astype(int)
    return ay - by - ((am < bm) | ((am == bm) & (ad < bd)))


def band_of_age(age: np.ndarray) -> np.ndarray:
    """Index into :data:`AGE_BANDS` of each age in years."""
    lows = np.array([lo for _, lo, _ in AGE_BANDS])
    return np.searchsorted(lows, age, side="right") - 1


def people_tables(rng, cu, place, S, first: int, start: np.datetime64, H: float) -> tuple[pa.Table, dict]:
    """The ground_truth_people rows of one chunk, and the customers' region and demographic columns (NULL where
    not given).

    ``place``: each customer's index into ``S.places`` (the customers table's draw).
    """
    n = len(cu["persona"])
    names = [p.name for p in PERSONAS]
    mean, sd = np.array([AGE[k] for k in names], float)[cu["persona"]].T
    age_days = np.round(np.clip(rng.normal(mean, sd), 18.1, 90.0) * 365.25)
    birth = (start + np.round((H - age_days)).astype("timedelta64[D]")).astype("datetime64[s]")
    as_of = start + np.timedelta64(int(H), "D")
    band = band_of_age(age_in_years(birth, as_of))
    female = rng.random(n) < np.array([FEMALE_SHARE[k] for k in names])[cu["persona"]]
    gender = np.where(rng.random(n) < OTHER_GENDER, 2, np.where(female, 0, 1))
    no_birth = rng.random(n) < BIRTH_DATE_MISSING
    no_gender = rng.random(n) < GENDER_MISSING
    city = [p[1] for p in S.places]
    truth = pa.table({
        "i": np.arange(first, first + n, dtype=np.int64),
        "country": pa.array([p[0] for p in S.places], type=pa.string()).take(pa.array(place)),
        "region": pa.array([REGIONS[c] for c in city], type=pa.string()).take(pa.array(place)),
        "city": pa.array(city, type=pa.string()).take(pa.array(place)),
        "birth_date": birth,
        "age_band": pa.array([b for b, _, _ in AGE_BANDS], type=pa.string()).take(pa.array(band)),
        "gender": pa.array(list(GENDERS), type=pa.string()).take(pa.array(gender)),
        "birth_date_given": ~no_birth,
        "gender_given": ~no_gender,
        "category_mix": pa.FixedSizeListArray.from_arrays(np.round(cu["mix"], 6).ravel(), len(CATEGORIES)),
    })
    given = {"region": truth["region"], "birth_date": pa.array(birth, mask=no_birth),
             "gender": pa.array(np.array(GENDERS, dtype=object)[gender], type=pa.string(), mask=no_gender)}
    return truth, given


PEOPLE_DDL = """
CREATE TABLE ground_truth_people (
  customer_id VARCHAR, country VARCHAR, region VARCHAR, city VARCHAR, birth_date TIMESTAMP, age_band VARCHAR,
  gender VARCHAR, birth_date_given BOOLEAN, gender_given BOOLEAN, category_mix DOUBLE[], interest_1 VARCHAR,
  interest_2 VARCHAR, interest_3 VARCHAR, interests VARCHAR
)"""


def people_sql(width: int) -> str:
    return f"""
    INSERT INTO ground_truth_people
    SELECT 'C' || lpad(CAST(i AS VARCHAR), {width}, '0'), country, region, city, birth_date, age_band, gender,
           birth_date_given, gender_given, CAST(category_mix AS DOUBLE[]), NULL, NULL, NULL, NULL
    FROM read_parquet($file)"""


# The planted interests, once every chunk is in (see the module doc); parameter $ingest_id.
INTERESTS_SQL = f"""
UPDATE ground_truth_people g SET interest_1 = t.i[1], interest_2 = t.i[2], interest_3 = t.i[3],
                                 interests = array_to_string(t.i, ', ')
FROM (
  WITH shop AS (
    SELECT p.category, count(*) / sum(count(*)) OVER () AS share
    FROM order_lines l JOIN orders o USING (order_id) JOIN products p USING (product_id)
    WHERE o.kind = 'sale' AND p.is_merchandise AND p.category IS NOT NULL AND o.ingest_id = $ingest_id
    GROUP BY 1
  ),
  cats AS (SELECT unnest({list(CATEGORIES)!r}) AS category, generate_subscripts({list(CATEGORIES)!r}, 1) AS k),
  x AS (
    SELECT customer_id, unnest(category_mix) AS m, generate_subscripts(category_mix, 1) AS k
    FROM ground_truth_people
  ),
  r AS (
    SELECT x.customer_id, cats.category, x.m / shop.share AS lift,
           row_number() OVER (PARTITION BY x.customer_id ORDER BY x.m / shop.share DESC, cats.category) AS rank
    FROM x JOIN cats USING (k) JOIN shop USING (category)
  )
  SELECT customer_id, list(category ORDER BY rank) AS i FROM r
  WHERE rank = 1 OR (rank <= {MAX_INTERESTS} AND lift >= {INTEREST_MIN_LIFT}) GROUP BY 1
) t
WHERE g.customer_id = t.customer_id"""
