"""`host-python`: a LocalStack Lambda runtime executor that runs functions in a host Python subprocess.

Why: the community executor only runs functions in docker containers and first downloads a runtime-init binary;
neither is possible here. LocalStack chooses its executor by LAMBDA_RUNTIME_EXECUTOR from a plugin manager, so this
module adds one. Each execution environment is one long-lived worker process (host_runner.py), started with the
function's environment exactly as LocalStack computes it, the unzipped code and every layer's `python/` folder on
`sys.path`; LocalStack reuses it for many invocations (warm starts), as Lambda does.

Fidelity limits: the host's Python 3.13 on x86_64 (the functions target 3.14 on arm64; the Powertools layer is pure
Python, so it imports), boto3 from the emulator's virtualenv (Lambda's runtime provides boto3 too), no memory limit,
no filesystem isolation. The timeout is enforced: a worker that does not answer in time is killed.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

RUNNER = Path(__file__).resolve().parent / "host_runner.py"
NAME = "host-python"


def install() -> None:
    """Make `LAMBDA_RUNTIME_EXECUTOR=host-python` resolve to HostPythonExecutor (replaces the plugin manager, whose
    only other plugin, docker, cannot work here)."""
    from localstack.services.lambda_.invocation import runtime_executor
    from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
    from plux import PluginManager
    from plux.core.plugin import PluginFinder, PluginSpec

    class HostPythonPlugin(RuntimeExecutorPlugin):
        name = NAME

        def load(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return _executor_class()

    class Finder(PluginFinder):
        def find_plugins(self) -> list[PluginSpec]:
            return [PluginSpec(RuntimeExecutorPlugin.namespace, NAME, HostPythonPlugin)]

    runtime_executor.EXECUTOR_PLUGIN_MANAGER = PluginManager(RuntimeExecutorPlugin.namespace, finder=Finder())


def _executor_class() -> type:
    from localstack.services.lambda_.invocation.lambda_models import InvocationResult
    from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

    class HostPythonExecutor(RuntimeExecutor):
        def start(self, env_vars: dict[str, str]) -> None:
            config = self.function_version.config
            code_dir = config.code.get_unzipped_code_location()
            layer_dirs = [layer.code.get_unzipped_code_location() / "python" for layer in config.layers]
            self._timeout = float(config.timeout)
            self._lock = threading.Lock()
            handle, self._log_path = tempfile.mkstemp(prefix=f"lambda-{self.id}-", suffix=".log")
            environment = {name: str(value) for name, value in env_vars.items()}
            # The code's real place, not the container's /var/task; PATH/HOME so the interpreter starts normally.
            environment.update(LAMBDA_TASK_ROOT=str(code_dir), PATH=os.environ.get("PATH", ""), HOME=str(code_dir))
            # Answers come back on their own pipe: the function's stdout/stderr are its logs.
            answer_read, answer_write = os.pipe()
            environment["E2E_ANSWER_FD"] = str(answer_write)
            command = [os.environ.get("E2E_HOST_PYTHON", sys.executable), "-u", str(RUNNER), str(code_dir)]
            command += [str(path) for path in layer_dirs]
            self._process = subprocess.Popen(  # noqa: S603 - our runner, our interpreter
                command, stdin=subprocess.PIPE, stdout=handle, stderr=subprocess.STDOUT,
                env=environment, cwd=code_dir, pass_fds=(answer_write,),
            )  # fmt: skip
            os.close(answer_write)
            os.close(handle)
            self._answers = os.fdopen(answer_read, "rb")

        def stop(self) -> None:
            process = getattr(self, "_process", None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=5)

        def get_address(self) -> str:
            return "127.0.0.1"

        def get_endpoint_from_executor(self) -> str:
            return "127.0.0.1"  # AWS_ENDPOINT_URL of the function: the emulator on loopback

        def get_runtime_endpoint(self) -> str:
            return "http://127.0.0.1:0/not-used-by-host-python"  # no runtime API: the runner calls the handler

        def invoke(self, payload: dict[str, str]) -> InvocationResult:
            request_id = payload["invoke-id"]
            with self._lock:
                offset = os.path.getsize(self._log_path)
                answer = self._exchange(payload)
                logs = Path(self._log_path).read_bytes()[offset:].decode("utf-8", "replace")
            if answer is None:
                self.stop()
                error = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {self._timeout:.0f} s"}
                return InvocationResult(request_id, json.dumps(error).encode(), True, logs)
            return InvocationResult(request_id, answer["payload"].encode(), answer["is_error"], logs)

        def _exchange(self, payload: dict[str, str]) -> dict | None:
            """One request line in, one answer line out; None when the worker died or ran past the timeout."""
            request = {**payload, "timeout": self._timeout}
            try:
                self._process.stdin.write(json.dumps(request).encode() + b"\n")
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return None
            ready, _, _ = select.select([self._answers], [], [], self._timeout + 1)
            if not ready:
                return None
            line = self._answers.readline()
            return json.loads(line) if line else None

        def get_logs(self) -> str:
            path = getattr(self, "_log_path", None)
            return Path(path).read_text("utf-8", "replace") if path else ""

        @classmethod
        def prepare_version(cls, function_version) -> None:  # type: ignore[no-untyped-def]
            config = function_version.config
            if config.code:
                config.code.prepare_for_execution()
            for layer in config.layers:
                if layer.code is None:
                    raise LambdaRuntimeException(f"layer {layer.layer_version_arn} has no code")
                layer.code.prepare_for_execution()

        @classmethod
        def cleanup_version(cls, function_version) -> None:  # type: ignore[no-untyped-def]
            pass

        @classmethod
        def validate_environment(cls) -> bool:
            return True

    return HostPythonExecutor
