"""OneRoster CSV import: schools, students with demographics, staff with their roles.

A set is a folder or a zip of OneRoster 1.1 bulk CSV files (``orgs.csv``, ``users.csv``,
``demographics.csv``); OneRoster 1.2's separate ``roles.csv`` is read when present. The IEP /
504 / BIP flags are not in OneRoster: an optional ``special_education.csv``
(``student_id,iep,section_504,bip,plan_contact``) in the set, or given separately, sets them.

Every cell is checked before anything is written: one problem per bad cell (file, line,
column), and any problem means nothing changes. Rows are compared with what is stored, so a
second run of the same set changes nothing.
"""

from .applying import ImportResult, oneroster_import, summary_text, user_deactivate_for_roster
from .reading import ImportProblem, OneRosterError, OneRosterSet, oneroster_set_read
from .sync import oneroster_sync_drop_dir

__all__ = [
    "ImportProblem",
    "ImportResult",
    "OneRosterError",
    "OneRosterSet",
    "oneroster_import",
    "oneroster_set_read",
    "oneroster_sync_drop_dir",
    "summary_text",
    "user_deactivate_for_roster",
]
