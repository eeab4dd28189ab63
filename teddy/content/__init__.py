"""Reply content shared by the toy (offline, generic) and the cloud (personalised)."""

from teddy.content.replies import Profile, compose_reply, content_catalogue

__all__ = ["Profile", "compose_reply", "content_catalogue"]
