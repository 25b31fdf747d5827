"""A small OpenID Connect provider that the tests start on a loopback port.

Discovery, authorize (signs in whoever the test chose, at once), token (authorization code
with PKCE, client_secret_post), userinfo and JWKS. id_tokens are RS256-signed JWTs with the
nonce of the authorize request. ``tamper`` makes the next id_token wrong in one way, to check
that the product refuses it.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "test-key-1"


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Person:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Pat Staff"
    amr: list[str] = field(default_factory=lambda: ["pwd"])


class OIDCProvider:
    def __init__(self, client_id: str, client_secret: str):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = _new_key()
        self.other_key = _new_key()  # for signatures that must not verify
        self.person: Person | None = None
        self.tamper: str | None = None  # "aud", "signature", "nonce", "issuer"
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, Person] = {}
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "OIDCProvider":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, person: Person, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": person.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": person.email,
            "email_verified": person.email_verified,
            "amr": person.amr,
        }
        key = self.key
        if self.tamper == "aud":
            claims["aud"] = "someone-else"
        elif self.tamper == "nonce":
            claims["nonce"] = "not-the-nonce-sent"
        elif self.tamper == "issuer":
            claims["iss"] = "http://evil.example"
        elif self.tamper == "signature":
            key = self.other_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"provider": self})


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _Handler(BaseHTTPRequestHandler):
    """One request to the provider (``OIDCProvider._handler`` binds ``provider``)."""

    provider: OIDCProvider

    def log_message(self, *args):
        pass

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        self.provider.requests.append(("GET", url.path))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        answer = {
            "/.well-known/openid-configuration": self._discovery,
            "/jwks": self._jwks,
            "/userinfo": self._userinfo,
            "/authorize": self._authorize,
        }.get(url.path)
        if answer is None:
            return self._json({"error": "not_found"}, 404)
        return answer(query)

    def _discovery(self, query: dict) -> None:
        issuer = self.provider.issuer
        self._json(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    def _jwks(self, query: dict) -> None:
        self._json(self.provider.jwks())

    def _userinfo(self, query: dict) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        person = self.provider.tokens.get(token)
        if person is None:
            return self._json({"error": "invalid_token"}, 401)
        return self._json(
            {
                "sub": person.sub,
                "email": person.email,
                "email_verified": person.email_verified,
                "name": person.name,
            }
        )

    def _authorize(self, query: dict) -> None:
        provider = self.provider
        if query.get("client_id") != provider.client_id or provider.person is None:
            return self._json({"error": "unauthorized_client"}, 400)
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {
            "person": provider.person,
            "nonce": query.get("nonce", ""),
            "redirect_uri": query["redirect_uri"],
            "code_challenge": query.get("code_challenge"),
        }
        target = (
            query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        )
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def do_POST(self):
        url = urlparse(self.path)
        provider = self.provider
        provider.requests.append(("POST", url.path))
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path != "/token":
            return self._json({"error": "not_found"}, 404)
        grant = provider.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("client_id") != provider.client_id
            or form.get("client_secret") != provider.client_secret
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return self._json({"error": "invalid_grant"}, 400)
        if grant["code_challenge"] and (
            _pkce_challenge(form.get("code_verifier", "")) != grant["code_challenge"]
        ):
            return self._json({"error": "invalid_grant"}, 400)
        access_token = secrets.token_urlsafe(16)
        provider.tokens[access_token] = grant["person"]
        return self._json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(grant["person"], grant["nonce"]),
            }
        )


def configured_idp(settings) -> Iterator[OIDCProvider]:
    """Start a provider and configure it as SSO_OIDC_PROVIDERS' `district` (pytest-django's
    ``settings`` fixture undoes the setting afterwards)."""
    from triage.settings import sso_providers

    provider = OIDCProvider(client_id="triage-test", client_secret="test-secret").start()
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers(
        json.dumps(
            [
                {
                    "id": "district",
                    "name": "District sign-in",
                    "server_url": provider.issuer,
                    "client_id": "triage-test",
                    "secret": "test-secret",
                }
            ]
        )
    )
    try:
        yield provider
    finally:
        provider.stop()
