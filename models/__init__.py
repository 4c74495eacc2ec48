"""SQLAlchemy models, engine/session helpers and alembic migrations."""

from models.base import Base
from models.city import City
from models.daily_stats import DailyStat, StatKind
from models.delivery import Delivery, DeliveryStatus
from models.inbound import InboundMessage
from models.send_run import BatchState, RunOutcome, RunTrigger, SendBatch, SendRun
from models.user import User

__all__ = [
    "Base",
    "BatchState",
    "City",
    "DailyStat",
    "Delivery",
    "DeliveryStatus",
    "InboundMessage",
    "RunOutcome",
    "RunTrigger",
    "SendBatch",
    "SendRun",
    "StatKind",
    "User",
]
