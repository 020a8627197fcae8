"""A remote MCP server that takes each user's own OAuth token, for the connected-accounts tests:
FastMCP (mcp 1.x) over Streamable HTTP at /mcp on loopback, with the SDK's bearer middleware and
RFC 9728 protected-resource metadata (`AuthSettings` with a `TokenVerifier`).

The verifier checks each access token as a resource server must: an RS256 signature by a key of
the authorization server's key set ($OAUTH_JWKS_URL), `iss` = $OAUTH_ISSUER, `aud` = this server's
own URL (RFC 8707), not expired, and the `tickets:read` scope. A request without a good token is
answered 401 with `WWW-Authenticate` naming the metadata, by the SDK.

Tools: `whoami` answers the token's subject (who the call runs as); `shout` upper-cases text.
Every verified token's subject and `jti`, and each refused token's reason, are appended as JSON
lines to $UPSTREAM_RECORD. Prints `oauth upstream listening on 127.0.0.1:PORT` when it accepts
connections.
"""
import asyncio
import json
import os
import socket
import threading
import urllib.request

import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import FastMCP

ISSUER = os.environ["OAUTH_ISSUER"]
RECORD = os.environ["UPSTREAM_RECORD"]
SCOPE = "tickets:read"
_lock = threading.Lock()


def record(entry):
    with _lock, open(RECORD, "a") as f:
        f.write(json.dumps(entry) + "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
URL = "http://127.0.0.1:%d/mcp" % PORT
JWKS = jwt.PyJWKClient(os.environ["OAUTH_JWKS_URL"], cache_keys=True)


class Verifier(TokenVerifier):
    async def verify_token(self, token):
        try:
            key = JWKS.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=URL, issuer=ISSUER,
                                options={"require": ["exp", "sub", "aud", "iss"]})
        except jwt.PyJWTError as error:
            record({"kind": "refused", "reason": type(error).__name__})
            return None
        scopes = (claims.get("scope") or "").split()
        if SCOPE not in scopes:
            record({"kind": "refused", "reason": "scope"})
            return None
        record({"kind": "verified", "sub": claims["sub"], "jti": claims.get("jti")})
        return AccessToken(token=token, client_id=claims.get("client_id", ""), scopes=scopes, expires_at=claims["exp"],
                           resource=URL, subject=claims["sub"])


mcp = FastMCP("e2e-oauth-upstream", host="127.0.0.1", port=PORT, token_verifier=Verifier(),
              auth=AuthSettings(issuer_url=ISSUER, resource_server_url=URL, required_scopes=[SCOPE]))


@mcp.tool()
def whoami() -> str:
    """The user this call runs as, as the token says."""
    return get_access_token().subject


@mcp.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper() + "!"


async def main():
    config = uvicorn.Config(mcp.streamable_http_app(), host="127.0.0.1", port=PORT, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    print("oauth upstream listening on 127.0.0.1:%d" % PORT, flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
