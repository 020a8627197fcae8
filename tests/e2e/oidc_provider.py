"""A real OpenID Connect provider on loopback for the end-to-end tests, and tokens from it.

It is oidc-provider-mock (PyPI `oidc-provider-mock`, a Flask app on authlib), served by werkzeug on
127.0.0.1, port 0, on a thread of the test process. Every good token comes out of its HTTP
endpoints: dynamic registration, the authorization form (posted as a browser would), the token
endpoint. Only the deliberately bad tokens of the `forge_*` methods are made here.

Install (Python 3.11 venvs; 0.4.x needs Python >= 3.12):  pip install 'oidc-provider-mock==0.3.4'
It brings authlib, joserfc, flask, werkzeug. The self-test below also uses PyJWT and, when it
imports, the MCP SDK's OAuth client, 1.x or 2.x (both already in .venv-mcp1 and .venv-mcp2).

What the package serves as it is (oidc_provider_mock/_app.py):
  GET  /.well-known/openid-configuration   discovery; `issuer` is the request's host URL
  GET  /jwks                               its key set (replaced here, see 2.)
  POST /oauth2/clients                     RFC 7591 registration: redirect_uris, scope,
                                           token_endpoint_auth_method (basic, post or none)
  GET  /oauth2/authorize                   the form; POST it with `sub=<subject>` to authorize,
                                           or `action=deny` to refuse: 302 to redirect_uri?code&state
  POST /oauth2/token                       authorization_code and refresh_token grants
  PUT  /users/<sub>                        JSON object: the user's claims (replaces them all)
There is no /.well-known/oauth-authorization-server (404: the MCP SDK then tries
/.well-known/openid-configuration); `OIDCProvider(oauth_metadata=True)` adds it.

What this module adds, and how:
1. JWT access tokens. The package's are opaque (authlib's default BearerTokenGenerator, made by
   AuthorizationServer.init_app from the Flask config). The authorization server's "default"
   token generator is replaced, through authlib's `register_token_generator`, by a subclass of
   authlib's RFC 9068 JWTBearerTokenGenerator (authlib/oauth2/rfc9068/token.py): RS256, header
   `kid` of the provider's signing key, `iss` the issuer, `aud` the RFC 8707 `resource` of the
   token request, else of the authorization request, else the client_id (authlib leaves resource
   as a TODO, rfc9068/token.py:157-173), `scope`, `sub`, `client_id`, `iat`, `exp`, `jti`, and
   the user's claims (those set by PUT /users/<sub>: email, email_verified, ...; by default the
   package gives a new subject {"email": sub}). The header `typ` is "at+jwt" (RFC 9068).
   The server object and the package's Storage are read once from `flask.g`, where the
   package's before_request hook puts them (_app.py:221-225).
2. Keys. The provider starts with the package's own key (Storage.jwk, _storage.py:192). The
   package publishes only that one key (_app.py:405-409), so its /jwks view is replaced
   (app.view_functions) by one publishing this module's key ring; `rotate_key()` adds a key,
   signs with it from then on (access tokens and, through Storage.jwk, ID tokens).
3. PKCE. The package registers no authlib CodeChallenge extension (_app.py:281-289) and its
   AuthorizationCode keeps no challenge (_storage.py:109-134): `code_challenge` is accepted and
   ignored. Flask hooks enforce it here: when the authorization POST redirects with a code, the
   code's challenge (and resource) are noted; the token request for that code must then carry a
   matching `code_verifier` (S256 or plain), else 400 invalid_grant. Discovery then advertises
   code_challenge_methods_supported (and token_endpoint_auth_methods_supported, see below).
4. The one patch: Client.get_allowed_scope (_storage.py:61-67). It keeps only the scopes of the
   client's registration, or for an unregistered client the five OIDC ones (so "mcp" is dropped),
   and it fails with TypeError (a 500) on an authorization request without `scope`, which
   authlib (1.9) passes to it as None (authlib/oauth2/rfc6749/grants/authorization_code.py:382).
   Here it grants the scope requested, "" when none.
5. Test knobs: `access_token_lifetime` (seconds, read at each token request; negative: tokens
   already expired) and, per token request, the form field `test_expires_in`.

Not supported by the package (left as is): the token endpoint takes no public client
(token_endpoint_auth_method "none" registers, but authlib's AuthorizationCodeGrant accepts only
client_secret_basic and client_secret_post, authlib/oauth2/rfc6749/grants/authorization_code.py:57):
leave the SDK's `token_endpoint_auth_method` unset (the registration then gives
client_secret_basic and a secret). No client_credentials grant; no token introspection. The
package's ID tokens name no `kid` (_app.py:106-115); they are signed by the current key all the
same. Its logger prints a line for each refused token request ("token endpoint error ...").
"""
import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

from authlib.deprecate import AuthlibDeprecationWarning  # it sets an "always" filter when imported

with warnings.catch_warnings():
    # The package imports authlib.jose and authlib's httpx client, both deprecated by authlib.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    import flask
    import oidc_provider_mock
    import werkzeug.serving
    from authlib import jose as authlib_jose
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
    from joserfc import jwt as joserfc_jwt
    from joserfc.jwk import KeySet, RSAKey, import_key
    from oidc_provider_mock import _storage

BLUEPRINT = "oidc-provider-mock"
AUTHORIZE, TOKEN, JWKS, DISCOVERY = (
    BLUEPRINT + "." + name for name in ("authorize", "issue_token", "jwks", "openid_config"))
RFC8414 = BLUEPRINT + ".oauth_authorization_server"  # in the blueprint: the view's url_for(".x") resolve
# Claims the token's own fields decide; a user's claims of these names are not copied in.
RESERVED_CLAIMS = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "typ"}
CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the redirect is read, not followed


def _grant_requested_scope(client, scope):
    """Replaces Client.get_allowed_scope (see the module's docstring, 4.)."""
    if scope is None:
        return ""
    return scope if isinstance(scope, str) else " ".join(scope)


_storage.Client.get_allowed_scope = _grant_requested_scope


# --- HTTP, the stdlib way, redirects not followed ----------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method, url, form=None, json_body=None, headers=None, timeout=10):
    """(status, headers, body text) of one request; a redirect is returned, not followed."""
    data, all_headers = None, dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form, doseq=True).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def http_json(method, url, **kwargs):
    """(status, parsed JSON body or None)."""
    status, _, body = http(method, url, **kwargs)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def _origin(url):
    parsed = urllib.parse.urlsplit(url)
    return "%s://%s" % (parsed.scheme, parsed.netloc)


# --- The browser ----------------------------------------------------------------------------------

def set_user(issuer, sub, email=None, email_verified=None, claims=None):
    """PUT {issuer}/users/{sub}: the user's claims from then on (replacing any earlier ones)."""
    body = dict(claims or {})
    if email is not None:
        body["email"] = email
    if email_verified is not None:
        body["email_verified"] = email_verified
    status, _, text = http("PUT", "%s/users/%s" % (issuer, urllib.parse.quote(sub, safe="")), json_body=body)
    if status != 204:
        raise AssertionError("PUT /users/%s: %s %s" % (sub, status, text))


def submit_authorization(url, form):
    """Opens the authorization page at `url` (GET: it must be 200) and posts `form` to it, as a
    browser does; returns the query of the redirect as a dict (code and state, or error)."""
    status, _, page = http("GET", url)
    if status != 200:
        raise AssertionError("authorization page: %s %s" % (status, page[:500]))
    status, headers, page = http("POST", url, form=form)
    location = headers.get("Location")
    if status not in (302, 303) or not location:
        raise AssertionError("authorization POST: %s %s" % (status, page[:500]))
    return {name: values[0] for name, values in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items()}


def authorize_in_browser(url, sub, email=None, email_verified=None, claims=None):
    """Completes the authorization request `url` as user `sub`: (code, state). With any of
    email/email_verified/claims, first sets the user's claims (PUT /users/{sub})."""
    if email is not None or email_verified is not None or claims:
        set_user(_origin(url), sub, email, email_verified, claims)
    query = submit_authorization(url, {"sub": sub})
    if "code" not in query:
        raise AssertionError("authorization refused: %r" % query)
    return query["code"], query.get("state")


def deny_in_browser(url):
    """Refuses the authorization request `url` (the form's Deny): the redirect's query, whose
    `error` is access_denied."""
    return submit_authorization(url, {"action": "deny"})


class SDKBrowser:
    """The MCP SDK's `redirect_handler` and `callback_handler` for OAuthClientProvider: the first
    completes the authorization as `sub` (blocking briefly: the provider runs on its own thread),
    the second hands back the code and state: a (code, state) tuple for mcp 1.x, an
    AuthorizationCodeResult for mcp 2.x. `urls` keeps every authorization URL seen."""

    def __init__(self, sub, email=None, email_verified=None, claims=None):
        self.sub, self.email, self.email_verified, self.claims = sub, email, email_verified, claims
        self.urls = []
        self._result = None

    async def redirect_handler(self, url):
        self.urls.append(url)
        self._result = authorize_in_browser(url, self.sub, self.email, self.email_verified, self.claims)

    async def callback_handler(self):
        result, self._result = self._result, None
        if result is None:
            raise AssertionError("callback_handler called before redirect_handler")
        try:
            from mcp.shared.auth import AuthorizationCodeResult  # mcp 2.x
        except ImportError:
            return result
        return AuthorizationCodeResult(code=result[0], state=result[1])


# --- Forging ------------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value):
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_header(token):
    """A JWT's header, not verified."""
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def unverified_claims(token):
    """A JWT's claims, not verified: the starting point of a forged token."""
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def forge_unsigned(claims, alg="none", kid=None):
    """An unsecured JWT (`alg` none, or a spelling of it such as "None"): empty signature."""
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    return "%s.%s." % (_b64url_json(header), _b64url_json(claims))


def forge_hs256(claims, secret, kid=None):
    """An HS256 JWT with `secret` (bytes) as the HMAC key; PyJWT refuses a PEM as an HMAC key,
    hence by hand."""
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = "%s.%s" % (_b64url_json(header), _b64url_json(claims))
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return "%s.%s" % (signing_input, b64url(signature))


def forge_rs256(claims, key, kid=None, typ="JWT"):
    """An RS256 JWT signed by `key` (a joserfc RSAKey), with header `kid` (default: the key's)."""
    key.ensure_kid()
    header = {"alg": "RS256", "typ": typ, "kid": kid or key.kid}
    return joserfc_jwt.encode(header, claims, key)


def new_rsa_key():
    """A fresh 2048-bit RSA key (joserfc) with its thumbprint as `kid`."""
    key = RSAKey.generate_key(2048)
    key.ensure_kid()
    return key


# --- The provider -----------------------------------------------------------------------------

@dataclasses.dataclass
class _PendingGrant:
    """What the token endpoint must know of an authorization code (or refresh token) that the
    package does not keep: the PKCE challenge and the RFC 8707 resources."""
    resources: list
    code_challenge: str = None
    code_challenge_method: str = "plain"

    def verifies(self, verifier):
        if not self.code_challenge:
            return True
        if not verifier:
            return False
        if self.code_challenge_method == "S256":
            expected = b64url(hashlib.sha256(verifier.encode()).digest())
        elif self.code_challenge_method == "plain":
            expected = verifier
        else:
            return False
        return hmac.compare_digest(expected, self.code_challenge)


class _Subject:
    """The package's User as authlib's token generator wants it (get_user_id)."""

    def __init__(self, user):
        self.sub, self.claims = user.sub, user.claims

    def get_user_id(self):
        return self.sub


class _AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 JWT access tokens, signed by the provider's current key (module docstring, 1.)."""

    def __init__(self, provider, issue_refresh_token):
        refresh = (lambda **_: generate_token(48)) if issue_refresh_token else None
        super().__init__(issuer=provider.issuer, alg="RS256", refresh_token_generator=refresh,
                         expires_generator=provider._expires_in)
        self.provider = provider

    def access_token_generator(self, client, grant_type, user, scope):
        return super().access_token_generator(client, grant_type, _Subject(user) if user else None, scope)

    def get_jwks(self):
        return KeySet([self.provider.signing_key])  # a key set, so that the header names its kid

    def get_audiences(self, client, user, scope):
        resources = flask.g.get("e2e_resources") or []
        if not resources:
            return client.get_client_id()
        return resources[0] if len(resources) == 1 else list(resources)

    def get_extra_claims(self, client, grant_type, user, scope):
        claims = user.claims if user else {}
        return {name: value for name, value in claims.items() if name not in RESERVED_CLAIMS}


class OIDCProvider:
    """oidc-provider-mock on http://127.0.0.1:PORT (port 0), on a thread, made to issue JWT access
    tokens (see the module's docstring). A context manager; `start()`/`stop()` otherwise.

    access_token_lifetime: seconds; negative gives tokens already expired (0 is not allowed: the
    package then fails for want of expires_in). Can be changed live.
    oauth_metadata: also serve the discovery document at /.well-known/oauth-authorization-server.
    require_client_registration: refuse client_ids that were not registered (the package's
    default takes any client_id and secret)."""

    def __init__(self, access_token_lifetime=3600, issue_refresh_token=True, oauth_metadata=False,
                 require_client_registration=False):
        self.access_token_lifetime = access_token_lifetime
        self.requests = []  # (method, path, status) of every request served, in order
        self._lock = threading.Lock()
        self._pending = {}  # code or refresh token -> _PendingGrant
        self._client = None
        self.app = oidc_provider_mock.app(require_client_registration=require_client_registration,
                                          issue_refresh_token=issue_refresh_token)
        self._storage, server = self._package_state()
        first = import_key(self._storage.jwk.as_dict(is_private=True))
        self.signing_key, self.published_keys = first, [first]
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self.app, threaded=True,
                                                    request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.issuer = "http://127.0.0.1:%d" % self.port
        server.register_token_generator("default", _AccessTokenGenerator(self, issue_refresh_token))
        self._install_hooks(oauth_metadata)
        self._thread = None

    # -- setup

    def _package_state(self):
        """The package's Storage and authlib AuthorizationServer of this app, which its
        before_request hook puts in flask.g (_app.py:221-225)."""
        with self.app.test_request_context("/"):
            self.app.preprocess_request()
            return flask.g.oidc_provider_mock_storage, flask.g._authlib_authorization_server

    def _install_hooks(self, oauth_metadata):
        self.app.view_functions[JWKS] = self._jwks_view
        if oauth_metadata:
            self.app.add_url_rule("/.well-known/oauth-authorization-server", RFC8414,
                                  self.app.view_functions[DISCOVERY])
        self.app.before_request(self._before_request)
        self.app.after_request(self._after_request)

    def _jwks_view(self):
        with self._lock:
            keys = list(self.published_keys)
        return flask.jsonify({"keys": [dict(key.as_dict(private=False), alg="RS256", use="sig") for key in keys]})

    def _before_request(self):
        """At the token endpoint: the grant's resources for `aud`, and the PKCE check."""
        if flask.request.endpoint != TOKEN:
            return None
        form = flask.request.form
        pending = self._pending_for(form)
        flask.g.e2e_resources = form.getlist("resource") or (pending.resources if pending else [])
        if form.get("grant_type") == "authorization_code" and pending and not pending.verifies(form.get("code_verifier")):
            return flask.jsonify({"error": "invalid_grant", "error_description": "PKCE verification failed"}), 400
        return None

    def _pending_for(self, form):
        key = form.get("code") if form.get("grant_type") == "authorization_code" else form.get("refresh_token")
        with self._lock:
            return self._pending.get(key or "")

    def _after_request(self, response):
        request = flask.request
        self.requests.append((request.method, request.path, response.status_code))
        if request.endpoint == AUTHORIZE and request.method == "POST" and response.status_code in (302, 303):
            self._note_code(response.location or "")
        elif request.endpoint == TOKEN and response.status_code == 200:
            self._note_tokens(request.form, response.get_json(silent=True) or {})
        elif request.endpoint in (DISCOVERY, RFC8414) and response.status_code == 200:
            self._extend_metadata(response)
        return response

    def _note_code(self, location):
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
        if not code:
            return
        values = flask.request.values
        pending = _PendingGrant(values.getlist("resource"), values.get("code_challenge"),
                                values.get("code_challenge_method", "plain"))
        with self._lock:
            self._pending[code[0]] = pending

    def _note_tokens(self, form, body):
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                self._pending.pop(form.get("code", ""), None)
            if body.get("refresh_token"):
                self._pending[body["refresh_token"]] = _PendingGrant(list(flask.g.get("e2e_resources") or []))

    @staticmethod
    def _extend_metadata(response):
        metadata = response.get_json()
        metadata["code_challenge_methods_supported"] = ["S256", "plain"]
        metadata["token_endpoint_auth_methods_supported"] = ["client_secret_basic", "client_secret_post"]
        response.set_data(json.dumps(metadata))

    def _expires_in(self, client, grant_type):
        override = flask.request.form.get("test_expires_in")
        return int(override) if override else int(self.access_token_lifetime)

    # -- start and stop

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- addresses

    @property
    def discovery_url(self):
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def jwks_url(self):
        return self.issuer + "/jwks"

    @property
    def authorization_endpoint(self):
        return self.issuer + "/oauth2/authorize"

    @property
    def token_endpoint(self):
        return self.issuer + "/oauth2/token"

    @property
    def registration_endpoint(self):
        return self.issuer + "/oauth2/clients"

    def count(self, path, method="GET"):
        """How many requests for `path` the provider has served (e.g. "/jwks")."""
        return sum(1 for m, p, _ in list(self.requests) if m == method and p == path)

    # -- clients, users, tokens through the endpoints

    def register_client(self, redirect_uris=(CALLBACK,), scope=None, auth_method=None, **metadata):
        """POST /oauth2/clients (RFC 7591): the registration response (client_id, client_secret,
        token_endpoint_auth_method, ...)."""
        body = dict(metadata, redirect_uris=list(redirect_uris))
        if scope is not None:
            body["scope"] = scope
        if auth_method is not None:
            body["token_endpoint_auth_method"] = auth_method
        status, client = http_json("POST", self.registration_endpoint, json_body=body)
        if status != 201:
            raise AssertionError("registration: %s %r" % (status, client))
        return client

    def client(self):
        """This helper's own registered client (registered on first use)."""
        if self._client is None:
            self._client = self.register_client()
        return self._client

    def set_user(self, sub, email=None, email_verified=None, claims=None):
        """The user's claims from then on, through PUT /users/{sub}."""
        set_user(self.issuer, sub, email, email_verified, claims)

    def authorization_url(self, client, state, code_challenge=None, scope=None, resource=None,
                          redirect_uri=CALLBACK, method="S256"):
        """The authorization request a client sends the browser to."""
        query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect_uri, "state": state}
        if code_challenge:
            query.update(code_challenge=code_challenge, code_challenge_method=method)
        if scope is not None:
            query["scope"] = scope
        if resource is not None:
            query["resource"] = resource
        return self.authorization_endpoint + "?" + urllib.parse.urlencode(query, doseq=True)

    def exchange_code(self, client, code, code_verifier=None, resource=None, expires_in=None, redirect_uri=CALLBACK):
        """POST /oauth2/token for `code` (client_secret_basic): (status, JSON body)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._token_request(client, form, code_verifier=code_verifier, resource=resource, test_expires_in=expires_in)

    def refresh(self, client, refresh_token, resource=None, expires_in=None):
        """POST /oauth2/token with the refresh_token grant: (status, JSON body)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token_request(client, form, resource=resource, test_expires_in=expires_in)

    def _token_request(self, client, form, **optional):
        form.update({name: value for name, value in optional.items() if value is not None})
        credentials = base64.b64encode(("%s:%s" % (client["client_id"], client["client_secret"])).encode()).decode()
        return http_json("POST", self.token_endpoint, form=form, headers={"Authorization": "Basic " + credentials})

    def token_response(self, sub, email=None, scope=None, resource=None, email_verified=None, claims=None,
                       expires_in=None):
        """A full authorization code flow with PKCE (S256) through the real endpoints, as user
        `sub`: the token endpoint's JSON (access_token, token_type, expires_in, scope,
        refresh_token, and id_token when `scope` has openid). `resource`: a URL or a list
        (RFC 8707), sent in both requests. `expires_in`: this token's lifetime in seconds
        (negative: already expired). With email/email_verified/claims, the user's claims are set
        first (PUT /users/{sub}, replacing earlier ones); else they stay as they were."""
        client = self.client()
        verifier = secrets.token_urlsafe(48)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(16)
        url = self.authorization_url(client, state, challenge, scope, resource)
        code, returned_state = authorize_in_browser(url, sub, email, email_verified, claims)
        if returned_state != state:
            raise AssertionError("state %r came back as %r" % (state, returned_state))
        status, body = self.exchange_code(client, code, verifier, resource, expires_in)
        if status != 200:
            raise AssertionError("token endpoint: %s %r" % (status, body))
        return body

    def token(self, sub, email=None, scope=None, resource=None, email_verified=None, claims=None, expires_in=None):
        """The access token (an RS256 JWT) of `token_response(...)`."""
        return self.token_response(sub, email, scope, resource, email_verified, claims, expires_in)["access_token"]

    def expired_token(self, sub, email=None, scope=None, resource=None, ago=300, **kwargs):
        """An access token from the endpoints whose `exp` was `ago` seconds ago (default past any
        60 s leeway)."""
        return self.token(sub, email, scope, resource, expires_in=-ago, **kwargs)

    # -- keys and forging

    @property
    def signing_kid(self):
        return self.signing_key.kid

    @property
    def published_kids(self):
        with self._lock:
            return [key.kid for key in self.published_keys]

    def rotate_key(self, publish=True, retire_old=False):
        """Signs with a new key from now on (access and ID tokens): its kid, in the JWKS from now
        on when `publish` (else not at all: tokens nobody can verify), alone there with
        `retire_old`."""
        key = new_rsa_key()
        with self._lock:
            if retire_old:
                self.published_keys = []
            if publish:
                self.published_keys.append(key)
            self.signing_key = key
            self._storage.jwk = authlib_jose.RSAKey.import_key(key.as_dict(private=True))
        return key.kid

    def public_key_pem(self, kid=None):
        """The PEM (SubjectPublicKeyInfo) of the signing key, or of the published key `kid`."""
        key = self.signing_key if kid is None else next(k for k in self.published_keys if k.kid == kid)
        return key.as_pem(private=False)

    def sign(self, claims, kid=None, typ="JWT"):
        """`claims` signed RS256 by the provider's real signing key. For negative tests of claims
        only (no exp, a wrong iss...); good tokens come from `token()`."""
        return forge_rs256(claims, self.signing_key, kid, typ)

    def forge_alg_none(self, claims, alg="none"):
        """`claims` as an unsecured JWT naming the provider's signing kid."""
        return forge_unsigned(claims, alg, self.signing_kid)

    def forge_hs256_confusion(self, claims, pem=None):
        """The algorithm-confusion attack: HS256 with the provider's RSA public key PEM (as above,
        or `pem`) as the HMAC secret, naming the signing kid."""
        return forge_hs256(claims, pem or self.public_key_pem(), self.signing_kid)

    def forge_foreign_key(self, claims, kid=None):
        """`claims` signed RS256 by a fresh key that the provider never published, with `kid`
        (default: that key's thumbprint; either way not in the JWKS)."""
        return forge_rs256(claims, new_rsa_key(), kid)


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    """No access log lines on stderr (see OIDCProvider.requests instead)."""

    def log_request(self, *args, **kwargs):
        pass


# --- Self-test ----------------------------------------------------------------------------------

class _Checks:
    def __init__(self):
        self.passed = 0

    def __call__(self, condition, what):
        if not condition:
            raise AssertionError("FAILED: " + what)
        self.passed += 1
        print("ok  " + what)


def _decode(token, provider, audience):
    """PyJWT verification against the JWKS fetched over HTTP."""
    import jwt
    status, jwks = http_json("GET", provider.jwks_url)
    assert status == 200, status
    kid = unverified_header(token)["kid"]
    key = next(jwt.PyJWK(entry) for entry in jwks["keys"] if entry["kid"] == kid)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=provider.issuer)


def _self_test_discovery(provider, check):
    status, metadata = http_json("GET", provider.discovery_url)
    check(status == 200 and metadata["issuer"] == provider.issuer, "discovery issuer is %s" % provider.issuer)
    check(metadata["jwks_uri"] == provider.jwks_url, "jwks_uri is %s" % provider.jwks_url)
    check(metadata["registration_endpoint"] == provider.registration_endpoint, "registration_endpoint advertised")
    check("S256" in metadata["code_challenge_methods_supported"], "PKCE S256 advertised")
    check(http("GET", provider.issuer + "/.well-known/oauth-authorization-server")[0] == 404,
          "no RFC 8414 document by default (the SDK falls back to openid-configuration)")


def _self_test_token(provider, check):
    resource = "http://127.0.0.1:9000/orgs/acme/mcp"
    response = provider.token_response("alice", "alice@example.com", "mcp", resource, email_verified=True)
    token = response["access_token"]
    header = unverified_header(token)
    check(header["alg"] == "RS256" and header["kid"] == provider.signing_kid,
          "RS256 with the signing kid %s" % header["kid"])
    claims = _decode(token, provider, resource)
    check(claims["iss"] == provider.issuer and claims["aud"] == resource, "iss and aud=resource verify with PyJWT")
    check(claims["sub"] == "alice" and claims["email"] == "alice@example.com" and claims["email_verified"] is True,
          "sub, email, email_verified")
    check(claims["scope"] == "mcp" and response["scope"] == "mcp", "scope mcp (a non-OIDC scope)")
    check(0 < claims["exp"] - time.time() <= 3600, "exp within the lifetime")
    check(response["expires_in"] == 3600 and "refresh_token" in response, "expires_in and a refresh token")
    other = provider.token("bob@example.com", scope="mcp read")
    claims = unverified_claims(other)
    check(claims["aud"] == provider.client()["client_id"], "no resource: aud is the client_id")
    check(claims["email"] == "bob@example.com" and "email_verified" not in claims, "a new subject's claims: email=sub")
    claims = unverified_claims(provider.token("bob@example.com", "bob@example.com", "mcp", email_verified=False))
    check(claims["email_verified"] is False, "email_verified false")
    check(unverified_claims(other)["scope"] == "mcp read", "two scopes, space-separated")
    both = provider.token("alice", scope="mcp", resource=[resource, "http://127.0.0.1:9000"])
    check(unverified_claims(both)["aud"] == [resource, "http://127.0.0.1:9000"], "two resources: aud is a list")
    return response


def _self_test_flow_details(provider, check, first):
    resource = "http://127.0.0.1:9000"
    client = provider.client()
    verifier = secrets.token_urlsafe(48)
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    url = provider.authorization_url(client, "st", challenge, "mcp", resource)
    code, state = authorize_in_browser(url, "carol", email="carol@example.com")
    status, body = provider.exchange_code(client, code, "a-wrong-verifier-" + "x" * 40)
    check(status == 400 and body["error"] == "invalid_grant", "PKCE: a wrong code_verifier is invalid_grant")
    status, body = provider.exchange_code(client, code, verifier)  # no resource in the token request
    check(status == 200, "PKCE: the right code_verifier gets the token")
    check(unverified_claims(body["access_token"])["aud"] == resource,
          "resource sent only to the authorization endpoint still becomes aud")
    status, again = provider.exchange_code(client, code, verifier)
    check(status == 400, "a code is good once")
    check(deny_in_browser(url).get("error") == "access_denied", "the Deny button gives access_denied")
    status, refreshed = provider.refresh(client, first["refresh_token"])
    claims = unverified_claims(refreshed["access_token"])
    check(status == 200 and claims["aud"] == "http://127.0.0.1:9000/orgs/acme/mcp" and claims["sub"] == "alice",
          "refresh: same sub, aud kept from the authorization")


def _self_test_expiry(provider, check):
    import jwt
    token = provider.expired_token("alice", scope="mcp", resource="http://r.example")
    claims = unverified_claims(token)
    check(claims["exp"] < time.time() - 240, "expired_token: exp 300 s ago")
    try:
        _decode(token, provider, "http://r.example")
        check(False, "PyJWT refuses the expired token")
    except jwt.ExpiredSignatureError:
        check(True, "PyJWT refuses the expired token")
    provider.access_token_lifetime = 1
    short = unverified_claims(provider.token("alice", scope="mcp"))
    provider.access_token_lifetime = 3600
    check(short["exp"] - short["iat"] == 1, "access_token_lifetime applies to the next tokens")


def _self_test_forging(provider, check, token):
    import jwt
    claims = unverified_claims(token)
    none = provider.forge_alg_none(claims)
    check(none.endswith(".") and unverified_header(none)["alg"] == "none", "alg none token, empty signature")
    hs = provider.forge_hs256_confusion(claims)
    signing_input, signature = hs.rsplit(".", 1)
    expected = b64url(hmac.new(provider.public_key_pem(), signing_input.encode(), hashlib.sha256).digest())
    check(unverified_header(hs)["alg"] == "HS256" and signature == expected, "HS256 keyed with the public key PEM")
    try:
        _decode(hs, provider, claims["aud"])
        check(False, "PyJWT (RS256 only) refuses the HS256 token")
    except jwt.InvalidTokenError:
        check(True, "PyJWT (RS256 only) refuses the HS256 token")
    foreign = provider.forge_foreign_key(claims)
    check(unverified_header(foreign)["kid"] not in provider.published_kids, "foreign key token: kid not in the JWKS")
    unsigned = {name: value for name, value in claims.items() if name != "exp"}
    check("exp" not in _decode_no_exp(provider.sign(unsigned), provider), "sign(): the real key, claims as given")


def _decode_no_exp(token, provider):
    import jwt
    status, jwks = http_json("GET", provider.jwks_url)
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == unverified_header(token)["kid"])).key
    return jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False, "require": []})


def _self_test_rotation(provider, check):
    import jwt
    old = provider.signing_kid
    fetches = provider.count("/jwks")
    new = provider.rotate_key()
    check(new != old and provider.published_kids == [old, new], "rotate_key: new kid published beside the old")
    response = provider.token_response("alice", scope="openid mcp", resource="http://r.example")
    check(unverified_header(response["access_token"])["kid"] == new, "access tokens now signed with the new kid")
    check(_decode(response["access_token"], provider, "http://r.example")["sub"] == "alice",
          "new token verifies against the fetched JWKS")
    id_token = response["id_token"]  # the package's ID tokens name no kid (_app.py:106-115)
    key = jwt.PyJWK(provider.signing_key.as_dict(private=False)).key
    id_claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=provider.client()["client_id"])
    check("kid" not in unverified_header(id_token) and id_claims["sub"] == "alice", "ID tokens signed with the new key too")
    check(provider.count("/jwks") == fetches + 1, "the request log counts JWKS fetches")
    hidden = provider.rotate_key(publish=False)
    token = provider.token("alice", scope="mcp")
    check(unverified_header(token)["kid"] == hidden and hidden not in provider.published_kids, "rotate_key(publish=False)")
    provider.rotate_key(retire_old=True)
    check(len(provider.published_kids) == 1, "rotate_key(retire_old=True): only the new key published")


def _self_test_sdk(provider, check):
    """The MCP SDK's OAuth client (1.x on httpx, 2.x on httpx2) against a tiny resource server
    that trusts the provider."""
    try:
        import anyio
        from mcp.client.auth import OAuthClientProvider
        from mcp.shared.auth import OAuthClientMetadata
        try:
            import httpx2 as httpx  # mcp 2.x
        except ImportError:
            import httpx
    except ImportError as error:
        print("skip MCP SDK flow (%s)" % error)
        return
    with _ResourceServer(provider) as resource:
        browser = SDKBrowser("dave", email="dave@example.com", email_verified=True)
        auth = OAuthClientProvider(
            server_url=resource.url, storage=MemoryTokens(),
            client_metadata=OAuthClientMetadata(redirect_uris=[CALLBACK], client_name="oidc_provider self-test"),
            redirect_handler=browser.redirect_handler, callback_handler=browser.callback_handler)
        start = len(provider.requests)

        async def call():
            async with httpx.AsyncClient(auth=auth, timeout=10) as client:
                return await client.get(resource.url, headers={"MCP-Protocol-Version": "2025-06-18"})

        response = anyio.run(call)
    check(response.status_code == 200, "MCP SDK OAuthClientProvider: full flow, then 200 from the resource")
    claims = response.json()
    check(claims["aud"] == resource.url and claims["scope"] == "mcp" and claims["email"] == "dave@example.com",
          "SDK token: aud is the resource, scope from PRM, email")
    seen = [request for request in provider.requests[start:] if request[1] != "/jwks"]  # the resource's fetches
    expected = [("GET", "/.well-known/oauth-authorization-server", 404), ("GET", "/.well-known/openid-configuration", 200),
                ("POST", "/oauth2/clients", 201), ("PUT", "/users/dave", 204), ("GET", "/oauth2/authorize", 200),
                ("POST", "/oauth2/authorize", 302), ("POST", "/oauth2/token", 200)]
    check(seen[:len(expected)] == expected, "SDK requests: RFC 8414 (404), OIDC discovery, registration, (claims), authorize, token")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(browser.urls[0]).query)
    check(query["code_challenge_method"] == ["S256"] and query["resource"] == [resource.url], "SDK sent PKCE S256 and resource")


class MemoryTokens:
    """The SDK's TokenStorage, in memory."""

    def __init__(self):
        self.tokens, self.client_info = None, None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class _ResourceServer:
    """A protected resource at /mcp for the SDK self-test: RFC 9728 metadata naming the provider
    and scope mcp; /mcp answers the verified token's claims, or 401 with resource_metadata."""

    def __init__(self, provider):
        self.provider = provider
        self.server = werkzeug.serving.make_server("127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_QuietHandler)
        base = "http://127.0.0.1:%d" % self.server.server_port
        self.url, self.metadata_url = base + "/mcp", base + "/.well-known/oauth-protected-resource/mcp"

    def wsgi(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/.well-known/oauth-protected-resource"):
            return self._json(start_response, "200 OK", {
                "resource": self.url, "authorization_servers": [self.provider.issuer], "scopes_supported": ["mcp"]})
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        try:
            claims = _decode(token, self.provider, self.url)
        except Exception:
            challenge = 'Bearer resource_metadata="%s"' % self.metadata_url
            return self._json(start_response, "401 Unauthorized", {"error": "invalid_token"}, [("WWW-Authenticate", challenge)])
        return self._json(start_response, "200 OK", claims)

    @staticmethod
    def _json(start_response, status, body, headers=()):
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


def _self_test():
    check = _Checks()
    with OIDCProvider() as provider, OIDCProvider(oauth_metadata=True) as other:
        _self_test_discovery(provider, check)
        first = _self_test_token(provider, check)
        _self_test_flow_details(provider, check, first)
        _self_test_expiry(provider, check)
        _self_test_forging(provider, check, first["access_token"])
        _self_test_rotation(provider, check)
        _self_test_sdk(provider, check)
        status, metadata = http_json("GET", other.issuer + "/.well-known/oauth-authorization-server")
        check(status == 200 and metadata["issuer"] == other.issuer, "oauth_metadata=True serves RFC 8414 too")
        check(other.signing_kid not in provider.published_kids, "two providers, two key sets")
    print("oidc_provider self-test: %d checks passed" % check.passed)


if __name__ == "__main__":
    _self_test()
