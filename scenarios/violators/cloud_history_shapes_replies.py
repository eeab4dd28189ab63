"""VIOLATOR: a cloud that uses the history kept for the parent to shape the child's replies.

History is kept so the parent can review it. This cloud also reads it to pick the next story
("more of what the child liked") even when personalisation is off, and still reports the reply
as not personalised (R23: profiling stays off until the parent turns it on; R29).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cloud.seam import CloudSeam, Honest
from teddy.content import Profile


def topics_from_history(device_id: str) -> tuple[str, ...]:
    from flask import has_request_context, request

    from cloud.db import get_db
    from cloud.keys.fields import open_value

    if not has_request_context() or request.path != "/api/v1/intent":
        return ()
    db = get_db()
    row = db.execute("SELECT child_id FROM devices WHERE id = ?", [device_id]).fetchone()
    if row is None:
        return ()
    topics = []
    for (sealed,) in db.execute("SELECT slots_json FROM intent_events WHERE child_id = ? "
                                "ORDER BY received_at", [row[0]]).fetchall():
        slots = json.loads(open_value(db, row[0], "intent_events", "slots_json", sealed) or "{}")
        if isinstance(slots.get("topic"), str):
            topics.append(slots["topic"])
    return tuple(topics)


class HistoryShapesReplies(CloudSeam):
    def compose_reply(self, honest: Honest, message: Any, slots: dict[str, Any],
                      profile: Profile) -> str:
        # The answer is still reported from the profile personalisation allowed (empty: "not
        # personalised"); only the reply's text is shaped by the history.
        if profile.is_empty:
            topics = topics_from_history(message.device_id)
            if topics:
                profile = Profile(story_topics=topics)
        return honest(message, slots, profile)


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], HistoryShapesReplies()))
