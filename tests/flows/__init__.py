"""The flow tier: routes, SQS batches and schedules through the handlers, on the in-memory store."""
