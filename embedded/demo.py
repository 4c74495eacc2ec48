"""Demo subscribers for `panchang run --demo`: several zones, due within about a minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import City, Delivery, DeliveryStatus, User
from scheduler.slots import Slot

# Offsets of +5:30, +5:45, -3:30 (and -2:30 in summer), +10:30, +13:45 and whole hours; each
# phone number is a valid mobile number of its place's country (they are only ever written to
# the outbox).
DEMO_PLACES = [
    ("+919845012345", "Bengaluru", "Asia/Kolkata", 12.9716, 77.5946),
    ("+9779841234567", "Kathmandu", "Asia/Kathmandu", 27.7172, 85.3240),
    ("+17097221234", "St. John's", "America/St_Johns", 47.5615, -52.7126),
    ("+61412345678", "Adelaide", "Australia/Adelaide", -34.9285, 138.6007),
    ("+64211234567", "Chatham Islands", "Pacific/Chatham", -43.9535, -176.5597),
    ("+447400123456", "London", "Europe/London", 51.5074, -0.1278),
    ("+12124567890", "New York", "America/New_York", 40.7128, -74.0060),
]


@dataclass(frozen=True)
class DemoUser:
    phone: str
    city: str
    slot: Slot
    # The local date of the coming send, and whether the ledger already has that day's
    # message for them (then it is not sent again: one message per user per local day).
    local_date: date
    already_sent: bool


def next_minute_at(zone: str, now: datetime) -> datetime:
    """The next whole minute in `zone` (local, aware), at least 15 s away so the entry exists
    before it is due."""
    local = now.astimezone(ZoneInfo(zone)) + timedelta(seconds=15)
    return local.replace(second=0, microsecond=0) + timedelta(minutes=1)


def add_demo_users(session: Session, now: datetime) -> list[DemoUser]:
    """Create (or move) the demo users so each one's send time is the next minute locally.

    Safe to run again: it updates in place. A demo user who already had the day's message
    (a second demo on the same day) is reported so, as the ledger will not send it twice.
    """
    out = []
    for phone, city_name, zone, lat, lon in DEMO_PLACES:
        city = session.scalar(select(City).where(City.name == city_name, City.timezone == zone))
        if city is None:
            city = City(name=city_name, timezone=zone, latitude=lat, longitude=lon)
            session.add(city)
        user = session.scalar(select(User).where(User.phone == phone))
        if user is None:
            user = User(phone=phone, created_at=now)
            session.add(user)
        user.timezone, user.latitude, user.longitude, user.city = zone, lat, lon, city
        due = next_minute_at(zone, now)
        user.send_time = due.strftime("%H:%M")
        user.obsoleted_on = None
        user.unreachable_at = None
        session.flush()
        sent = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.user_id == user.id, Delivery.local_date == due.date(),
                   Delivery.status.in_(DONE))
        )  # fmt: skip
        out.append(DemoUser(phone, city_name, Slot(zone, user.send_time), due.date(), bool(sent)))
    session.commit()
    return out


# Ledger states of a message that went out (or was handed to WhatsApp).
DONE = [s.value for s in (DeliveryStatus.ACCEPTED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                          DeliveryStatus.READ)]  # fmt: skip
