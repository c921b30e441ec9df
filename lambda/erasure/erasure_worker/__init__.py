"""The erasure worker: erases everything a user pool `sub` holds (objects, versions, records, counters, mappings)
and keeps a report. See `handler` for the entry point, `eraser` for the steps, `store` for the AWS calls."""
