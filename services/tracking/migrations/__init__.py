"""tracking's schema history: its Alembic revisions are in versions/ (README, Migrations)."""

from pathlib import Path

from services.tracking import search
from services.tracking.models import TrackingBase
from shared.migrations import History

HISTORY = History("tracking", TrackingBase.metadata, Path(__file__).parent / "versions",
                  unmodelled=search.INDEX_OBJECTS, after_upgrade=search.create_trigram_index)
