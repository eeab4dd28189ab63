"""Language understanding on the toy: templates -> exact-match intent parser."""

from __future__ import annotations

import functools

from device.nlu.matcher import UNKNOWN, Matcher, ParsedIntent
from device.nlu.templates import TemplateError, expand_templates, load_templates

__all__ = ["UNKNOWN", "Matcher", "ParsedIntent", "TemplateError", "load_parser"]


@functools.cache
def load_parser(locale: str) -> Matcher:
    """The intent parser for `locale`, built from its templates (cached)."""
    return Matcher(expand_templates(load_templates(locale)), locale)
