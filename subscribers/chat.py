"""What subscribers may write to us on WhatsApp, in English or Hindi, and what we answer (pure).

Commands are case-insensitive, surrounding and repeated spaces ignored, Devanagari digits read
as digits: `STOP`/`UNSUBSCRIBE`/`बंद`, `START`/`शुरू`, `TIME 05:45`/`समय 05:45`,
`LANG hi`/`भाषा हिंदी`, `HELP`/`मदद`. Anything else gets the help text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Hindi digits as people type them on a Hindi keyboard.
_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")


class Kind(enum.StrEnum):
    SUBSCRIBE = "subscribe"  # a shared location
    STOP = "stop"
    START = "start"
    TIME = "time"
    LANG = "lang"
    HELP = "help"


# Command word -> (kind, the language the word is in).
_WORDS: dict[str, tuple[Kind, str]] = {
    "stop": (Kind.STOP, "en"), "unsubscribe": (Kind.STOP, "en"), "बंद": (Kind.STOP, "hi"),
    "बन्द": (Kind.STOP, "hi"),
    "start": (Kind.START, "en"), "शुरू": (Kind.START, "hi"), "शुरु": (Kind.START, "hi"),
    "time": (Kind.TIME, "en"), "समय": (Kind.TIME, "hi"),
    "lang": (Kind.LANG, "en"), "language": (Kind.LANG, "en"), "भाषा": (Kind.LANG, "hi"),
    "help": (Kind.HELP, "en"), "मदद": (Kind.HELP, "hi"), "सहायता": (Kind.HELP, "hi"),
}  # fmt: skip


@dataclass(frozen=True)
class Command:
    """A parsed message: what it asks, its argument (`TIME`'s time, `LANG`'s language, as
    written), and the language it was written in (None when nothing tells)."""

    kind: Kind
    argument: str = ""
    language: str | None = None


def parse(text: str | None) -> Command:
    """The command in a text message; HELP for anything we do not understand."""
    words = (text or "").translate(_DIGITS).casefold().split()
    written_in = "hi" if any(_is_devanagari(c) for c in text or "") else None
    if not words or words[0] not in _WORDS:
        return Command(Kind.HELP, language=written_in)
    kind, language = _WORDS[words[0]]
    return Command(kind, " ".join(words[1:]), language)


def _is_devanagari(char: str) -> bool:
    return "\u0900" <= char <= "\u097f"


# The replies, one per outcome, in each language. Placeholders: place, time, zone.
REPLIES: dict[str, dict[str, str]] = {
    "subscribed": {
        "en": "Subscribed: the day's panchangam for {place} every day at {time} ({zone}). "
        "Reply TIME 05:45 to change the time, LANG hi for Hindi, STOP to stop.",
        "hi": "सदस्यता शुरू: {place} का दैनिक पंचांग हर दिन {time} ({zone}) पर। समय बदलने के लिए "
        "'समय 05:45', अंग्रेज़ी के लिए 'भाषा English', बंद करने के लिए 'बंद' लिखें।",
    },
    "moved": {
        "en": "Place changed to {place} ({zone}); your panchangam comes at {time}.",
        "hi": "स्थान बदला: {place} ({zone}); आपका पंचांग {time} पर आएगा।",
    },
    "stopped": {
        "en": "Stopped: you will get no more messages. Send START to get them again.",
        "hi": "बंद: अब आपको संदेश नहीं मिलेंगे। फिर से पाने के लिए 'शुरू' लिखें।",
    },
    "started": {
        "en": "Welcome back: your panchangam comes every day at {time} ({zone}).",
        "hi": "फिर से शुरू: आपका पंचांग हर दिन {time} ({zone}) पर आएगा।",
    },
    "already_active": {
        "en": "You are subscribed: your panchangam comes every day at {time} ({zone}).",
        "hi": "आपकी सदस्यता चालू है: आपका पंचांग हर दिन {time} ({zone}) पर आता है।",
    },
    "time_set": {
        "en": "Done: your panchangam now comes at {time} ({zone}).",
        "hi": "हो गया: अब आपका पंचांग {time} ({zone}) पर आएगा।",
    },
    "bad_time": {
        "en": "Please write the time as 24-hour hours and minutes, for example TIME 05:45.",
        "hi": "कृपया समय 24 घंटे के घंटे और मिनट में लिखें, जैसे 'समय 05:45'।",
    },
    "language_set": {
        "en": "Done: your messages will be in English.",
        "hi": "हो गया: अब आपके संदेश हिंदी में आएँगे।",
    },
    "bad_language": {
        "en": "Languages: LANG en for English, LANG hi for Hindi.",
        "hi": "भाषाएँ: अंग्रेज़ी के लिए 'भाषा English', हिंदी के लिए 'भाषा हिंदी'।",
    },
    "not_subscribed": {
        "en": "You are not subscribed. Share your location (attach, then Location) to get the "
        "day's panchangam for your place every morning.",
        "hi": "आपकी सदस्यता नहीं है। हर सुबह अपने स्थान का पंचांग पाने के लिए अपना लोकेशन भेजें "
        "(अटैच, फिर लोकेशन)।",
    },
    "help": {
        "en": "Your panchangam comes every day at {time} ({zone}). Reply TIME 05:45 to change "
        "the time, LANG hi for Hindi, STOP to stop, START to resume, or share a location "
        "to change your place.",
        "hi": "आपका पंचांग हर दिन {time} ({zone}) पर आता है। समय बदलने के लिए 'समय 05:45', "
        "अंग्रेज़ी के लिए 'भाषा English', रोकने के लिए 'बंद', फिर शुरू करने के लिए 'शुरू' लिखें, "
        "या स्थान बदलने के लिए अपना लोकेशन भेजें।",
    },
    "no_zone": {
        "en": "We could not find a time zone for that location. Please share a place on land.",
        "hi": "उस लोकेशन का समय क्षेत्र नहीं मिला। कृपया ज़मीन पर कोई स्थान भेजें।",
    },
}


def reply(outcome: str, language: str, **values: str) -> str:
    """The reply for `outcome` in `language` (English when we have no such language)."""
    texts = REPLIES[outcome]
    return texts.get(language, texts["en"]).format(**values)
