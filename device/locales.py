"""What differs per language on the toy: wake phrase, reply language, voice."""

from __future__ import annotations

from dataclasses import dataclass

from device.nlu.matcher import normalise


@dataclass(frozen=True)
class LocaleProfile:
    locale: str
    wake_phrase: str  # must be a sentence of the locale's templates (the grammar hears it)
    voice: str  # espeak-ng voice for replies

    def is_wake(self, heard_text: str) -> bool:
        """Whether a transcript starts with the wake phrase (Korean ignores spacing)."""
        heard = normalise(heard_text, self.locale)
        wake = normalise(self.wake_phrase, self.locale)
        return bool(heard) and heard.startswith(wake)


PROFILES = {
    "en": LocaleProfile("en", "hey teddy", "en-us+f3"),
    "ko": LocaleProfile("ko", "안녕 테디", "ko+f3"),
}


def locale_profile(locale: str) -> LocaleProfile:
    try:
        return PROFILES[locale]
    except KeyError:
        raise ValueError(f"no locale profile for {locale!r}; "
                         f"available: {', '.join(PROFILES)}") from None
