"""Topic names of the whole cluster, cheaply enough to ask every few seconds.

Channel discovery (ADR 0001, decision 4) must see every topic: Kafka has no request that
lists names only or filters them on the broker, so each look is a Metadata request for all
topics, whose answer carries every partition's leader, replicas and ISR. aiokafka's admin
client decodes all of that into tuples, converts it to dictionaries and throws it away, after
opening a new connection per look: about 50 µs of CPU per topic and tick (50 ms per tick at
1,000 topics), paid by the worker that is also draining orders. Here one connection stays
open between looks, and the answer is read for its topic names only (partitions are skipped
by their lengths, nothing is built for them): about 3 µs per topic.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.metadata import MetadataRequest

from config.settings import Settings
from schemas.topics import ORDERS_TOPIC_PATTERN

CLIENT_ID = "invoice-router-discovery"  # how the broker's logs and quotas name these requests
MAX_VERSION = 5  # the last Metadata version whose answer `topic_names` reads
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


def _skip_string(data: bytes, at: int) -> int:
    (length,) = _I16.unpack_from(data, at)
    return at + 2 + max(length, 0)


def topic_names(data: bytes, version: int) -> list[str]:
    """The topic names in a Metadata response body (versions 0 to 5, those aiokafka speaks)."""
    at = 4 if version >= 3 else 0  # throttle_time_ms
    (brokers,) = _I32.unpack_from(data, at)
    at += 4
    for _ in range(max(brokers, 0)):
        at = _skip_string(data, at + 4) + 4  # node_id, host, port
        if version >= 1:
            at = _skip_string(data, at)  # rack
    if version >= 2:
        at = _skip_string(data, at)  # cluster_id
    if version >= 1:
        at += 4  # controller_id
    arrays = range(3 if version >= 5 else 2)  # replicas, isr (, offline_replicas)
    i16, i32 = _I16.unpack_from, _I32.unpack_from
    (topics,) = i32(data, at)
    at += 4
    names: list[str] = []
    for _ in range(max(topics, 0)):
        (length,) = i16(data, at + 2)  # after the error code
        at += 4
        if length >= 0:
            names.append(data[at : at + length].decode())
            at += length
        if version >= 1:
            at += 1  # is_internal
        (partitions,) = i32(data, at)
        at += 4
        for _ in range(max(partitions, 0)):
            at += 10  # error_code, partition, leader
            for _ in arrays:
                (count,) = i32(data, at)
                at += 4 + 4 * count if count > 0 else 4
    return names


class TopicNames:
    """A decoded answer: the names, nothing else."""

    def __init__(self, names: list[str]) -> None:
        self.names = names


def _names_response(version: int) -> type:
    class NamesResponse:
        @classmethod
        def decode(cls, data: io.BytesIO) -> TopicNames:
            return TopicNames(topic_names(data.read(), version))

    return NamesResponse


_STRUCTS: dict[type, type] = {}


class TopicNamesRequest(MetadataRequest):
    """aiokafka's Metadata request for all topics, in the version the broker and aiokafka
    agree on, whose answer is decoded by `topic_names`."""

    def __init__(self) -> None:
        super().__init__(None)  # None: every topic

    def build(self, request_struct_class: type[Any]) -> Any:
        version = request_struct_class.API_VERSION
        if version > MAX_VERSION:  # a layout `topic_names` doesn't know: aiokafka decodes it
            return super().build(request_struct_class)
        lean = _STRUCTS.get(request_struct_class)
        if lean is None:
            lean = type(
                f"TopicNames{request_struct_class.__name__}",
                (request_struct_class,),
                {"RESPONSE_TYPE": _names_response(version)},
            )
            _STRUCTS[request_struct_class] = lean
        return super().build(lean)


class TopicLister:
    """Lists the cluster's topics over one connection kept between calls.

    A failed call closes the client; the next call connects again (a broker restart is an
    outage the caller reports, not a reason to keep a broken connection)."""

    def __init__(self, options: dict[str, object]) -> None:
        self._options = options
        self._client: AIOKafkaClient | None = None

    async def names(self) -> list[str]:
        try:
            if self._client is None:
                options: dict[str, Any] = {"client_id": CLIENT_ID, **self._options}
                self._client = AIOKafkaClient(**options)
                await self._client.bootstrap()
            answer = await self._client.send(self._client.get_random_node(), TopicNamesRequest())
        except BaseException:
            await self.close()
            raise
        if isinstance(answer, TopicNames):
            return answer.names
        return [topic[1] for topic in answer.topics]  # aiokafka's own decoding

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


class OrderTopics:
    """The input topics on the broker: the configured pattern, and always a valid channel name."""

    def __init__(self, settings: Settings, lister: TopicLister) -> None:
        self._wanted = re.compile(settings.orders_topic_pattern)
        self._lister = lister

    async def list(self) -> list[str]:
        wanted = self._wanted.match
        return sorted(
            t for t in await self._lister.names() if wanted(t) and ORDERS_TOPIC_PATTERN.match(t)
        )

    async def close(self) -> None:
        await self._lister.close()
