"""Error types carrying Microsoft's exact codes and messages.

Graph errors and Entra (AADSTS) errors have different envelopes, so they are two
exception types; the web layer renders each in its own envelope.
"""

from __future__ import annotations

NOT_FOUND = (
    "Resource '{id}' does not exist or one of its queried reference-property objects "
    "are not present."
)
PRIVILEGES = "Insufficient privileges to complete the operation."


class GraphError(Exception):
    """A Graph error response: status, code, message and optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list | None = None,
        headers: dict | None = None,
        inner: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.inner = inner or {}


def bad_request(message: str, details: list | None = None) -> GraphError:
    return GraphError(400, "Request_BadRequest", message, details)


def not_found(object_id: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", NOT_FOUND.format(id=object_id))


def forbidden() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", PRIVILEGES)


def unauthorized(message: str) -> GraphError:
    header = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
        'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
    )
    return GraphError(
        401, "InvalidAuthenticationToken", message, headers={"WWW-Authenticate": header}
    )


def invalid_id(value: str) -> GraphError:
    return bad_request(f"Invalid object identifier '{value}'.")


def unsupported_query(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


class AuthError(Exception):
    """An Entra sign-in error: OAuth `error`, AADSTS number and its description."""

    def __init__(
        self, error: str, aadsts: int, description: str, status: int = 400, suberror: str = ""
    ):
        super().__init__(description)
        self.error = error
        self.aadsts = aadsts
        self.description = description
        self.status = status
        self.suberror = suberror


def tenant_not_found(tenant: str) -> AuthError:
    return AuthError(
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud. Check with your subscription administrator, "
        "this may happen if there are no active subscriptions for the tenant.",
    )


def unknown_client(client_id: str, tenant: str) -> AuthError:
    return AuthError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may "
        "have sent your authentication request to the wrong tenant.",
    )


def wrong_secret(client_id: str) -> AuthError:
    return AuthError(
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app "
        f"'{client_id}'.",
        status=401,
    )


def missing_secret() -> AuthError:
    return AuthError(
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
        status=401,
    )


def redirect_mismatch(redirect_uri: str, client_id: str) -> AuthError:
    return AuthError(
        "invalid_request",
        50011,
        f"The redirect URI '{redirect_uri}' specified in the request does not match the "
        f"redirect URIs configured for the application '{client_id}'. Make sure the redirect "
        "URI sent in the request matches one added to your application in the Azure portal. "
        "Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix "
        "this.",
    )


def invalid_code() -> AuthError:
    return AuthError(
        "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."
    )


def code_redeemed() -> AuthError:
    return AuthError(
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
        "or use an existing refresh token.",
    )


def pkce_mismatch() -> AuthError:
    return AuthError(
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the "
        "authorization request.",
    )


def invalid_refresh_token() -> AuthError:
    return AuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")


def revoked_grant(issued: str, valid_from: str) -> AuthError:
    return AuthError(
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is "
        "needed. The user might have changed or reset their password. The grant was issued "
        f"on '{issued}' and the TokensValidFrom date (before which tokens are not valid) for "
        f"this user is '{valid_from}'.",
    )


def user_disabled() -> AuthError:
    return AuthError("invalid_grant", 50057, "The user account is disabled.")


def user_missing(username: str, tenant: str) -> AuthError:
    return AuthError(
        "invalid_grant",
        50034,
        f"The user account {username} does not exist in the {tenant} directory. To sign into "
        "this application, the account must be added to the directory.",
    )


def bad_password() -> AuthError:
    return AuthError(
        "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
    )


def invalid_scope(scope: str) -> AuthError:
    return AuthError(
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' is not valid. The scope "
        f"{scope} is not valid.",
    )


def unsupported_grant(grant: str) -> AuthError:
    return AuthError(
        "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
    )


def consent_missing(client_id: str, name: str, suberror: str = "") -> AuthError:
    return AuthError(
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID "
        f"'{client_id}' named '{name}'. Send an interactive authorization request for this "
        "user and resource.",
        suberror=suberror,
    )
