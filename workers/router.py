"""The router service: one consumed record in, exactly one outcome out. Never raises.

Parsing, configuration lookup, pre-flight checks and the document decision happen before any
provider call, so bad input fails fast with a precise reason and costs no provider quota.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable

from pydantic import TypeAdapter, ValidationError

from adapters.registry import ProviderRegistry
from config.store import ConfigStore
from domain.documents import sales_document
from domain.ports import InvoicingProvider, ProviderAuthError, ProviderError
from domain.preflight import PreflightFailed, check_order, check_refund
from domain.routing import ChannelRoute, ConnectionStatus, decide_sales_document
from schemas.deadletter import DeadLetterReason
from schemas.invoices import DocumentKind, Failure, FailureClass, FailureCode, IssuedDocument
from schemas.orders import OrderCompleted, OrderEvent, OrderRefunded
from schemas.topics import channel_of
from workers.corrections import CorrectionRefused, issue_correction
from workers.events import Fact, failed_event, issued_event
from workers.failures import failure_from_provider_error
from workers.issuing import Attempts, RetryPolicy, deliver, issue_once
from workers.records import DeadLettered, Failed, Issued, Outcome, RawRecord, Skipped

log = logging.getLogger(__name__)
_ORDER_EVENT: TypeAdapter[OrderCompleted | OrderRefunded] = TypeAdapter(OrderEvent)
Clock = Callable[[], dt.datetime]
IssueCall = Callable[[InvoicingProvider, Attempts], Awaitable[IssuedDocument]]


def _dead(record: RawRecord, code: str, message: str, exc: BaseException) -> DeadLettered:
    return DeadLettered(record, DeadLetterReason(code, message, type(exc).__qualname__))


def describe_validation_error(exc: ValidationError) -> str:
    """`data.order.lines.0.vat_rate: Field required` lines, without echoing input values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:20]
    )


class OrderRouter:
    def __init__(
        self,
        store: ConfigStore,
        providers: ProviderRegistry,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._retry = retry or RetryPolicy()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    async def route(self, record: RawRecord) -> Outcome:
        try:
            event = self._parse(record)
            if isinstance(event, DeadLettered):
                return event
            return await self._route_event(record, event)
        except Exception as exc:  # an escaping exception would make Faust skip the record
            log.exception(
                "unexpected error routing %s[%s]@%s", record.topic, record.partition, record.offset
            )
            return _dead(record, "internal_error", f"{type(exc).__name__}: {exc}"[:1000], exc)

    def _parse(self, record: RawRecord) -> OrderCompleted | OrderRefunded | DeadLettered:
        try:
            json.loads(record.value or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            return _dead(record, "malformed_json", f"value is not JSON: {exc}", exc)
        try:
            # JSON mode: strict models still accept RFC 3339 strings for times
            event = _ORDER_EVENT.validate_json(record.value or b"")
        except ValidationError as exc:
            return _dead(record, "schema_invalid", describe_validation_error(exc), exc)
        channel = channel_of(record.topic)
        if event.data.channel != channel:
            err = ValueError(f"event channel {event.data.channel!r} arrived on {record.topic!r}")
            return _dead(record, "channel_mismatch", str(err), err)
        return event

    async def _route_event(
        self, record: RawRecord, event: OrderCompleted | OrderRefunded
    ) -> Outcome:
        data = event.data
        refund_id = data.refund.refund_id if isinstance(event, OrderRefunded) else None
        fact = Fact(
            data.seller_id, data.channel, data.order.order_id, event.id, refund_id=refund_id
        )
        route = await self._store.route_for(data.seller_id, data.channel)
        if route is None:
            return Failed(
                failed_event(
                    fact,
                    Failure(
                        code=FailureCode.CHANNEL_NOT_CONFIGURED,
                        failure_class=FailureClass.PERMANENT,
                        attempts=0,
                        message=(
                            f"seller {data.seller_id!r} has no invoicing configured for channel "
                            f"{data.channel!r}: connect a provider and map the channel, then replay"
                        ),
                    ),
                )
            )
        if not route.auto_generate:
            log.info(
                "auto-generate off for %s/%s: order %s not invoiced",
                route.seller_id,
                route.channel,
                data.order.order_id,
            )
            return Skipped(route.seller_id, route.channel, data.order.order_id, "auto_generate_off")
        if isinstance(event, OrderRefunded):
            return await self._refund(route, event, fact)
        return await self._sale(route, event, fact)

    async def _sale(self, route: ChannelRoute, event: OrderCompleted, fact: Fact) -> Outcome:
        order = event.data.order
        kind = decide_sales_document(order, route)
        fact = Fact(fact.seller_id, fact.channel, fact.order_id, fact.source_event_id, kind)
        try:
            check_order(order)
        except PreflightFailed as exc:
            return Failed(failed_event(fact, _preflight_failure(exc)))
        request = sales_document(
            order, route.channel, kind, route.target, route.send_by_email, self._clock()
        )

        async def issue(provider: InvoicingProvider, attempts: Attempts) -> IssuedDocument:
            issuance = await issue_once(provider, request, self._retry, attempts)
            return await deliver(provider, issuance, request)

        return await self._issue(route, fact, issue)

    async def _refund(self, route: ChannelRoute, event: OrderRefunded, fact: Fact) -> Outcome:
        fact = Fact(
            fact.seller_id,
            fact.channel,
            fact.order_id,
            fact.source_event_id,
            DocumentKind.CORRECTION,
            fact.refund_id,
        )
        try:
            check_refund(event.data.order, event.data.refund)
        except PreflightFailed as exc:
            return Failed(failed_event(fact, _preflight_failure(exc)))
        return await self._issue(
            route,
            fact,
            lambda provider, attempts: issue_correction(
                provider, route, event.data, self._retry, attempts, self._clock()
            ),
        )

    async def _issue(self, route: ChannelRoute, fact: Fact, call: IssueCall) -> Outcome:
        if route.connection_status is ConnectionStatus.NEEDS_REAUTH:
            return Failed(
                failed_event(
                    fact,
                    failure_from_provider_error(
                        ProviderAuthError(
                            f"the {route.provider.value} connection needs to be authorized again"
                        ),
                        0,
                    ),
                )
            )
        conn = await self._store.connection(route.connection_id)
        if conn is None:  # mapping raced with a connection removal
            return Failed(
                failed_event(
                    fact,
                    Failure(
                        code=FailureCode.CHANNEL_NOT_CONFIGURED,
                        failure_class=FailureClass.PERMANENT,
                        attempts=0,
                        message="the channel's provider connection no longer exists",
                    ),
                )
            )
        provider = await self._providers.for_connection(conn)
        attempts = Attempts()
        try:
            document = await call(provider, attempts)
        except ProviderError as exc:
            return Failed(failed_event(fact, failure_from_provider_error(exc, attempts.count)))
        except CorrectionRefused as exc:
            return Failed(
                failed_event(
                    fact,
                    Failure(
                        code=exc.code,
                        message=str(exc),
                        attempts=attempts.count,
                        violations=exc.violations,
                        failure_class=FailureClass.RETRYABLE_EXHAUSTED
                        if exc.code is FailureCode.ORIGINAL_DOCUMENT_MISSING
                        else FailureClass.PERMANENT,
                    ),
                )
            )
        return Issued(issued_event(fact, document))


def _preflight_failure(exc: PreflightFailed) -> Failure:
    return Failure(
        code=exc.code,
        failure_class=FailureClass.PERMANENT,
        attempts=0,
        message=f"the order cannot be invoiced as sent: {exc}. Fix it at the source and "
        "publish it again",
        violations=exc.violations,
    )
