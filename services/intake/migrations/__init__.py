"""intake's schema history: its Alembic revisions are in versions/ (README, Migrations)."""

from pathlib import Path

from services.intake.models import IntakeBase
from shared.migrations import History

HISTORY = History("intake", IntakeBase.metadata, Path(__file__).parent / "versions")
