"""Pulse's pure scoring domain: events, model, window, decay, bands, engine.

Nothing in this package touches Kafka, Redis, asyncio, Faust, the environment
or the wall clock: time is always passed in.
"""
