"""SQLAlchemy models, engine/session helpers and alembic migrations."""

from models.base import Base
from models.city import City
from models.delivery import Delivery, DeliveryStatus
from models.send_run import BatchState, RunOutcome, RunTrigger, SendBatch, SendRun
from models.user import User

__all__ = [
    "Base",
    "BatchState",
    "City",
    "Delivery",
    "DeliveryStatus",
    "RunOutcome",
    "RunTrigger",
    "SendBatch",
    "SendRun",
    "User",
]
