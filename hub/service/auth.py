"""Bearer tokens (HS256 JWT with `sub`, `role`, `district`, `agency`, `exp`) and the principal
they name (docs/domain.md, "Parties and roles")."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import jwt

from hub.domain.envelope import Actor, Role
from hub.domain.reference import DISTRICTS


class Unauthenticated(Exception):
    """The request carries no valid token; nothing it asks for is done."""


def issue_token(
    secret: str,
    role: Role,
    *,
    sub: str,
    district: str | None = None,
    agency: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    claims: dict[str, object] = {
        "sub": sub,
        "role": role.value,
        "exp": int(time.time()) + ttl_seconds,
    }
    if role is Role.DISTRICT:
        if district not in DISTRICTS:
            raise ValueError(
                f"a DISTRICT token needs --district, one of the 38 codes; got {district!r}"
            )
        claims["district"] = district
    if role is Role.CONTRACTOR:
        if not agency:
            raise ValueError("a CONTRACTOR token needs --agency (the agency id)")
        claims["agency"] = agency
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class Credentials:
    actor: Actor
    expires_at: float = field(repr=False)
    token_hash: str = field(repr=False)
    """A hash of the token, to count what one token holds without keeping the token."""


def actor_from_header(secret: str, authorization: str | None) -> Actor:
    """The actor an `Authorization: Bearer <JWT>` header names, or `Unauthenticated`."""
    return credentials(secret, authorization).actor


def credentials(secret: str, authorization: str | None) -> Credentials:
    """The actor and expiry of an `Authorization: Bearer <JWT>` header, or `Unauthenticated`."""
    if not authorization:
        raise Unauthenticated("no token: send `Authorization: Bearer <JWT>` (see `hub token`)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be `Bearer <JWT>`")
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthenticated("the token must be signed with HS256") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("the token's signature does not match") from None
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"the token is not valid: {error}") from None
    try:
        role = Role(claims["role"])
    except ValueError:
        raise Unauthenticated(f"the token's role {claims['role']!r} is unknown") from None
    district = claims.get("district")
    agency = claims.get("agency")
    if role is Role.DISTRICT and district not in DISTRICTS:
        raise Unauthenticated("a DISTRICT token must name one of the city's district codes")
    if role is Role.CONTRACTOR and not agency:
        raise Unauthenticated("a CONTRACTOR token must name its agency")
    actor = Actor(sub=str(claims["sub"]), role=role, district=district, agency=agency)
    return Credentials(actor, float(claims["exp"]), hashlib.sha256(token.encode()).hexdigest())
