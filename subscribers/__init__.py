"""Subscriber management: add, update, deactivate, erase, list and bulk-import users.

Every function takes an open `Session` and flushes but never commits: the caller's
`session_scope` commits, so input rejected part-way leaves the database unchanged.
"""

from subscribers.csv_import import HEADER, ImportReport, import_csv
from subscribers.listing import UserView, list_users, view_of
from subscribers.registry import (
    UserChange,
    add_user,
    deactivate_user,
    delete_user,
    find_by_phone,
    reactivate_user,
    update_user,
)

__all__ = [
    "HEADER",
    "ImportReport",
    "UserChange",
    "UserView",
    "add_user",
    "deactivate_user",
    "delete_user",
    "find_by_phone",
    "import_csv",
    "list_users",
    "reactivate_user",
    "update_user",
    "view_of",
]
