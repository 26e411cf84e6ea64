"""Alembic runs this for every command on every service; the plumbing is in __init__.py here."""

from alembic import context

from shared.migrations import run_env

run_env(context)
