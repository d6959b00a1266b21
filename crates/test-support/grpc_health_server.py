"""A real gRPC server for Vigilmon's tests: grpcio with the standard health service
(grpc.health.v1.Health) on 127.0.0.1 and a free port, which it prints as
`listening PORT` once it serves.

    grpc_health_server.py [--tls CERT_PEM KEY_PEM] [--no-health]

Health: the server as a whole ("") and `vigilmon.test.Up` are SERVING,
`vigilmon.test.Down` is NOT_SERVING; any other name is unknown (NOT_FOUND). With
`--no-health` the server offers no service at all (every call is UNIMPLEMENTED).
Lines on stdin `NAME STATUS` (STATUS: SERVING or NOT_SERVING; NAME `-` for "")
change a status; the server stops when stdin closes.
"""

import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main():
    args = sys.argv[1:]
    tls = None
    with_health = True
    while args:
        if args[0] == "--tls" and len(args) >= 3:
            with open(args[1], "rb") as c, open(args[2], "rb") as k:
                tls = (k.read(), c.read())
            args = args[3:]
        elif args[0] == "--no-health":
            with_health = False
            args = args[1:]
        else:
            sys.exit("usage: grpc_health_server.py [--tls CERT_PEM KEY_PEM] [--no-health]")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        serving = health_pb2.HealthCheckResponse.SERVING
        servicer.set("", serving)
        servicer.set("vigilmon.test.Up", serving)
        servicer.set("vigilmon.test.Down", health_pb2.HealthCheckResponse.NOT_SERVING)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port(
            "127.0.0.1:0", grpc.ssl_server_credentials([tls])
        )
    server.start()
    print(f"listening {port}", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 2:
            name = "" if parts[0] == "-" else parts[0]
            servicer.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(parts[1]))
            print(f"set {parts[0]} {parts[1]}", flush=True)
    server.stop(0)


if __name__ == "__main__":
    main()
