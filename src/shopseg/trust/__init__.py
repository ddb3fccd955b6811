"""Trust: pseudonymised PII, differentially private releases, the right to be forgotten.

See ``docs/security.md`` for each guarantee, the test that checks it and its figures.
Importing this package is light: OpenDP is imported only when a private release is made.
"""

from .forget import ForgetResult, forget
from .pii import PII_COLUMNS, contacts_sql, pseudonym, pseudonymise_workspace, workspace_secret

__all__ = ["ForgetResult", "forget", "PII_COLUMNS", "contacts_sql", "pseudonym", "pseudonymise_workspace",
           "workspace_secret", "dp_segment_stats", "build_shareable_report"]


def __getattr__(name):  # the DP functions load lazily (they import OpenDP)
    if name in ("dp_segment_stats", "build_shareable_report"):
        from . import dp

        return getattr(dp, name)
    raise AttributeError(name)
