"""The baseline: a bare aiokafka consume -> produce pipe, `python -m bench.pipe ...`.

It does what the worker does with Kafka and nothing else: read an order, publish one record
(same key, value and headers) with acks=all and wait for it, commit. `--batch` publishes a
whole fetch before waiting, the machine's ceiling for this broker and topic layout; the serial
mode is the ceiling of any one-record-at-a-time design.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord


async def pipe(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer = AIOKafkaConsumer(
        *args.inputs,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            if args.batch:
                sends = [await _send(producer, args.output, r) for r in records]
                await asyncio.gather(*sends)
            else:
                for r in records:
                    await (await _send(producer, args.output, r))
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


async def _send(producer: AIOKafkaProducer, topic: str, r: ConsumerRecord) -> asyncio.Future:
    return await producer.send(topic, r.value, key=r.key, headers=list(r.headers or []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("inputs", nargs="+")
    asyncio.run(pipe(parser.parse_args()))


if __name__ == "__main__":
    main()
