"""The parent web: sign-up, consent, dashboard, export and deletion under /parent/.

Routes are split by job: `auth` (sign-up, sign-in), `children` (children and pairing),
`consent_pages` (notices, choices, verification), `dashboard` (what is held, export, delete).
`security` guards every request of the blueprint: CSRF, sign-in, response headers.
"""

from flask import Blueprint

bp = Blueprint("parent_web", __name__, url_prefix="/parent", template_folder="templates",
               static_folder="static")

# Imported for their side effect of registering routes on `bp`.
from cloud.parent_web import (  # noqa: E402
    account,
    auth,
    children,
    consent_pages,
    dashboard,
    receipts,
    security,
)

__all__ = ["account", "auth", "bp", "children", "consent_pages", "dashboard", "receipts",
           "security"]
