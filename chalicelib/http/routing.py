"""A route's one declaration: who may call it, the parameters it takes, what it answers.

``Router.route`` registers a view with Chalice and enforces the declaration before the view runs:
it resolves the caller (an owner's API key, or a link's token in the path), reads the declared form
(unknown parameters are 400) and the declared JSON document, and hands the view one ``Call``. The same
``Operation`` is what /openapi.json publishes, so the document cannot say one thing while the code does another.
"""

import enum
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from chalice import Chalice, Response

from chalicelib.domain import auth
from chalicelib.errors import (
    AmbiguousAuthorization,
    AssetgateError,
    DependencyUnavailable,
    FileInForm,
    InternalError,
    InvalidBody,
    InvalidParameter,
    TokenNotFound,
    TooLarge,
    Unauthorized,
    UnknownParameter,
    UnsupportedMediaType,
    UploadLinkNotFound,
)
from chalicelib.http import forms, middleware
from chalicelib.http.public_url import share_base


class Auth(enum.Enum):
    """Who may call a route."""

    OWNER = 'owner'  # Authorization: Bearer <api key>; the view gets the key's owner
    SHARE_LINK = 'share link'  # anyone holding the share token in {token}
    UPLOAD_LINK = 'upload link'  # anyone holding the upload link's token in {token}
    PUBLIC = 'public'  # anyone


OWNER, SHARE_LINK, UPLOAD_LINK, PUBLIC = Auth.OWNER, Auth.SHARE_LINK, Auth.UPLOAD_LINK, Auth.PUBLIC

# What resolving each kind of caller can refuse, besides the route's own errors.
_AUTH_ERRORS = {
    OWNER: (Unauthorized, AmbiguousAuthorization),
    SHARE_LINK: (TokenNotFound,),
    UPLOAD_LINK: (UploadLinkNotFound,),
    PUBLIC: (),
}
# How a link's token is read from the path (a malformed one is the link's 404).
_LINK_TOKEN = {SHARE_LINK: forms.token, UPLOAD_LINK: forms.link_token}
# Reading any form or body can refuse these; every route can fail with the last two.
FORM_ERRORS = (
    InvalidParameter,
    TooLarge,
    UnknownParameter,
    InvalidBody,
    FileInForm,
)
BODY_ERRORS = (UnsupportedMediaType,)
FAULTS = (InternalError, DependencyUnavailable)


class Operation(NamedTuple):
    """One route and method, as app.py declares it."""

    path: str
    method: str
    name: str
    summary: str
    auth: Auth
    form: type = forms.NoParams
    answer: int = 200
    body: bool = True  # parameters may also come in the body
    errors: tuple = ()  # the error classes the view itself may raise
    media: str = 'application/json'  # of the success answer
    document: type | None = None  # a JSON document of its own instead of parameters (forms.PartsDocument)
    error_media: str = 'application/json'  # of its error answers (an HTML page answers errors as pages)
    gives: tuple = ()  # path parameters its success answer fills for other operations (openapi.NEW_ASSET, ...)
    also: tuple = ()  # (status, OpenAPI response) of another success answer a parameter selects (openapi.CHECKED)

    def refusals(self) -> tuple[type[AssetgateError], ...]:
        """Every error class this operation can answer with, derived from its declaration."""
        found = [*_AUTH_ERRORS[self.auth], *self.errors, *FAULTS]
        if self.form is not forms.LinkQuery:
            found += FORM_ERRORS
        if self.body and self.method in ('POST', 'PUT'):
            found += BODY_ERRORS
        return tuple(dict.fromkeys(found))


# Every body-taking route accepts any media type, so Chalice's own 415 never answers;
# the forms decide what they can read and answer 415 in assetgate's shape.
ANY_BODY = ['*/*']


def authorization(request) -> str | None:
    """The request's one Authorization header. Several are ambiguous (API Gateway would pass the last,
    chalice local the first), so they are refused rather than one picked."""
    sent = (request.to_original_event().get('multiValueHeaders') or {}).items()
    if any(name.lower() == 'authorization' and len(values or ()) > 1 for name, values in sent):
        raise AmbiguousAuthorization()
    return request.headers.get('authorization')


class Call(NamedTuple):
    """What a view gets: the request, and what its declaration resolved before it ran."""

    request: Any
    owner: str | None  # OWNER routes: the API key's owner
    link: str | None  # SHARE_LINK and UPLOAD_LINK routes: the token from the path, well-formed
    form: Any  # the declared form, filled and type-checked
    document: Any  # the declared JSON document, read and checked

    @property
    def base(self) -> str:
        """This API's public base URL (never from the client's Host or X-Forwarded-*)."""
        return share_base(self.request)


class Router:
    """Declares routes on a Chalice app and keeps their Operations for /openapi.json."""

    def __init__(self, app: Chalice):
        self.app = app
        self.operations: dict[tuple[str, str], Operation] = {}

    def route(
        self,
        path: str,
        method: str,
        summary: str,
        *,
        auth: Auth,
        on_error: Callable[[Any, AssetgateError], Response] | None = None,
        **declared,
    ):
        """app.route for one method, taking any body type. ``on_error`` renders a refusal where the answer
        cannot be JSON (a HEAD has no body, a page answers with a page); elsewhere errors reach the middleware."""

        def register(view):
            op = Operation(path, method, view.__name__, summary, auth, **declared)
            self.operations[path, method] = op

            @functools.wraps(view)
            def handler(**params):
                request = self.app.current_request
                try:
                    call = _resolve(op, request, params)
                    return view(call, **params)
                except AssetgateError as err:
                    if on_error is None:
                        raise
                    return on_error(request, err)

            return self.app.route(path, methods=[method], content_types=ANY_BODY)(middleware.answers_errors(handler))

        return register


def _resolve(op: Operation, request, params: dict) -> Call:
    owner = link = None
    if op.auth is OWNER:
        owner = auth.owner_of(authorization(request))
    elif op.auth in _LINK_TOKEN:
        link = _LINK_TOKEN[op.auth](params.pop('token'))
    form = forms.read(op.form, request, op.body and op.document is None)
    document = op.document.read(request) if op.document is not None else None
    return Call(request, owner, link, form, document)
