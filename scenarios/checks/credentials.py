"""Checks that credentials die with what they were for: the child, the toy, the sign-out (R33)."""

from __future__ import annotations

from typing import Any

import requests

from scenarios.args import arg
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import visible_dump
from scenarios.checks.probes import INTENT_PATH, POLICY_PATH, Prober, keys_of
from scenarios.context import ScenarioContext

SIGNED_OUT = (301, 302, 303, 307, 401, 403)


@check("old_credentials_refused")
def old_credentials_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The toy's keys, kept after its child was deleted or it was unpaired, open nothing: a
    signed intent and a policy request are both 401 and change nothing."""
    family = ctx.family(arg(args, "family", str, "a"))
    keys = keys_of(family)
    prober = Prober(ctx)
    before = visible_dump(ctx)
    body = prober.message(keys, "greet")
    intent = prober.send("POST", INTENT_PATH, body,
                         prober.headers(keys, "POST", INTENT_PATH, body))
    policy = prober.send("GET", POLICY_PATH, b"", prober.headers(keys, "GET", POLICY_PATH, b""))
    after = visible_dump(ctx)
    problems = [f"{name} with the old keys answered {response.status_code}, expected 401"
                for name, response in (("an intent", intent), ("a policy request", policy))
                if response.status_code != 401]
    if before != after:
        changed = sorted(t for t in after or {} if (before or {}).get(t) != after[t])
        problems.append(f"the old keys changed {changed}")
    return held_if(problems, f"toy {keys.device_id}'s old keys refused: intent "
                             f"{intent.status_code}, policy {policy.status_code}; nothing changed")


@check("stolen_session_refused")
def stolen_session_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Cookies copied before the parent signed out no longer open the parent's pages."""
    family = ctx.family(arg(args, "family", str, "a"))
    if not family.stolen_cookies:
        raise ValueError(f"family {family.name!r} has no copied cookies (copy_session first)")
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ctx.cloud.ca_file) if ctx.cloud.ca_file else True
    session.cookies.update(family.stolen_cookies)
    pages = ["/parent/", f"/parent/children/{family.require_child()}/data"]
    seen, problems = [], []
    for page in pages:
        response = session.get(ctx.cloud.url + page, allow_redirects=False, timeout=10)
        seen.append(f"{page} {response.status_code}")
        location = response.headers.get("Location", "")
        if response.status_code not in SIGNED_OUT or (
                response.status_code in (301, 302, 303, 307) and "login" not in location):
            problems.append(f"the copied cookie still opens {page} ({response.status_code})")
    return held_if(problems, f"after sign-out the copied cookie is refused: {', '.join(seen)}")
