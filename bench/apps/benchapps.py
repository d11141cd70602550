"""The benchmark's plain WSGI apps (the Django one is djbench/)."""


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


def stream(environ, start_response):
    """100 KB streamed in 10 chunks, no Content-Length."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    chunk = b"x" * 10240
    return (chunk for _ in range(10))


def upload(environ, start_response):
    """Reads a request body (1 MB in the benchmark) and answers its length."""
    n = len(environ["wsgi.input"].read())
    body = str(n).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
