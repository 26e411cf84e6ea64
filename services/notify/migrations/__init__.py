"""notify's schema history: its Alembic revisions are in versions/ (README, Migrations)."""

from pathlib import Path

from services.notify.models import NotifyBase
from shared.migrations import History

HISTORY = History("notify", NotifyBase.metadata, Path(__file__).parent / "versions")
