"""Topic discovery reads a Metadata answer for its topic names only (adapters/kafka_topics.py):
the names must be exactly those aiokafka's full decoder finds, in every version it speaks."""

from __future__ import annotations

import io

import pytest
from aiokafka.protocol import metadata as md

from adapters.kafka_topics import TopicNames, TopicNamesRequest, topic_names

BROKERS_V0 = [(1, "kafka-1", 9092), (2, "kafka-2.example", 9093)]
BROKERS_RACK = [(1, "kafka-1", 9092, None), (2, "kafka-2.example", 9093, "rack-b")]


def _partitions(version: int, count: int) -> list[tuple]:
    """Partitions with replica lists of different lengths (the decoder skips them by length)."""
    rows = []
    for p in range(count):
        replicas, isr = list(range(p % 3 + 1)), list(range(p % 2))
        row = (0 if p % 4 else 5, p, p % 3, replicas, isr)
        rows.append((*row, [7] * (p % 2)) if version >= 5 else row)
    return rows


def _topics(version: int) -> list[tuple]:
    names = ["orders.shop", "__consumer_offsets", "orders.zażółć", "x" * 300, "empty"]
    counts = [4, 50, 1, 3, 0]
    topics = []
    for i, (name, count) in enumerate(zip(names, counts, strict=True)):
        internal = (name.startswith("__"),) if version >= 1 else ()
        topics.append((3 if i == 4 else 0, name, *internal, _partitions(version, count)))
    return topics


def _encoded(version: int) -> tuple[bytes, list[str]]:
    topics = _topics(version)
    cls = getattr(md, f"MetadataResponse_v{version}")
    if version == 0:
        response = cls(BROKERS_V0, topics)
    elif version == 1:
        response = cls(BROKERS_RACK, 1, topics)
    elif version == 2:
        response = cls(BROKERS_RACK, None, 1, topics)
    else:
        response = cls(100, BROKERS_RACK, "cluster-1", 2, topics)
    data = response.encode()
    assert [t[1] for t in cls.decode(io.BytesIO(data)).topics] == [t[1] for t in topics]
    return data, [t[1] for t in topics]


@pytest.mark.parametrize("version", range(6))
def test_names_are_those_of_the_full_decoder(version: int) -> None:
    data, names = _encoded(version)
    assert topic_names(data, version) == names


def test_no_topics() -> None:
    data = md.MetadataResponse_v5(0, BROKERS_RACK, None, 1, []).encode()
    assert topic_names(data, 5) == []


def test_the_request_is_aiokafkas_all_topics_request_with_the_names_decoder() -> None:
    versions = {3: (0, 13)}  # what the broker announces; aiokafka speaks up to v5
    lean = TopicNamesRequest().prepare(versions)
    full = md.MetadataRequest(None).prepare(versions)
    assert (lean.API_VERSION, lean.encode()) == (full.API_VERSION, full.encode())
    data, names = _encoded(lean.API_VERSION)
    answer = lean.RESPONSE_TYPE.decode(io.BytesIO(data))
    assert isinstance(answer, TopicNames) and answer.names == names
    older = TopicNamesRequest().prepare({3: (0, 1)})
    assert older.API_VERSION == 1
    assert older.RESPONSE_TYPE.decode(io.BytesIO(_encoded(1)[0])).names == names


def test_a_version_past_the_names_decoder_is_decoded_by_aiokafka() -> None:
    """Should aiokafka speak a newer Metadata version, its own decoder reads the answer."""

    class NewerRequest(md.MetadataRequest_v5):
        API_VERSION = 6

    built = TopicNamesRequest().build(NewerRequest)
    assert built.RESPONSE_TYPE is md.MetadataRequest_v5.RESPONSE_TYPE
