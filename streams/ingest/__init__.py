"""`pulse ingest`: an HTTP service that speaks Segment's tracking API and writes to Kafka.

    app.py       aiohttp routes (/v1/track ... /v1/batch, /v1/import, /healthz, /ready, /metrics)
    body.py      reading a request body: size limit, bounded gunzip, JSON, the error answers
    auth.py      write keys: hashing (HMAC-SHA256 with the file's salt), constant-time lookup
    config.py    the write-key TOML file (`[[source]]` name + key_hash)
    batching.py  stamping `receivedAt`, validation, one batch-envelope record per partition
    producer.py  the Kafka producer (acks=all, bounded pending bytes, send timeout -> 503)
    metrics.py   `pulse_ingest_*` Prometheus metrics

See docs/ingest.md.
"""
