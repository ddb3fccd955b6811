"""Audiences: a campaign's treated customers as a file an ad platform or e-mail tool can load.

Identifiers are hashed the way ad platforms match customers (Google Ads
Customer Match, Meta custom audiences): the e-mail address trimmed and
lower-cased, then SHA-256 in lower-case hex; the phone number normalised to
E.164 (``+`` country code and number, digits only), then SHA-256.  Raw e-mail,
phone and name are written only with ``include_pii=True``.  Contact details come from
:func:`shopseg.trust.pii.contacts_sql`: ``customer_pii`` when ``privacy.pii = "separate"``;
under ``"hash"`` the workspace holds no raw contact details, so those columns are empty.  Control-group
customers are never exported: they must not be contacted.

Phone normalisation (:func:`normalize_phone`), in order:

1. keep digits and a leading ``+``; ``00`` at the start means ``+`` (international prefix);
2. with ``+``: the digits are the E.164 number;
3. without: a leading trunk ``0`` is dropped and the calling code of the customer's
   country (``act.phone_country_from_customer``; a small table of names and ISO codes
   below) or ``act.default_country_code`` is put in front; a number that already starts
   with that calling code and is long enough for it is taken as international;
4. E.164 allows 8 to 15 digits in all: anything else is dropped (NULL), not guessed.

It deliberately does not know every country's numbering plan (no new dependency): it is
right for numbers written in the usual national or international ways.

Platform files (``platform=``), each with the columns and normalisation its platform publishes:

* ``meta``: a Meta (Facebook) custom-audience customer list, columns ``email``, ``phone``,
  ``extern_id``: e-mail trimmed and lower-cased, phone as digits with the country code and no
  ``+`` (Meta's "customer information parameters": ``16505551212``), both SHA-256 hex; Meta's
  published examples ``john_smith@gmail.com`` -> ``62a14e44...`` and ``16505551212`` ->
  ``e323ec62...`` are reproduced in the tests.
* ``google``: a Google Ads Customer Match file, columns ``Email``, ``Phone``: e-mail trimmed and
  lower-cased, phone in E.164 *with* the ``+``, both SHA-256 hex (Google's "prepare user data":
  remove whitespace, lower-case, E.164 with the country code, then SHA-256).
* ``klaviyo``: a Klaviyo profile import, columns ``Email``, ``Phone Number`` (E.164), ``First Name``,
  ``Last Name``, ``shopseg_campaign``, ``shopseg_offer`` (extra columns become custom properties).
* ``mailchimp``: a Mailchimp audience import, columns ``Email Address``, ``First Name``, ``Last Name``,
  ``Phone Number``, ``Tags`` (the campaign).

Klaviyo and Mailchimp send the e-mails themselves, so their files hold raw contact details and need
``include_pii=True``; the ad platforms' files hold hashes only.  Rows that could not be matched (no
e-mail and no usable phone; for Mailchimp, no e-mail) are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..config import Config, load_config
from ..errors import ConfigError, ShopsegError
from ..trust.pii import contacts_sql

# country name or ISO 3166 alpha-2 code (lower case) -> calling code
CALLING_CODES = {
    "us": "1", "united states": "1", "usa": "1", "ca": "1", "canada": "1",
    "gb": "44", "uk": "44", "united kingdom": "44", "ie": "353", "ireland": "353", "eire": "353",
    "fr": "33", "france": "33", "de": "49", "germany": "49", "nl": "31", "netherlands": "31",
    "be": "32", "belgium": "32", "es": "34", "spain": "34", "it": "39", "italy": "39",
    "pt": "351", "portugal": "351", "ch": "41", "switzerland": "41", "at": "43", "austria": "43",
    "se": "46", "sweden": "46", "no": "47", "norway": "47", "dk": "45", "denmark": "45",
    "fi": "358", "finland": "358", "pl": "48", "poland": "48", "gr": "30", "greece": "30",
    "au": "61", "australia": "61", "nz": "64", "new zealand": "64", "jp": "81", "japan": "81",
    "cn": "86", "china": "86", "tw": "886", "taiwan": "886", "hk": "852", "hong kong": "852",
    "sg": "65", "singapore": "65", "in": "91", "india": "91", "br": "55", "brazil": "55",
    "mx": "52", "mexico": "52", "za": "27", "south africa": "27", "il": "972", "israel": "972",
}


def _codes_sql() -> str:
    rows = ", ".join(f"('{k}', '{v}')" for k, v in CALLING_CODES.items())
    return f"(VALUES {rows}) AS cc(country_key, calling_code)"


def phone_e164_sql(phone: str, code: str) -> str:
    """SQL giving the E.164 form of column ``phone`` with calling code expression ``code`` (or NULL)."""
    d = f"regexp_replace(trim({phone}), '[^0-9+]', '', 'g')"
    intl = f"CASE WHEN starts_with({d}, '00') THEN '+' || substr({d}, 3) ELSE {d} END"
    digits = f"regexp_replace({intl}, '[^0-9]', '', 'g')"
    national = f"regexp_replace({digits}, '^0+', '')"
    body = (f"CASE WHEN starts_with({intl}, '+') THEN {digits} "
            f"WHEN starts_with({digits}, {code}) AND length({digits}) >= length({code}) + 9 "
            f"AND NOT starts_with({digits}, '0') THEN {digits} "
            f"ELSE {code} || {national} END")
    return (f"CASE WHEN {phone} IS NULL OR length({digits}) = 0 THEN NULL "
            f"WHEN length({body}) BETWEEN 8 AND 15 AND NOT starts_with({body}, '0') THEN '+' || {body} END")


def normalize_phone(phones, default_country_code: str = "1", countries=None) -> list:
    """E.164 forms of ``phones`` (None where a number cannot be normalised), by the rules above.

    >>> normalize_phone(["+1 415 555 0134", "(415) 555-0134", "0415 555 0134", "0044 20 7946 0958", "12"])
    ['+14155550134', '+14155550134', '+14155550134', '+442079460958', None]
    >>> normalize_phone(["020 7946 0958"], countries=["United Kingdom"])
    ['+442079460958']
    """
    import duckdb

    from ..params import validate_params
    from ._parameters import PARAMETER_CONSTRAINTS

    validate_params({"default_country_code": default_country_code}, PARAMETER_CONSTRAINTS, "act.")
    df = pd.DataFrame({"i": range(len(phones)), "phone": pd.Series(list(phones), dtype=object),
                       "country": pd.Series(list(countries) if countries is not None else [None] * len(phones),
                                            dtype=object)})
    con = duckdb.connect()
    try:
        con.register("p", df)
        code = f"coalesce(cc.calling_code, '{default_country_code}')"
        rows = con.execute(f"""SELECT {phone_e164_sql('CAST(p.phone AS VARCHAR)', code)} FROM p
                               LEFT JOIN {_codes_sql()} ON cc.country_key = lower(trim(CAST(p.country AS VARCHAR)))
                               ORDER BY p.i""").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def email_sha256_sql(email: str) -> str:
    """SQL: SHA-256 (hex) of the trimmed, lower-cased e-mail; NULL when empty."""
    return f"CASE WHEN nullif(trim({email}), '') IS NULL THEN NULL ELSE sha256(lower(trim({email}))) END"


PLATFORMS = ("meta", "google", "klaviyo", "mailchimp")


def _platform_select(platform: str, e164: str) -> tuple[str, str]:
    """(SELECT list, WHERE condition) of a platform file over aliases a (actions) and c (contacts)."""
    email = "nullif(lower(trim(c.email)), '')"
    first = "nullif(split_part(trim(c.name), ' ', 1), '')"
    last = "nullif(trim(substr(trim(c.name), length(split_part(trim(c.name), ' ', 1)) + 1)), '')"
    if platform == "meta":
        return (f"sha256({email}) AS email, sha256(substr({e164}, 2)) AS phone, a.customer_id AS extern_id",
                f"({email} IS NOT NULL OR {e164} IS NOT NULL)")
    if platform == "google":
        return (f'sha256({email}) AS "Email", sha256({e164}) AS "Phone"',
                f"({email} IS NOT NULL OR {e164} IS NOT NULL)")
    if platform == "klaviyo":
        return (f'{email} AS "Email", {e164} AS "Phone Number", {first} AS "First Name", {last} AS "Last Name", '
                'a.campaign AS shopseg_campaign, a.offer AS shopseg_offer',
                f"({email} IS NOT NULL OR {e164} IS NOT NULL)")
    return (f'{email} AS "Email Address", {first} AS "First Name", {last} AS "Last Name", '
            f'{e164} AS "Phone Number", a.campaign AS "Tags"', f"{email} IS NOT NULL")


# CSV injection (OWASP): a cell that starts with =, @, a tab or a carriage return, or with + or - and is not a
# plain number, is run as a formula by a spreadsheet that opens the file; such a cell gets a leading '.
# A phone in E.164 (+16505551212) or a signed number stays as it is.
_FORMULA = re.compile(r"^[=@\t\r]|^[+-](?![0-9.]+$)")
_FORMULA_SQL = ("CASE WHEN regexp_matches({x}, '^[=@\\t\\r]') OR (regexp_matches({x}, '^[+-]') AND NOT "
                "regexp_matches({x}, '^[+-][0-9.]+$')) THEN chr(39) || {x} ELSE {x} END")


def csv_safe(value):
    """``value`` as a spreadsheet-safe CSV cell: text a spreadsheet would run as a formula gets a leading '.

    >>> [csv_safe(v) for v in ["=HYPERLINK(1)", "@SUM(A1)", "-2+3", "+16505551212", "-5", "Ann", None, 3]]
    ["'=HYPERLINK(1)", "'@SUM(A1)", "'-2+3", '+16505551212', '-5', 'Ann', None, 3]
    """
    return "'" + value if isinstance(value, str) and _FORMULA.search(value) else value


def csv_safe_query(con, query: str) -> str:
    """``query`` with every text column passed through :func:`csv_safe`'s rule, in SQL."""
    sel = []
    for name, typ, *_ in con.execute(f"DESCRIBE {query}").fetchall():
        q = '"' + name.replace('"', '""') + '"'
        sel.append(f"{_FORMULA_SQL.format(x=q)} AS {q}" if typ == "VARCHAR" else q)
    return f"SELECT {', '.join(sel)} FROM ({query})"


def export_audience(ws, campaign: str, format: str = "csv", run_id: int | None = None, include_pii: bool = False,
                    *, config: Config | None = None, path: str | Path | None = None,
                    platform: str | None = None) -> Path:
    """Write the treated customers of ``campaign`` in run ``run_id`` (latest with actions) to ``ws.exports_dir``.

    Columns: customer_id, email_sha256, phone_sha256, campaign, offer, variant, channel (and with
    ``include_pii``: email, phone_e164, name).  File ``run-<run_id>-<campaign>.<csv|parquet>``
    unless ``path`` is given.  With ``platform`` (one of :data:`PLATFORMS`) the file is that
    platform's upload format instead (module docstring), ``run-<run_id>-<campaign>-<platform>.csv``.
    Returns the path written.
    """
    cfg = config if config is not None else load_config()
    if format not in ("csv", "parquet"):
        raise ConfigError(f"The 'format' parameter of export_audience must be one of 'csv', 'parquet'. "
                          f"Got {format!r} instead.")
    if platform is not None and platform not in PLATFORMS:
        raise ConfigError(f"The 'platform' parameter of export_audience must be one of "
                          f"{', '.join(map(repr, PLATFORMS))}. Got {platform!r} instead.")
    if platform in ("klaviyo", "mailchimp") and not include_pii:
        raise ShopsegError(f"A {platform} import holds raw e-mail addresses (the platform sends the e-mails), "
                           "so it needs include_pii=True.",
                           hint="Pass --include-pii (and keep the file safe), or use --platform meta / google, "
                                "which hold SHA-256 hashes only.")
    if platform is not None and format != "csv":
        raise ConfigError(f"Platform files are CSV. Got format {format!r} with platform {platform!r}.")
    if not ws.has_table("actions"):
        raise ShopsegError("No actions in the workspace yet.", hint="Run `shopseg run` (stage act) first.")
    if run_id is None:
        run_id = ws.scalar("SELECT max(run_id) FROM actions")
    known = [r[0] for r in ws.sql("SELECT DISTINCT campaign FROM actions WHERE run_id = ? ORDER BY 1", [run_id])]
    if campaign not in known:
        raise ShopsegError(f"Campaign {campaign!r} has no actions in run {run_id}; campaigns there: "
                           f"{', '.join(known) or '(none)'}.", hint="See `shopseg plan` for the run's campaigns.")
    default_cc = cfg["act.default_country_code"]
    code = (f"coalesce(cc.calling_code, '{default_cc}')" if cfg["act.phone_country_from_customer"]
            else f"'{default_cc}'")
    e164 = phone_e164_sql("c.phone", code)
    pii = f", c.email AS email, {e164} AS phone_e164, c.name AS name" if include_pii else ""
    name = f"run-{run_id}-{campaign}" + (f"-{platform}" if platform else "") + f".{format}"
    out = Path(path) if path is not None else ws.exports_dir / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if platform is None:
        select = f"""a.customer_id, {email_sha256_sql('c.email')} AS email_sha256,
               CASE WHEN {e164} IS NULL THEN NULL ELSE sha256({e164}) END AS phone_sha256,
               a.campaign, a.offer, a.variant, a.channel {pii}"""
        keep = "TRUE"
    else:
        select, keep = _platform_select(platform, e164)
    # the control group is never exported: it must not be contacted
    query = f"""
        SELECT {select}
        FROM actions a LEFT JOIN {contacts_sql(ws, "c")} ON c.customer_id = a.customer_id
        LEFT JOIN {_codes_sql()} ON cc.country_key = lower(trim(c.country))
        WHERE a.run_id = {int(run_id)} AND a.campaign = '{campaign.replace("'", "''")}' AND a."group" = 'treatment'
          AND {keep}
        ORDER BY a.customer_id"""
    if format == "csv":
        query = csv_safe_query(ws.con, query)
    fmt = "(FORMAT csv, HEADER true)" if format == "csv" else "(FORMAT parquet)"
    target = str(out).replace("'", "''")
    ws.con.execute(f"COPY ({query}) TO '{target}' {fmt}").fetchall()
    return out
