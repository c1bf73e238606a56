"""moto's server for the local stack and the tests, with DynamoDB requests applied one at a time.

    python scripts/moto_server.py -H 127.0.0.1 -p 4570

DynamoDB applies each conditional write atomically. moto checks a ConditionExpression and
then applies the update in separate steps with no lock, so two concurrent conditional
updates can both pass: a max_uses=5 token gave 6 redirects under a 50-request burst.
One lock around DynamoDB requests restores DynamoDB's guarantee; S3 requests (the large
uploads and downloads) stay concurrent.
"""
import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (they carry X-Amz-Target: DynamoDB_...)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get('HTTP_X_AMZ_TARGET', '').startswith('DynamoDB_'):
            with self.lock:
                # Consume the whole answer inside the lock: moto may build it lazily.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-H', '--host', default='127.0.0.1')
    parser.add_argument('-p', '--port', type=int, default=4570)
    args = parser.parse_args(argv)
    import os
    os.environ.setdefault('MOTO_PORT', str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == '__main__':
    main()
