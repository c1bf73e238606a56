"""A LocalStack Lambda runtime executor that runs each execution environment as a local Python process.

LocalStack runs Lambda functions in Docker; where there is no Docker, LAMBDA_RUNTIME_EXECUTOR=local-python
selects this executor instead. Each environment is one worker.py process, in its own process group,
fed one invocation at a time over a pipe. Settings (environment of the LocalStack process):

    LOCAL_EXECUTOR_PYTHON       the interpreter of the functions' runtime (default python3.11); its
                                site-packages play the Lambda runtime's own boto3, behind the package
    LOCAL_EXECUTOR_ENV_<NAME>   <NAME> is added to every function's environment, as a network would
                                route it (e.g. LOCAL_EXECUTOR_ENV_AWS_ENDPOINT_URL_DYNAMODB)
    LOCAL_EXECUTOR_STATE_DIR    if set, each worker's PID is recorded there (workers/<pid>), so a test
                                can check that none outlives LocalStack
"""

import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

LOG = logging.getLogger(__name__)
NAME = 'local-python'
WORKER = Path(__file__).with_name('worker.py')
ENV_PREFIX = 'LOCAL_EXECUTOR_ENV_'
STARTUP_TIMEOUT = 30
STOP_GRACE = 3


def _python() -> str:
    return os.environ.get('LOCAL_EXECUTOR_PYTHON') or 'python3.11'


def _extra_environment() -> dict[str, str]:
    return {name[len(ENV_PREFIX) :]: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}


class LocalPythonExecutor(RuntimeExecutor):
    """One execution environment: a worker process serving the function's handler."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.process: subprocess.Popen | None = None
        self.env_vars: dict[str, str] = {}
        self.lock = threading.Lock()
        self.log_lines: list[str] = []
        self.pid_file: Path | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self.env_vars = env_vars
        with self.lock:
            self._spawn()

    def _spawn(self) -> None:
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        env = {name: str(value) for name, value in self.env_vars.items()}
        env.update(_extra_environment())
        env.update(
            {
                'LAMBDA_TASK_ROOT': code_dir,
                'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
                'TMPDIR': os.environ.get('TMPDIR', '/tmp'),
                'LANG': 'C.UTF-8',
            }
        )
        argv = [_python(), '-I', '-B', '-u', str(WORKER), code_dir, self.function_version.config.handler]
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._record_pid(self.process.pid)
        threading.Thread(
            target=self._read_logs, args=(self.process,), daemon=True, name=f'lambda-local-{self.id}-logs'
        ).start()
        ready = self._read_message(self.process, time.monotonic() + STARTUP_TIMEOUT)
        if not ready or not ready.get('ready'):
            self._kill()
            raise LambdaRuntimeException(
                f'worker for {self.function_version.qualified_arn} did not start:\n' + self.get_logs()
            )
        wanted = (self.function_version.config.runtime or '').removeprefix('python')
        if ready['python'] != wanted:
            self._kill()
            raise LambdaRuntimeException(
                f'{self.function_version.qualified_arn} needs Python {wanted}, '
                f'LOCAL_EXECUTOR_PYTHON={_python()} is {ready["python"]}'
            )
        LOG.debug(
            'local Lambda worker %s (pid %s) ready for %s',
            self.id,
            self.process.pid,
            self.function_version.qualified_arn,
        )

    def stop(self) -> None:
        with self.lock:
            self._kill()

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
            self.pid_file = None

    def _record_pid(self, pid: int) -> None:
        state = os.environ.get('LOCAL_EXECUTOR_STATE_DIR')
        if state:
            workers = Path(state) / 'workers'
            workers.mkdir(parents=True, exist_ok=True)
            self.pid_file = workers / str(pid)
            self.pid_file.write_text(self.function_version.qualified_arn)
            # Kept in a second list that nothing removes, so a test can check every worker ever started.
            with open(Path(state) / 'started', 'a') as f:
                f.write(f'{pid}\n')

    # --- invocations -------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload['invoke-id']
        timeout = int(self.function_version.config.timeout)
        deadline = time.monotonic() + timeout
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self._kill()
                self._spawn()  # the last invocation timed out or crashed the worker: a fresh one, as Lambda does
            message = {
                'request_id': request_id,
                'invoked_function_arn': payload['invoked-function-arn'],
                'payload': payload['payload'],
                'deadline_ms': int((time.time() + timeout) * 1000),
            }
            self.process.stdin.write(json.dumps(message) + '\n')
            self.process.stdin.flush()
            answer = self._read_message(self.process, deadline)
            if answer is None:
                timed_out = self.process.poll() is None
                self._kill()
                error = (
                    f'Task timed out after {timeout:.2f} seconds'
                    if timed_out
                    else 'Runtime exited without providing a reason'
                )
                return InvocationResult(
                    request_id,
                    json.dumps(
                        {'errorMessage': error, 'errorType': 'Sandbox.Timedout' if timed_out else 'Runtime.ExitError'}
                    ).encode(),
                    is_error=True,
                    logs=f'{error}\n',
                )
        return InvocationResult(
            request_id, answer['payload'].encode(), is_error=answer['is_error'], logs=answer['logs']
        )

    @staticmethod
    def _read_message(process: subprocess.Popen, deadline: float) -> dict | None:
        """The worker's next protocol line, or None if it exits or the deadline passes first."""
        result = {}

        def read():
            line = process.stdout.readline()
            if line:
                result['message'] = json.loads(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        return result.get('message')

    def _read_logs(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.log_lines.append(line)
        process.stderr.close()

    # --- addresses and logs ------------------------------------------------------------

    def get_address(self) -> str:
        return '127.0.0.1'

    def get_endpoint_from_executor(self) -> str:
        # The worker runs on LocalStack's host: AWS_ENDPOINT_URL becomes http://127.0.0.1:<gateway port>.
        return '127.0.0.1'

    def get_runtime_endpoint(self) -> str:
        return f'http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}'

    def get_logs(self) -> str:
        return ''.join(self.log_lines)

    # --- versions ----------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime or ''
        if not runtime.startswith('python'):
            raise LambdaRuntimeException(f'the {NAME} executor runs Python functions only, not {runtime or "images"}')
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass  # nothing beyond LocalStack's own unzipped code, which LocalStack removes

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            subprocess.run([_python(), '-c', 'pass'], check=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            LOG.warning('LOCAL_EXECUTOR_PYTHON=%s cannot run: %s', _python(), exc)
            return False
        return True


class LocalPythonExecutorPlugin(RuntimeExecutorPlugin):
    name = NAME

    def load(self, *args, **kwargs):
        return LocalPythonExecutor
