from services.intake.main import build_app
from shared.server import serve

serve(build_app, "intake")
