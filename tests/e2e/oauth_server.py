"""An OAuth 2.1 authorization server on loopback for the connected-accounts tests, built on
Authlib's Flask integration (authlib.integrations.flask_oauth2) and served by werkzeug on a thread
of the test process, port 0.

Unlike oidc-provider-mock it enforces what the gateway's connect flow relies on:
- PKCE: authlib's CodeChallenge extension, required, S256 only (a token request without the right
  `code_verifier` is invalid_grant).
- A confidential client: the token and revocation endpoints take only client_secret_basic, and
  the secret must match.
- The redirect URI must be the registered one (set once the gateway's address is known).
- Refresh-token rotation: each refresh issues a new refresh token and revokes the one used; a
  revoked or reused refresh token is invalid_grant.
- Revocation (RFC 7009) at /revoke; `revoke_user(sub)` revokes every grant of a user.
- Resource indicators (RFC 8707): the authorization request's `resource` is kept with the code;
  a token request whose `resource` differs is invalid_target; the access token's `aud` is it.

Access tokens are JWTs (RS256, `kid`), with iss, sub, aud, scope, client_id, iat, exp, jti; the
key set is at /jwks. The login page at /authorize is a form: `user` (a subject) and Allow, or Deny
(the provider's error goes back to the client). Test knobs: `lifetime` (seconds an access token
lasts) and `say_expires_in` (whether the token response says `expires_in`). Every token issued is
kept in `issued` with every authorization code (for the tests' "never in a log" checks) and every token request in `requests`.
"""
import base64
import html
import json
import secrets
import threading
import time
import urllib.parse
import warnings

import flask
import jwt
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import WSGIRequestHandler, make_server

from authlib.deprecate import AuthlibDeprecationWarning  # noqa: E402  (it sets an "always" filter when imported)

warnings.simplefilter("ignore", AuthlibDeprecationWarning)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Client(ClientMixin):
    def __init__(self, client_id, secret, scopes):
        self.client_id = client_id
        self.client_secret = secret
        self.redirect_uris = []
        self.scopes = set(scopes)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


class Code:
    def __init__(self, code, client_id, redirect_uri, scope, user, challenge, method, resource):
        self.code, self.client_id, self.redirect_uri, self.scope, self.user = code, client_id, redirect_uri, scope, user
        self.code_challenge, self.code_challenge_method, self.resource = challenge, method, resource
        self.expires = time.time() + 300

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class Grant:
    """A refresh token and what it was issued for."""

    def __init__(self, token, client_id, user, scope, resource):
        self.token, self.client_id, self.user, self.scope, self.resource = token, client_id, user, scope, resource
        self.revoked = False

    def check_client(self, client):
        return client.client_id == self.client_id

    def get_scope(self):
        return self.scope

    def is_revoked(self):
        return self.revoked

    def is_expired(self):
        return False


class OAuthServer:
    def __init__(self, client_id, client_secret, scopes):
        warnings.simplefilter("ignore", AuthlibDeprecationWarning)  # unittest's runner sets its own filters
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k-" + secrets.token_hex(4)
        self.client = Client(client_id, client_secret, scopes)
        self.scopes = list(scopes)
        self.codes = {}
        self.grants = {}  # refresh token -> Grant
        self.issued = []  # every access and refresh token
        self.requests = []  # (grant_type, form without secrets) of each token request
        self.revocations = []
        self.lifetime = 3600
        self.say_expires_in = True
        self.lock = threading.Lock()
        self.app = self._app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler)
        self.issuer = "http://127.0.0.1:%d" % self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()

    def register_redirect(self, uri):
        self.client.redirect_uris.append(uri)

    def revoke_user(self, user):
        with self.lock:
            for grant in self.grants.values():
                if grant.user == user:
                    grant.revoked = True

    def refreshes(self, user=None):
        return [r for r in self.requests if r[0] == "refresh_token" and (user is None or r[2] == user)]

    # --- tokens -------------------------------------------------------------------------------

    def _access_token(self, user, scope, resource):
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user, "aud": resource, "scope": scope, "client_id": self.client.client_id,
                  "iat": now, "exp": now + self.lifetime, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"})

    def jwks(self):
        numbers = self.key.public_key().public_numbers()

        def b64(n):
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n), "e": b64(numbers.e)}]}

    def public_pem(self):
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    # --- the Flask app --------------------------------------------------------------------------

    def _app(self):
        app = flask.Flask("orch-e2e-oauth")
        owner = self

        def generate(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
            resource = flask.g.resource
            token = {"token_type": "Bearer", "access_token": owner._access_token(user, scope, resource), "scope": scope}
            if owner.say_expires_in:
                token["expires_in"] = owner.lifetime
            if include_refresh_token:
                token["refresh_token"] = "rt-" + secrets.token_urlsafe(24)
            return token

        def save_token(token, request):
            with owner.lock:
                owner.issued.append(token["access_token"])
                if "refresh_token" in token:
                    owner.issued.append(token["refresh_token"])
                    owner.grants[token["refresh_token"]] = Grant(token["refresh_token"], request.client.client_id, request.user,
                                                                 token.get("scope", ""), flask.g.resource)

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code, request):
                data = request.payload.data
                owner.issued.append(code)
                owner.codes[code] = Code(code, request.client.client_id, request.payload.redirect_uri, request.payload.scope,
                                         request.user, data.get("code_challenge"), data.get("code_challenge_method"), data.get("resource"))

            def query_authorization_code(self, code, client):
                found = owner.codes.get(code)
                if found and found.client_id == client.client_id and found.expires > time.time():
                    return found
                return None

            def delete_authorization_code(self, authorization_code):
                owner.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token):
                found = owner.grants.get(refresh_token)
                return found if found and not found.revoked else None

            def authenticate_user(self, refresh_token):
                return refresh_token.user

            def revoke_old_credential(self, refresh_token):
                refresh_token.revoked = True

        class Revocation(RevocationEndpoint):
            CLIENT_AUTH_METHODS = ["client_secret_basic"]

            def query_token(self, token_string, token_type_hint):
                return owner.grants.get(token_string)

            def revoke_token(self, token, request):
                token.revoked = True
                owner.revocations.append(token.user)

        server = AuthorizationServer(app, query_client=lambda cid: owner.client if cid == owner.client.client_id else None,
                                     save_token=save_token)
        server.register_token_generator("default", generate)
        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_endpoint(Revocation)
        CodeChallenge.SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

        @app.get("/.well-known/oauth-authorization-server")
        def metadata():
            return flask.jsonify({
                "issuer": owner.issuer, "authorization_endpoint": owner.issuer + "/authorize", "token_endpoint": owner.issuer + "/token",
                "revocation_endpoint": owner.issuer + "/revoke", "jwks_uri": owner.issuer + "/jwks",
                "response_types_supported": ["code"], "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"], "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": owner.scopes,
            })

        @app.get("/jwks")
        def keys():
            return flask.jsonify(owner.jwks())

        @app.get("/authorize")
        def authorize_page():
            try:
                server.get_consent_grant(end_user=None)
            except OAuth2Error as error:
                return flask.jsonify(error=error.error, error_description=error.description), 400
            query = html.escape(flask.request.query_string.decode())
            return ("<!doctype html><title>Sign in</title><form method=post action='/authorize?%s'>"
                    "<label>User <input id=user name=user></label>"
                    "<button id=allow name=action value=allow>Allow</button>"
                    "<button id=deny name=action value=deny>Deny</button></form>" % query)

        @app.post("/authorize")
        def authorize():
            user = flask.request.form.get("user") or None
            if flask.request.form.get("action") == "deny":
                user = None
            flask.g.resource = None
            return server.create_authorization_response(grant_user=user)

        @app.post("/token")
        def token():
            form = flask.request.form
            grant_type = form.get("grant_type")
            resource = form.get("resource")
            kept = None
            user = None
            if grant_type == "authorization_code":
                code = owner.codes.get(form.get("code", ""))
                kept, user = (code.resource, code.user) if code else (None, None)
            elif grant_type == "refresh_token":
                grant = owner.grants.get(form.get("refresh_token", ""))
                kept, user = (grant.resource, grant.user) if grant else (None, None)
            owner.requests.append((grant_type, sorted(k for k in form.keys()), user, resource))
            if resource is not None and kept is not None and resource != kept:
                return flask.jsonify(error="invalid_target", error_description="the resource differs from the grant's"), 400
            flask.g.resource = resource or kept or owner.client.client_id
            return server.create_token_response()

        @app.post("/revoke")
        def revoke():
            return server.create_endpoint_response(Revocation.ENDPOINT_NAME)

        return app


if __name__ == "__main__":
    # A self-check: the whole authorization code flow with PKCE, a refresh with rotation, revocation.
    import hashlib
    import urllib.request

    s = OAuthServer("c1", "sekret", ["tickets:read"])
    s.register_redirect("http://127.0.0.1:9/cb")
    verifier = secrets.token_urlsafe(40)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": "c1", "redirect_uri": "http://127.0.0.1:9/cb", "scope": "tickets:read",
                                    "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", "resource": "http://r.example/mcp"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(s.issuer + "/authorize?" + query, data=b"user=eve&action=allow"))
    except urllib.error.HTTPError as e:
        location = e.headers["Location"]
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
    basic = "Basic " + base64.b64encode(b"c1:sekret").decode()

    def post(path, fields):
        request = urllib.request.Request(s.issuer + path, data=urllib.parse.urlencode(fields).encode(), headers={"Authorization": basic})
        try:
            with opener.open(request) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    status, bad = post("/token", {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb", "code_verifier": "x" * 43})
    assert status == 400 and bad["error"] == "invalid_grant", (status, bad)
    status, tokens = post("/token", {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb", "code_verifier": verifier})
    assert status == 200, tokens
    claims = jwt.decode(tokens["access_token"], s.public_pem(), algorithms=["RS256"], audience="http://r.example/mcp")
    assert claims["sub"] == "eve" and claims["scope"] == "tickets:read", claims
    status, rotated = post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert status == 200 and rotated["refresh_token"] != tokens["refresh_token"], rotated
    status, reused = post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert status == 400 and reused["error"] == "invalid_grant", reused
    status, _ = post("/revoke", {"token": rotated["refresh_token"], "token_type_hint": "refresh_token"})
    assert status == 200
    status, revoked = post("/token", {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert status == 400, revoked
    print("oauth_server self-check passed")
    s.stop()
