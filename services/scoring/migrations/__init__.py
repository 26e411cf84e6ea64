"""scoring's schema history: its Alembic revisions are in versions/ (README, Migrations)."""

from pathlib import Path

from services.scoring.models import ScoringBase
from shared.migrations import History

HISTORY = History("scoring", ScoringBase.metadata, Path(__file__).parent / "versions")
