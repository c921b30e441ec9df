"""Read-only API over the objects table: a caller lists and reads the records of the objects they uploaded.

Modules: `handler` (Lambda entry point `objects_api.handler.lambda_handler`, routes and responses),
`domain` (pure rules: input validation, cursors, record shaping) and `store` (the DynamoDB queries).
"""
