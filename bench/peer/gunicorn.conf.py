"""gunicorn settings that serve.sh does not pass on the command line: the readiness line."""
import sys


def post_worker_init(worker):
    # The first worker has loaded Django and can answer: tell the harness once.
    if worker.age == 1:
        sys.stdout.write("PEER READY\n")
        sys.stdout.flush()
