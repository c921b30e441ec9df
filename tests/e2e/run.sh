#!/usr/bin/env bash
# `make e2e`: deploy the app into LocalStack (host mode, no docker, 127.0.0.1 only) with the pinned `cdk`, check what
# was deployed and run the upload chain inside it (pytest, tests/e2e/check_*.py), destroy, stop the emulator.
#
# The emulator runs in its own virtualenv (.e2e-venv, Python 3.13: localstack-core 2026.3.0 uses 3.12 syntax and
# imports warnings.deprecated, new in 3.13, so neither the app's 3.11 nor 3.12 can run it) from the fully locked tests/e2e/emulator-requirements.txt. It is started as the leader of
# its own process group (setsid); the EXIT trap kills that whole group (Lambda host workers included), so nothing
# outlives the run, whether it passes, fails or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/.e2e-venv
LOCK=$ROOT/tests/e2e/emulator-requirements.txt
PORT=${E2E_PORT:-4566}   # another port lets two checkouts run `make e2e` side by side
PYTEST_ARGS=("$@")

find_python313() {
  # Explicit override first, then python3.13 on PATH, then pyenv's newest 3.13.x (pyenv's shims need not be on PATH).
  local candidate
  for candidate in "${E2E_PYTHON:-}" "$(command -v python3.13 || true)" \
      $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*/bin/python3.13 /root/.pyenv/versions/3.13.*/bin/python3.13 \
        2>/dev/null | sort -u | sort -t. -k3 -n -r); do
    if [[ -n $candidate && -x $candidate ]] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

# --- the emulator's own virtualenv (incremental: a stamp that depends on the lock file) ---------------------------
if [[ ! -f $VENV/.installed || $LOCK -nt $VENV/.installed ]]; then
  PY313=$(find_python313) || {
    echo "make e2e: needs Python 3.13 for LocalStack (localstack-core 2026.3.0 imports warnings.deprecated, new in 3.13)." >&2
    echo "None found: set E2E_PYTHON=/path/to/python3.13, put python3.13 on PATH, or 'pyenv install 3.13'." >&2
    exit 2
  }
  echo "e2e: emulator virtualenv from $PY313"
  rm -rf "$VENV"
  "$PY313" -m venv "$VENV"
  # --no-deps: exactly the locked set, nothing resolved anew (an unpinned resolve picks cbor2 6 / pyOpenSSL 25,
  # which crash LocalStack at start).
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$LOCK"
  touch "$VENV/.installed"
fi

# --- start the emulator in its own process group; always stop it --------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/secsls-e2e.XXXXXX")
EMULATOR_PID=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $EMULATOR_PID ]]; then
    kill -TERM -- "-$EMULATOR_PID" 2>/dev/null || true
    # A loaded 2-core machine can need more than 10 s to stop every service: wait up to 30 s, then kill the group.
    for _ in $(seq 150); do kill -0 -- "-$EMULATOR_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true   # reap the leader: a killed, unreaped child is a zombie, not a survivor
    sleep 0.5
    if ps -o pid=,stat=,args= -g "$EMULATOR_PID" | awk '$2 !~ /^Z/' | grep . >&2; then
      echo "e2e: processes of the emulator's group survived (listed above)" >&2; status=1
    else
      echo "e2e: emulator stopped, no process of its group left"
    fi
  fi
  if [[ $status -ne 0 && -f $WORK/localstack.log ]]; then
    echo "e2e: last lines of the emulator log:" >&2; tail -n 40 "$WORK/localstack.log" >&2
  fi
  rm -rf "$WORK"
  echo "e2e: total ${SECONDS} s (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "make e2e: 127.0.0.1:$PORT is already in use; stop whatever listens there first" >&2; exit 1
fi

export E2E_KEY_ENCODING_FILE=$WORK/key-encoding   # the chain tests flip S3's EventBridge key encoding through it
echo on > "$E2E_KEY_ENCODING_FILE"
mkdir -p "$WORK/volume" "$WORK/tmp"
# Loopback only, no DNS server, no analytics, no downloads; everything it writes (volume, unzipped Lambda code,
# function logs) stays under $WORK, removed at exit. SQS reports queue metrics to CloudWatch every 5 s, not 60.
setsid env \
  GATEWAY_LISTEN=127.0.0.1:$PORT LOCALSTACK_VOLUME_DIR="$WORK/volume" TMPDIR="$WORK/tmp" DNS_ADDRESS=0 \
  DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 PERSISTENCE=0 SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL=5 \
  LAMBDA_RUNTIME_EXECUTOR=host-python E2E_HOST_PYTHON="$VENV/bin/python" \
  "$VENV/bin/python" "$ROOT/tests/e2e/emulator/launch.py" >"$WORK/localstack.log" 2>&1 &
EMULATOR_PID=$!
echo "e2e: emulator starting (pid/pgid $EMULATOR_PID, log $WORK/localstack.log)"
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$PORT/_localstack/health" >/dev/null 2>&1; then break; fi
  kill -0 "$EMULATOR_PID" 2>/dev/null || { echo "make e2e: the emulator exited during start-up" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/_localstack/health" >/dev/null || { echo "make e2e: emulator not up in 60 s" >&2; exit 1; }
echo "e2e: emulator up on 127.0.0.1:$PORT"

# --- deploy, check, exercise, destroy (pytest in the app's virtualenv) --------------------------------------------
# E2E_CHECKS (space-separated check modules) runs only those, e.g. E2E_CHECKS=tests/e2e/check_accounts.py; default: all,
# the mapped layout across three emulator accounts (check_accounts.py) last.
export E2E_ENDPOINT=http://127.0.0.1:$PORT E2E_WORK=$WORK
read -r -a CHECKS <<< "${E2E_CHECKS:-tests/e2e/check_deployed.py tests/e2e/check_chain.py tests/e2e/check_uploads.py tests/e2e/check_upload_limits.py tests/e2e/check_user_delete.py tests/e2e/check_operator_tools.py \
tests/e2e/check_erasure.py tests/e2e/check_user_data_chain.py tests/e2e/check_custom_resources.py tests/e2e/check_access_matrix.py tests/e2e/check_consumer.py tests/e2e/check_accounts.py}"
python -m pytest -n 0 -o python_files='check_*.py' "${CHECKS[@]}" "${PYTEST_ARGS[@]}"
