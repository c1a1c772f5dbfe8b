"""Tell a broker outage (wait, in order) from a refusal of one record that no retry can change.

Waiting is right while Kafka is down or a leader moves: every later record would fail the same
way, and publishing them out of order would be worse. A record the producer or broker refuses
for what it *is* (too large, unserializable, an invalid topic name) fails identically forever,
so waiting for it would stop every output behind it (issue 10): such a record is quarantined.
Anything not known to be permanent counts as retriable, so an unexpected error keeps the old,
safe behaviour (wait) rather than setting good output aside.
"""

from __future__ import annotations

from aiokafka import errors

# Refusals that depend only on the record itself (or its topic name), never on broker health.
# aiokafka marks none of these `retriable`; KafkaTimeoutError and ProducerClosed are not marked
# either, but they come and go with the broker, so the flag alone does not decide.
PERMANENT: tuple[type[BaseException], ...] = (
    errors.MessageSizeTooLargeError,  # over max_request_size (client) or max.message.bytes
    errors.RecordTooLargeError,
    errors.RecordListTooLargeError,
    errors.InvalidTopicError,
    errors.CorruptRecordException,
    errors.InvalidTimestampError,
    TypeError,  # key, value or a header that is not bytes: serialization can never succeed
    ValueError,
)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (Faust re-raises aiokafka's errors as ProducerSendError)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain


def refused_for_good(exc: BaseException) -> bool:
    """Would sending this same record again fail the same way, whatever the broker's state?"""
    for cause in _causes(exc):
        if isinstance(cause, errors.KafkaError) and cause.retriable:
            return False
        if isinstance(cause, PERMANENT):
            return True
    return False


def describe(exc: BaseException) -> str:
    """The most specific error in the chain, for logs and the outbox row's `last_error`."""
    chain = _causes(exc)
    root = next((c for c in chain if isinstance(c, PERMANENT)), chain[-1])
    text, name = str(root), type(root).__name__
    return text if text.startswith(name) else f"{name}: {text}"
