"""The day's panchangam (Hindu almanac) for a place and local date, from real astronomy.

Public surface:
- compute(local_date, latitude, longitude, zone) -> Panchangam   (pure, uncached)
- cached_compute(...)                                            (per-process LRU by place/date)
- to_json_dict(result), summary_text(result, place_name, language), one_line(result, place_name)
- template_parameters(result, place_name, language)   (the daily WhatsApp template's parameters)
  (`language` 'en', the default, or 'hi': Hindi names from `panchangam.names_hi`)
"""

from panchangam.day import cached_compute, clear_caches, compute
from panchangam.model import Panchangam
from panchangam.render import one_line, summary_text, template_parameters, to_json_dict

__all__ = [
    "Panchangam",
    "cached_compute",
    "clear_caches",
    "compute",
    "one_line",
    "summary_text",
    "template_parameters",
    "to_json_dict",
]
