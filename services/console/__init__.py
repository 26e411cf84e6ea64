"""The web console: server-rendered pages over the four services' APIs (it owns no data)."""
