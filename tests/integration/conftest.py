import uuid

import nats as nats_py
import pytest
from prometheus_client import CollectorRegistry

from shared.bus import declare_stream, make_broker
from shared.db import PlumbingBase, create_tables, make_engine, session_factory
from shared.settings import Settings
from shared.streams import StreamSpec
from tests.support import backends, drop_postgres_schema, new_postgres_schema


@pytest.fixture(params=backends())
def database_url(request, tmp_path):
    """The URL of a fresh, empty database: SQLite, and PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema, url = new_postgres_schema()
    yield url
    drop_postgres_schema(schema)


@pytest.fixture
async def db(database_url):
    """A fresh database with the plumbing tables."""
    engine = make_engine(database_url)
    await create_tables(engine, [PlumbingBase.metadata])
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(db):
    return session_factory(db)


@pytest.fixture
def settings(nats_server) -> Settings:
    return Settings(nats_url=nats_server.url, env="test")


@pytest.fixture
async def nc(nats_server):
    client = await nats_py.connect(nats_server.url)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc, settings) -> StreamSpec:
    """A stream of its own for each test (a made-up producing service)."""
    spec = StreamSpec(f"t{uuid.uuid4().hex[:10]}")
    await declare_stream(nc.jetstream(), spec, settings)
    return spec


@pytest.fixture
async def broker(settings):
    b = make_broker(settings, "test", registry=CollectorRegistry())
    await b.start()
    yield b
    await b.stop()
