"""Notifiers: the `alerts` topic -> routes -> per-channel Redis Streams -> delivery stages -> channels.

Read like Alertmanager's notify pipeline: small stages (dedup -> cooldown -> send -> retry ->
dead-letter), each channel a small class behind the `Channel` Protocol (`channel.py`), every
Redis key name in one module (`keys.py`), typed errors that say whether they are retryable
(`errors.py`).
"""
