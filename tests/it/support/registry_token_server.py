"""A tiny Docker-registry token server for the tests (Python stdlib + the
openssl CLI): GET /token?service=S&scope=A&scope=B answers a JWT signed
RS256 with KEY, its certificate CERT in the `x5c` header (distribution 2.8
verifies that chain against its `rootcertbundle`).

Basic credentials USER:PASSWORD get every action asked for; a request without
credentials gets a token granting nothing (as Docker Hub does for a private
repository); wrong credentials get 401. Each grant is logged to LOG as
`granted USER SCOPE...`.

usage: registry_token_server.py PORT KEY CERT ISSUER SERVICE USER:PASSWORD LOG
"""

import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

port, key, cert, issuer, service, credentials, log = sys.argv[1:8]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64() -> str:
    with open(cert) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())


X5C = cert_der_b64()


def sign(claims: dict) -> str:
    header = {"alg": "RS256", "typ": "JWT", "x5c": [X5C]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key],
        input=signing_input.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return signing_input + "." + b64url(signature)


def access_for(scopes):
    access = []
    for scope in scopes:
        # repository:NAME:ACTION[,ACTION]
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
    return access


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/token":
            self.send_error(404)
            return
        query = urllib.parse.parse_qs(url.query)
        scopes = [s for value in query.get("scope", []) for s in value.split()]
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode(errors="replace")
            if given != credentials:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            user = given.split(":", 1)[0]
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": user,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": b64url(os.urandom(12)),
            "access": access_for(scopes) if user else [],
        }
        token = sign(claims)
        with open(log, "a") as f:
            f.write(f"granted {user or '(anonymous)'} {' '.join(scopes) if user else '(nothing)'}\n")
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
