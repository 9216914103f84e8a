#!/usr/bin/env python3
"""A third-party RFC 9421 (HTTP Message Signatures) peer for Palabre's tests.

Everything cryptographic and every signature base here comes from PyPI's
``http-message-signatures`` (pinned in requirements.txt), not from Palabre, so the
tests compare two independent implementations.

Subcommands:

  sign    Sign a POST the way recent Mastodon does: label ``sig1``, components
          ("@method" "@target-uri" "content-digest"), ``created`` and ``keyid``
          (``alg="rsa-v1_5-sha256"`` unless --no-alg), a ``Content-Digest: sha-256=:…:``.
          Prints the headers to add as one JSON object.
  verify  Verify a captured request (method, URL, headers as JSON, body) with a public
          key PEM. Prints {"verified": …} and exits 0 only when it verifies.
  serve   An HTTP inbox that accepts only RFC 9421: it verifies each POST with the
          library (the key is fetched from the keyid URL, as a fediverse server does,
          unless given with --key) and answers 202, or 401 to draft-cavage, unsigned
          or badly signed requests. Prints {"listening": PORT} first, then one JSON line
          per request (to --log instead, when given).

Run it with the virtualenv made by ``federation-tests/rfc9421/setup``.
"""

import argparse
import datetime
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.digests import ContentDigest

LABEL = "sig1"
MASTODON_COMPONENTS = ("@method", "@target-uri", "content-digest")
# What Mastodon signs, and requires signed, on a GET.
GET_COMPONENTS = ("@method", "@target-uri")
# The window Palabre documents: one hour back (the library's own default is a day).
MAX_AGE = datetime.timedelta(hours=1)
LIBRARY = f"http-message-signatures {version('http-message-signatures')}"


class Message:
    """The request view the library reads: method, absolute URL and header field lines."""

    def __init__(self, method, url, headers):
        self.method = method
        self.url = url
        self.headers = headers


class FieldLines:
    """Read-only header fields that keep repeated lines, for verification."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self):
        return list(self._pairs)

    def __iter__(self):
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name):
        return any(field.lower() == name.lower() for field, _ in self._pairs)


class StaticKeys(HTTPSignatureKeyResolver):
    def __init__(self, public=None, private=None):
        self.public = public or {}
        self.private = private or {}

    def resolve_public_key(self, key_id):
        return self.public.get(key_id)

    def resolve_private_key(self, key_id):
        return self.private[key_id]


class FetchedKeys(HTTPSignatureKeyResolver):
    """Resolves a keyid as fediverse servers do: GET the actor (the keyid without its
    fragment) as ActivityStreams JSON and take its publicKey whose id is the keyid."""

    def __init__(self, preset):
        self.preset = preset
        self.cache = {}
        self.lock = threading.Lock()

    def resolve_public_key(self, key_id):
        if key_id in self.preset:
            return self.preset[key_id]
        with self.lock:
            if key_id in self.cache:
                return self.cache[key_id]
        url = key_id.split("#", 1)[0]
        request = urllib.request.Request(url, headers={"Accept": "application/activity+json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            document = json.load(response)
        keys = document.get("publicKey")
        keys = keys if isinstance(keys, list) else [keys]
        for key in keys:
            if isinstance(key, dict) and key.get("id") == key_id and key.get("publicKeyPem"):
                pem = key["publicKeyPem"].encode()
                with self.lock:
                    self.cache[key_id] = pem
                return pem
        return None

    def resolve_private_key(self, key_id):
        raise KeyError(key_id)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def cmd_sign(args):
    body = read_bytes(args.body_file) if args.body_file else args.body.encode()
    key = read_bytes(args.key_file)
    headers = {"Content-Type": args.content_type} if args.content_type else {}
    message = Message(args.method, args.url, headers)
    components = tuple(c for c in args.components.split(",") if c)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=StaticKeys(private={args.keyid: key}),
    )
    created = None
    if args.created is not None:
        created = datetime.datetime.fromtimestamp(args.created, tz=datetime.timezone.utc)
    if "content-digest" in components:
        # The library adds Content-Digest (sha-256) and keeps it covered.
        signer.sign(
            message,
            key_id=args.keyid,
            label=LABEL,
            created=created,
            include_alg=not args.no_alg,
            covered_component_ids=components,
            body=body,
        )
    else:
        # A digest is sent but left uncovered: for "what must be signed" checks.
        headers["Content-Digest"] = ContentDigest.create(body)
        signer.sign(
            message,
            key_id=args.keyid,
            label=LABEL,
            created=created,
            include_alg=not args.no_alg,
            covered_component_ids=components,
            use_existing_digest=True,
        )
    print(json.dumps(dict(message.headers)))
    return 0


def verify_message(message, body, key_resolver, components=MASTODON_COMPONENTS):
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=key_resolver
    )
    results = verifier.verify(
        message,
        max_age=MAX_AGE,
        require_components=components,
        body=body,
    )
    result = results[0]
    return {
        "verified": True,
        "label": result.label,
        "keyid": result.parameters.get("keyid"),
        "covered": [c for c in result.covered_components if c != '"@signature-params"'],
        "verified_by": LIBRARY,
    }


def cmd_verify(args):
    with open(args.headers_file) as f:
        headers = json.load(f)
    body = read_bytes(args.body_file) if args.body_file else b""
    message = Message(args.method, args.url, FieldLines(headers.items()))
    keyid = args.keyid
    if keyid is None:
        # Take the keyid the request names: the key given is trusted for it.
        import http_sf

        parsed = http_sf.parse(headers.get("Signature-Input", "").encode(), tltype="dictionary")
        keyid = next(iter(parsed.values()))[1].get("keyid")
    resolver = StaticKeys(public={keyid: read_bytes(args.public_key_file)})
    try:
        outcome = verify_message(message, body, resolver)
    except Exception as err:  # noqa: BLE001 - every failure is a refusal, reported as such
        print(json.dumps({"verified": False, "error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps(outcome))
    return 0


def make_handler(resolver, log, actor_key):
    class Inbox(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def judge(self, entry, body, components, success):
            """The status for this request (`success`, or 401 unless signed in RFC 9421 over
            `components` and verified by the library), noted in `entry`."""
            names = {name.lower() for name in self.headers.keys()}
            if "signature-input" in names:
                entry["scheme"] = "rfc9421"
                url = f"http://{self.headers.get('Host')}{self.path}"
                message = Message(self.command, url, FieldLines(self.headers.items()))
                try:
                    entry.update(verify_message(message, body, resolver, components))
                    entry["status"] = success
                except Exception as err:  # noqa: BLE001 - every failure is a refusal
                    entry.update({"verified": False, "error": f"{type(err).__name__}: {err}"})
                    entry["status"] = 401
            else:
                entry["scheme"] = "cavage" if "signature" in names else "unsigned"
                entry["verified"] = False
                entry["error"] = "this server accepts RFC 9421 signatures only"
                entry["status"] = 401
            return entry["status"]

        def answer(self, status, payload, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            # Accounts /users/NAME, served only to GETs signed in RFC 9421, as a server in
            # "authorized fetch" mode that takes no draft-cavage.
            url = f"http://{self.headers.get('Host')}{self.path}"
            entry = {"method": "GET", "path": self.path}
            if actor_key is None or not self.path.startswith("/users/"):
                entry.update({"status": 404, "error": "no such document"})
                log(entry)
                self.answer(404, json.dumps({"error": entry["error"]}).encode())
                return
            status = self.judge(entry, None, GET_COMPONENTS, 200)
            log(entry)
            if status != 200:
                self.answer(status, json.dumps({"error": entry["error"]}).encode())
                return
            base = f"http://{self.headers.get('Host')}"
            name = self.path[len("/users/"):]
            actor = {
                "@context": [
                    "https://www.w3.org/ns/activitystreams",
                    "https://w3id.org/security/v1",
                ],
                "type": "Person",
                "id": url,
                "preferredUsername": name,
                "inbox": f"{url}/inbox",
                "endpoints": {"sharedInbox": f"{base}/inbox"},
                "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": actor_key},
            }
            self.answer(200, json.dumps(actor).encode(), "application/activity+json")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            entry = {"method": "POST", "path": self.path}
            try:
                entry["activity_id"] = json.loads(body).get("id")
            except (ValueError, AttributeError):
                entry["activity_id"] = None
            status = self.judge(entry, body, MASTODON_COMPONENTS, 202)
            log(entry)
            payload = b"" if status == 202 else json.dumps({"error": entry["error"]}).encode()
            self.answer(status, payload)

    return Inbox


def cmd_serve(args):
    preset = {}
    for spec in args.key or []:
        keyid, path = spec.split("=", 1)
        preset[keyid] = read_bytes(path)
    lock = threading.Lock()

    def log(entry):
        line = json.dumps(entry)
        with lock:
            if args.log:
                with open(args.log, "a") as f:
                    f.write(line + "\n")
                return
            try:
                print(line, flush=True)
            except OSError:
                # Whoever started the server stopped reading its output: keep serving.
                pass

    actor_key = read_bytes(args.actor_key).decode() if args.actor_key else None
    handler = make_handler(FetchedKeys(preset), log, actor_key)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sign = sub.add_parser("sign", help="sign a POST as Mastodon does; print the headers as JSON")
    sign.add_argument("--method", default="POST")
    sign.add_argument("--url", required=True)
    sign.add_argument("--body", default="")
    sign.add_argument("--body-file")
    sign.add_argument("--key-file", required=True, help="private key PEM (PKCS#8 or PKCS#1)")
    sign.add_argument("--keyid", required=True)
    sign.add_argument("--created", type=int, help="Unix time (default: now)")
    sign.add_argument("--no-alg", action="store_true", help='leave out alg="rsa-v1_5-sha256"')
    sign.add_argument("--components", default=",".join(MASTODON_COMPONENTS))
    sign.add_argument("--content-type", default="application/activity+json")
    sign.set_defaults(run=cmd_sign)

    verify = sub.add_parser("verify", help="verify a captured request with a public key")
    verify.add_argument("--method", default="POST")
    verify.add_argument("--url", required=True)
    verify.add_argument("--headers-file", required=True, help="JSON object of header fields")
    verify.add_argument("--body-file")
    verify.add_argument("--public-key-file", required=True)
    verify.add_argument("--keyid", help="trust the key for this keyid (default: the request's)")
    verify.set_defaults(run=cmd_verify)

    serve = sub.add_parser("serve", help="an inbox that accepts RFC 9421 signatures only")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--log", help="append the JSON lines to this file, not to stdout")
    serve.add_argument("--key", action="append", help="KEYID=PEMFILE instead of fetching")
    serve.add_argument(
        "--actor-key",
        help="public key PEM of the accounts at /users/NAME, served to RFC 9421 signed GETs",
    )
    serve.set_defaults(run=cmd_serve)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
