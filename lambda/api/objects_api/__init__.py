"""The objects API over the records table: a caller lists and reads the records of the objects they uploaded,
downloads them, and asks for upload grants.

Modules: `handler` (Lambda entry point `objects_api.handler.lambda_handler`, routes and responses), `caller` (the
signed-in caller and its identity id <-> sub mapping), `domain` (pure rules: input validation, cursors, record
shaping), `store` (the DynamoDB queries and the mapping write), `signer` (presigned downloads and upload POSTs), and
`uploads` (POST /uploads, a Router) with its rules (`upload_rules`) and counters (`upload_store`).
"""
