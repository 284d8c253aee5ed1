"""Typed contracts for what crosses a service boundary (a Kafka topic): one module per contract.

`alert.py`: the alert, which the worker writes to the `alerts` topic and the notifier,
`pulse alerts tail` and the dashboard read. A contract module imports only `scoring` (the
domain's vocabulary: bands, kinds, reasons) and orjson, never a service's internals.
"""
