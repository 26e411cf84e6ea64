"""Duban's services. None imports another: they talk only by events on NATS."""
