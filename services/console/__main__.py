from services.console.main import serve

serve()
