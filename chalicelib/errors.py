"""Domain errors. Each carries its HTTP status and stable code; middleware.py renders them once."""

from chalice import ChaliceUnhandledError


class AssetgateError(ChaliceUnhandledError):
    """Base of every error a client may see.

    It derives from ChaliceUnhandledError only because Chalice lets that class through
    to middleware, where ``middleware.render_errors`` turns it into the one JSON error shape.
    """

    status = 400
    code = 'bad_request'
    message = 'The request is not valid.'

    def __init__(self, message: str | None = None, **details):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class InvalidParameter(AssetgateError):
    code = 'invalid_parameter'
    message = 'A parameter is not valid.'


class TooLarge(InvalidParameter):
    code = 'too_large'
    message = 'The declared size is above the configured maximum.'


class UploadIncomplete(AssetgateError):
    status = 409
    code = 'upload_incomplete'
    message = 'The multipart upload does not have every part at its planned size yet.'


class ObjectExists(AssetgateError):
    status = 409
    code = 'object_exists'
    message = (
        "Other bytes already landed at this version's object, and landed bytes are never replaced: "
        'this multipart upload was aborted. Upload a new version instead.'
    )


class UnknownParameter(AssetgateError):
    code = 'unknown_parameter'
    message = 'The request has a parameter this route does not take.'


class InvalidBody(AssetgateError):
    code = 'invalid_body'
    message = 'The request body could not be read.'


class FileInForm(AssetgateError):
    code = 'file_not_accepted'
    message = (
        'File bytes are not sent to assetgate: create the asset without the file, '
        'then PUT the bytes to upload.url with upload.headers.'
    )


class UnsupportedMediaType(AssetgateError):
    status = 415
    code = 'unsupported_media_type'
    message = 'Send parameters as a query string, application/json, a urlencoded form or multipart/form-data.'


class Unauthorized(AssetgateError):
    status = 401
    code = 'unauthorized'
    message = 'Send a valid API key as "Authorization: Bearer <key>".'


class AmbiguousAuthorization(AssetgateError):
    code = 'ambiguous_authorization'
    message = 'Send one Authorization header, not several.'


class AssetNotFound(AssetgateError):
    status = 404
    code = 'asset_not_found'
    message = 'No such asset.'


class TokenNotFound(AssetgateError):
    status = 404
    code = 'token_not_found'
    message = 'No such token.'


class VersionNotFound(AssetgateError):
    status = 404
    code = 'version_not_found'
    message = 'The asset has no such version.'


class Conflict(AssetgateError):
    status = 409
    code = 'conflict'
    message = 'Another request changed this asset at the same time; try again.'


class TooManyLinks(AssetgateError):
    status = 409
    code = 'too_many_links'
    message = 'The asset has as many live links as allowed; revoke one first.'


class UploadPending(AssetgateError):
    status = 409
    code = 'upload_pending'
    message = 'The asset has not finished uploading yet.'


class UploadAborted(AssetgateError):
    status = 410
    code = 'upload_aborted'
    message = "That version's upload was aborted; its bytes will never arrive."


class TokenExpired(AssetgateError):
    status = 410
    code = 'token_expired'
    message = 'This token has expired.'


class TokenRevoked(AssetgateError):
    status = 410
    code = 'token_revoked'
    message = 'This token has been revoked by its owner.'


class TokenUsedUp(AssetgateError):
    status = 410
    code = 'token_used_up'
    message = 'This token has reached its download limit.'


class UploadLinkNotFound(AssetgateError):
    status = 404
    code = 'upload_request_not_found'
    message = 'No such upload link.'


class UploadLinkRefused(AssetgateError):
    """Internal: an upload link's condition refused a file; upload_links explains which 410 it is."""

    status = 410
    code = 'upload_request_used_up'
    message = 'This upload link takes no more files.'


class UploadLinkExpired(AssetgateError):
    status = 410
    code = 'upload_request_expired'
    message = 'This upload link has expired.'


class UploadLinkUsedUp(AssetgateError):
    status = 410
    code = 'upload_request_used_up'
    message = 'This upload link has received all the files it allows.'


class UploadLinkRevoked(AssetgateError):
    status = 410
    code = 'upload_request_revoked'
    message = 'This upload link has been revoked by its owner.'


class ContentTypeRefused(AssetgateError):
    status = 400
    code = 'content_type_not_allowed'
    message = 'This upload link does not take files of that type.'


class DependencyUnavailable(AssetgateError):
    status = 503
    code = 'service_unavailable'
    message = 'A storage service did not answer; nothing was changed. Try again.'


class InternalError(AssetgateError):
    status = 500
    code = 'internal_error'
    message = 'Something went wrong on our side; nothing was changed. Try again.'


class MethodNotAllowed(AssetgateError):
    status = 405
    code = 'method_not_allowed'
    message = 'This route does not take that method.'


class RouteNotFound(AssetgateError):
    status = 404
    code = 'route_not_found'
    message = 'No route matches this method and path.'


class PasswordInQuery(AssetgateError):
    code = 'password_in_query'
    message = 'Send the password in the request body (a form or JSON), never in the URL: URLs end up in logs.'


class PasswordMissing(InvalidParameter):
    code = 'password_missing'
    message = 'This stage requires a password on every new link: send password (8 to 1024 characters) in the body.'


class PasswordRequired(AssetgateError):
    status = 401
    code = 'password_required'
    message = 'This link needs a password: POST it to the same URL in the body (password=...).'


class WrongPassword(AssetgateError):
    status = 401
    code = 'wrong_password'
    message = 'Wrong password.'


class LinkLocked(AssetgateError):
    """Too many wrong passwords: the link takes none for ``retry_after`` seconds (sent as Retry-After)."""

    status = 429
    code = 'link_locked'
    message = 'Too many wrong passwords: this link is locked for a while; try again after Retry-After seconds.'

    def __init__(self, retry_after: int = 1, message: str | None = None):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
