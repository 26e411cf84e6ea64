from services.scoring.main import build_app
from shared.server import serve

serve(build_app, "scoring")
