"""One runtime idiom for every function of this app (shipped as its own small Lambda layer, see stacks/layer.py).

- `budget`: client timeouts and retry budgets that fit the caller's deadline, and the deadline itself;
- `clients`: botocore clients created on first use, one cache for the execution environment;
- `settings`: required/optional settings from the environment, with one error type;
- `tracing`: the Powertools Tracer set-up (no library auto-patching).

Pure botocore + Powertools; no boto3 resource layer, no CDK.
"""
