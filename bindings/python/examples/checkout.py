"""A small service that logs through Aires; also the type check of the
package's stubs (`mypy --strict examples/checkout.py`, run by scripts/test).

    AIRES_ENDPOINT=http://127.0.0.1:4317 python examples/checkout.py
"""

from __future__ import annotations

import asyncio
import logging

import aires


class PaymentError(Exception):
    pass


async def handle(order_id: int) -> None:
    with aires.context(session_id=f"session-{order_id}", tenant="acme"):
        aires.info("order placed", order_id=order_id, amount=9.99, currency="EUR")
        await asyncio.sleep(0)
        try:
            raise PaymentError("card declined")
        except PaymentError as err:
            aires.error(
                "payment failed",
                exc=err,
                http={"method": "POST", "route": "/pay", "status": 502, "duration_ms": 31.5},
            )


def main() -> None:
    aires.init(service="checkout", environment="dev")
    logging.basicConfig(level=logging.INFO, handlers=[aires.LoggingHandler()])
    logging.getLogger(__name__).info("starting", extra={"workers": 2})

    async def run() -> None:
        await asyncio.gather(*(handle(n) for n in range(3)))

    asyncio.run(run())
    sent: bool = aires.flush(timeout=2.0)
    counts: dict[str, int] = aires.metrics()
    print(f"flushed={sent} enqueued={counts['events_enqueued']} dropped={counts['events_dropped']}")
    aires.shutdown(timeout=5.0)


if __name__ == "__main__":
    main()
