"""Hindi (Devanagari) names of every element, keyed by the English name the code computes.

Each table is built with `zip(..., strict=True)` against the English tuple it translates, in
the same order, so a name missing from either list fails at import and every element the
calculation can produce has a Hindi form. Spellings follow drikpanchang.com's Hindi pages
(`पञ्चमी`, `पूर्व फाल्गुनी`, `पूर्वाषाढ़ा`, `आषाढ़`, `शक सम्वत ... पराभव`); the samvatsara order
is that of the Shaka (prabhavadi) cycle, as in the Manasagari's list (प्रभव 1 ... अक्षय 60).
"""

from __future__ import annotations

from panchangam import elements, lunar_calendar

TITHI = dict(
    zip(
        (*elements.TITHI_NAMES, "Purnima", "Amavasya"),
        (
            "प्रतिपदा", "द्वितीया", "तृतीया", "चतुर्थी", "पञ्चमी", "षष्ठी", "सप्तमी", "अष्टमी",
            "नवमी", "दशमी", "एकादशी", "द्वादशी", "त्रयोदशी", "चतुर्दशी", "पूर्णिमा", "अमावस्या",
        ),
        strict=True,
    )
)  # fmt: skip

PAKSHA = {"Shukla": "शुक्ल", "Krishna": "कृष्ण"}

NAKSHATRA = dict(
    zip(
        elements.NAKSHATRA_NAMES,
        (
            "अश्विनी", "भरणी", "कृत्तिका", "रोहिणी", "मृगशिरा", "आर्द्रा", "पुनर्वसु", "पुष्य",
            "आश्लेषा", "मघा", "पूर्व फाल्गुनी", "उत्तर फाल्गुनी", "हस्त", "चित्रा", "स्वाती",
            "विशाखा", "अनुराधा", "ज्येष्ठा", "मूल", "पूर्वाषाढ़ा", "उत्तराषाढ़ा", "श्रवण", "धनिष्ठा",
            "शतभिषा", "पूर्व भाद्रपद", "उत्तर भाद्रपद", "रेवती",
        ),
        strict=True,
    )
)  # fmt: skip

YOGA = dict(
    zip(
        elements.YOGA_NAMES,
        (
            "विष्कुम्भ", "प्रीति", "आयुष्मान", "सौभाग्य", "शोभन", "अतिगण्ड", "सुकर्मा", "धृति",
            "शूल", "गण्ड", "वृद्धि", "ध्रुव", "व्याघात", "हर्षण", "वज्र", "सिद्धि", "व्यतीपात",
            "वरीयान", "परिघ", "शिव", "सिद्ध", "साध्य", "शुभ", "शुक्ल", "ब्रह्म", "इन्द्र", "वैधृति",
        ),
        strict=True,
    )
)  # fmt: skip

# The seven movable karanas in their cycle (karanas 2-8), then the four fixed ones (58-60, 1).
KARANA_ENGLISH = tuple(elements.karana_name(n) for n in (*range(2, 9), 58, 59, 60, 1))
KARANA = dict(
    zip(
        KARANA_ENGLISH,
        (
            "बव", "बालव", "कौलव", "तैतिल", "गर", "वणिज", "विष्टि", "शकुनि", "चतुष्पद", "नाग",
            "किंस्तुघ्न",
        ),
        strict=True,
    )
)  # fmt: skip

VAARA = dict(
    zip(
        (sanskrit for sanskrit, _ in elements.VAARA_NAMES),
        ("रविवार", "सोमवार", "मंगलवार", "बुधवार", "गुरुवार", "शुक्रवार", "शनिवार"),
        strict=True,
    )
)  # fmt: skip

MONTH = dict(
    zip(
        lunar_calendar.MONTH_NAMES,
        (
            "चैत्र", "वैशाख", "ज्येष्ठ", "आषाढ़", "श्रावण", "भाद्रपद", "आश्विन", "कार्तिक",
            "मार्गशीर्ष", "पौष", "माघ", "फाल्गुन",
        ),
        strict=True,
    )
)  # fmt: skip
ADHIKA = "अधिक"  # a leap month: `अधिक ज्येष्ठ`

SAMVATSARA = dict(
    zip(
        lunar_calendar.SAMVATSARA_NAMES,
        (
            "प्रभव", "विभव", "शुक्ल", "प्रमोद", "प्रजापति", "अङ्गिरा", "श्रीमुख", "भाव", "युवा",
            "धाता", "ईश्वर", "बहुधान्य", "प्रमाथी", "विक्रम", "वृष", "चित्रभानु", "सुभानु", "तारण",
            "पार्थिव", "व्यय", "सर्वजित्", "सर्वधारी", "विरोधी", "विकृति", "खर", "नन्दन", "विजय",
            "जय", "मन्मथ", "दुर्मुख", "हेमलम्बी", "विलम्बी", "विकारी", "शार्वरी", "प्लव",
            "शुभकृत्", "शोभकृत्", "क्रोधी", "विश्वावसु", "पराभव", "प्लवङ्ग", "कीलक", "सौम्य",
            "साधारण", "विरोधकृत्", "परिधावी", "प्रमादी", "आनन्द", "राक्षस", "नल", "पिङ्गल",
            "कालयुक्त", "सिद्धार्थी", "रौद्र", "दुर्मति", "दुन्दुभि", "रुधिरोद्गारी", "रक्ताक्षी",
            "क्रोधन", "अक्षय",
        ),
        strict=True,
    )
)  # fmt: skip

# Gregorian months for the date line (`रविवार, 22 नवम्बर 2026`), January first.
GREGORIAN_MONTHS = (
    "जनवरी", "फरवरी", "मार्च", "अप्रैल", "मई", "जून", "जुलाई", "अगस्त", "सितम्बर", "अक्टूबर",
    "नवम्बर", "दिसम्बर",
)  # fmt: skip
