"""Milvus collections: the connection, one collection per rebuild (updates change it in place), its
schema and recorded facts, filter expressions, the live alias."""
from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path

from pymilvus import DataType, MilvusClient

from index.filter import Filter
from index.store import IndexUnavailable, IndexVersion
from settings import Settings

INSERT_ROWS = 1000  # rows per upsert call: well under gRPC's message limit at 384 dimensions
HNSW = {"M": 16, "efConstruction": 200}
SEARCH_EF = 1100  # HNSW breadth at query time: above the engine's 1000-passage pools, for exact-like recall
FIELDS_CAT = 512
# Facts recorded on a collection (collection properties): the mean passage length its BM25 weights were
# computed with, that it was filled completely once (servers use no collection before that), and the
# version whose rows it holds exactly ("none" while a sync is writing)
MEAN_LENGTH = "kavosh.mean_length"
COMPLETE = "kavosh.complete"
SYNCED = "kavosh.synced"
# The sparse fields: BM25 weights of a passage's words, and of their stems (collections made before stems lack it)
WORDS = "sparse"
STEMS = "stems"


class MilvusUnavailable(IndexUnavailable):
    """The Milvus server or the version's collection cannot be used; the message says what to do."""


class _UnimplementedCalls(logging.Filter):
    """Drops the traceback Milvus Lite's in-process gRPC server logs as an ERROR each time pymilvus asks it
    for a call it does not implement (``AllocTimestamp``, on writes): pymilvus goes on without it, so the
    "error" would only alarm whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], NotImplementedError))


def connect(settings: Settings) -> MilvusClient:
    """A client for ``KAVOSH_MILVUS_URI``: a local ``*.db`` file starts Milvus Lite on it, anything else
    is a Milvus server (``KAVOSH_MILVUS_TOKEN`` for its credentials)."""
    uri = settings.milvus_uri
    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        grpc_server = logging.getLogger("grpc._server")
        if not any(isinstance(f, _UnimplementedCalls) for f in grpc_server.filters):
            grpc_server.addFilter(_UnimplementedCalls())
    try:
        return MilvusClient(uri, token=settings.milvus_token)
    except Exception as exc:  # pymilvus raises its own exception types, and gRPC's
        raise MilvusUnavailable(f"cannot connect to Milvus at {uri} ({exc}); check KAVOSH_MILVUS_URI "
                                f"and KAVOSH_MILVUS_TOKEN") from None


def collection_name(settings: Settings, lineage: str) -> str:
    """The collection holding the versions of one lineage: the version a rebuild wrote and the updates
    made from it (Milvus names take letters, digits and underscores)."""
    return f"{settings.milvus_collection}_{re.sub(r'[^A-Za-z0-9_]', '_', lineage)}"


def version_collection(settings: Settings, version: IndexVersion) -> str:
    """The collection an index version's rows live in: its lineage's."""
    return collection_name(settings, version.lineage)


def properties(client: MilvusClient, name: str) -> dict[str, str]:
    """The facts recorded on a collection (:data:`MEAN_LENGTH`, :data:`COMPLETE`, :data:`SYNCED`)."""
    return dict(client.describe_collection(name).get("properties", {}))


def fields(client: MilvusClient, name: str) -> set[str]:
    """The names of a collection's fields."""
    return {field["name"] for field in client.describe_collection(name)["fields"]}


def record(client: MilvusClient, name: str, **facts: str) -> None:
    """Record facts on a collection (collection properties, kept by Milvus with the collection)."""
    client.alter_collection_properties(name, properties=facts)


def live_alias(settings: Settings) -> str:
    """The alias that names the live version's collection, for readers outside the product."""
    return f"{settings.milvus_collection}_live"


def expression(filter: Filter | None) -> str:
    """A Milvus boolean expression keeping what ``filter`` keeps ("" for no filter). Undated passages hold
    an empty date, which a date bound leaves out, as in the local backend."""
    if filter is None:
        return ""
    conditions = []
    if filter.category is not None:
        conditions.append(f"cat == {_quoted(filter.category)}")
    if filter.date_from is not None or filter.date_to is not None:
        conditions.append('date != ""')
    if filter.date_from is not None:
        conditions.append(f'date >= "{_iso(filter.date_from)}"')
    if filter.date_to is not None:
        conditions.append(f'date <= "{_iso(filter.date_to)}"')
    return " and ".join(conditions)


def _iso(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _quoted(text: str) -> str:
    """A string literal for a Milvus expression (backslashes and double quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_collection(client: MilvusClient, name: str, dimension: int) -> None:
    """An empty collection: passage key (:mod:`index.milvus.keys`), dense vector (HNSW, inner product),
    BM25 sparse vectors of words and of stems (inverted index, inner product), and the article fields
    filters and fusion read."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field(WORDS, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field(STEMS, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("cat", DataType.VARCHAR, max_length=FIELDS_CAT)
    schema.add_field("date", DataType.VARCHAR, max_length=10)
    indexes = client.prepare_index_params()
    indexes.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
    for sparse in (WORDS, STEMS):
        indexes.add_index(sparse, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=indexes)


def switch_live(client: MilvusClient, settings: Settings, name: str) -> None:
    """Point the live alias at ``name`` in one step, then drop the collections no alias or live version
    needs any more (the one it pointed at before is kept: servers may still be reading it)."""
    alias = live_alias(settings)
    previous = None
    if alias in client.list_aliases().get("aliases", []):
        previous = client.describe_alias(alias)["collection_name"]
        if previous == name:
            return
        client.alter_alias(name, alias)
    else:
        client.create_alias(name, alias)
    versions = re.compile(re.escape(settings.milvus_collection) + r"_\d{8}T\d{6}_[0-9a-f]+")  # see collection_name
    for other in client.list_collections():
        if versions.fullmatch(other) and other not in (name, previous):
            client.drop_collection(other)
