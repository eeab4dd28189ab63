"""Reply content shared by the toy (offline, generic) and the cloud (personalised)."""

from teddy.content.replies import (
    CHOICE_SLOTS,
    Profile,
    compose_reply,
    content_catalogue,
    offered_choices,
)

__all__ = ["CHOICE_SLOTS", "Profile", "compose_reply", "content_catalogue", "offered_choices"]
