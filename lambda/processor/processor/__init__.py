"""Processor function: records each S3 "Object Created" event (via EventBridge) once in DynamoDB.

Entry points: `processor.handler.sqs_handler` (EventBridge -> SQS -> Lambda, partial batch responses)
and `processor.handler.event_handler` (EventBridge -> Lambda async invoke, raises on failure).
"""
