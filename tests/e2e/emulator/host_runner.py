"""Worker of the `host-python` Lambda executor (host_lambda.py): one process per execution environment.

argv: the unzipped code folder, then each layer's `python/` folder (Lambda puts both on the path: /var/task and
/opt/python). The handler is `_HANDLER` (module.function), imported once (cold start), then called for each request.
Requests are JSON lines on stdin; each answer is one JSON line on the file descriptor E2E_ANSWER_FD, so whatever the
function prints (its logs) stays on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """The Lambda context object, as far as handlers and Powertools read it."""

    def __init__(self, request: dict) -> None:
        self.aws_request_id = request["invoke-id"]
        self.invoked_function_arn = request["invoked-function-arn"]
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + float(request["timeout"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    code_dir, *layer_dirs = sys.argv[1:]
    sys.path[:0] = [code_dir, *layer_dirs]
    answers = os.fdopen(int(os.environ.pop("E2E_ANSWER_FD")), "w", encoding="utf-8")
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    handler = None
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace-id") or ""
        try:
            if handler is None:
                handler = getattr(importlib.import_module(module_name), function_name)
            result = handler(json.loads(request["payload"]), Context(request))
            answer = {"payload": json.dumps(result), "is_error": False}
        except Exception as error:  # the function failed: Lambda reports it as a function error
            traceback.print_exc()
            detail = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            answer = {"payload": json.dumps(detail), "is_error": True}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
