"""The error tree: one class per CloudFront error code.

    ServiceError                      code, HTTP status, fault type, message
    ├── SenderError (Type=Sender)     the client's fault: 4xx
    │   ├── MissingBody, MalformedXML, InvalidArgument, InconsistentQuantities, ...
    │   └── (auth) MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId, ...
    └── ReceiverError (Type=Receiver) ours: ServiceUnavailable, InternalError

The class name is the AWS code verbatim; the wire layer renders any ServiceError as the
CloudFront error envelope, so no other layer knows about XML or status lines.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """Base of every error a client can see."""

    status: ClassVar[int] = 400
    fault: ClassVar[str] = "Sender"
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.access_key_id: str | None = None  # the key the request claimed, for the log
        super().__init__(self.message)

    @property
    def code(self) -> str:
        """The AWS error code: the class name."""
        return type(self).__name__


class SenderError(ServiceError):
    """A fault of the request."""


class ReceiverError(ServiceError):
    """A fault of the service."""

    status = 500
    fault = "Receiver"


# --- request shape -------------------------------------------------------------------------


class MissingBody(SenderError):
    default_message = (
        "This operation requires a body. Ensure that the body is present and the "
        "Content-Type header is set."
    )


class MalformedXML(SenderError):
    default_message = "The XML document you provided was not well-formed or did not validate."


class InvalidArgument(SenderError):
    default_message = "The argument is invalid."


class InconsistentQuantities(SenderError):
    default_message = "The value of Quantity and the size of Items don't match."


class BatchTooLarge(SenderError):
    status = 413
    default_message = "Invalidation batch specified is too large."


class TooManyInvalidationsInProgress(SenderError):
    default_message = (
        "Processing your request will cause you to exceed the maximum number of "
        "in-progress invalidations."
    )


class InvalidationBatchAlreadyExists(SenderError):
    status = 409
    default_message = (
        "The CallerReference you attempted to create the invalidation with is already in use."
    )


class NoSuchDistribution(SenderError):
    status = 404
    default_message = "The specified distribution does not exist."


class NoSuchInvalidation(SenderError):
    status = 404
    default_message = "The specified invalidation does not exist."


class NoSuchResource(SenderError):
    status = 404
    default_message = "The specified resource does not exist."


class MethodNotAllowed(SenderError):
    """`allowed`: the methods the resource does take (HTTP's `Allow` header)."""

    status = 405
    default_message = "The requested method is not allowed for this resource."

    def __init__(self, allowed: tuple[str, ...] = (), message: str | None = None) -> None:
        super().__init__(message)
        self.allowed = allowed


class RequestHeaderSectionTooLarge(SenderError):
    default_message = "Your request header section exceeds the maximum allowed size."


class RequestTimeout(SenderError):
    status = 408
    default_message = "Your request body was not received in time."


class Throttling(SenderError):
    default_message = "Rate exceeded"


# --- distributions (the Distribution API) --------------------------------------------------


class DistributionAlreadyExists(SenderError):
    status = 409
    default_message = (
        "The caller reference you attempted to create the distribution with is associated "
        "with another distribution."
    )


class CNAMEAlreadyExists(SenderError):
    status = 409
    default_message = (
        "One or more of the CNAMEs you provided are already associated with a different resource."
    )


class InvalidIfMatchVersion(SenderError):
    default_message = "The If-Match version is missing or not valid."


class PreconditionFailed(SenderError):
    status = 412
    default_message = "The precondition in one or more of the request fields evaluated to false."


class DistributionNotDisabled(SenderError):
    status = 409
    default_message = "The distribution you are trying to delete has not been disabled."


class InvalidOrigin(SenderError):
    default_message = "The specified origin server does not exist or is not valid."


class NoSuchOrigin(SenderError):
    status = 404
    default_message = "No origin exists with the specified Origin Id."


class IllegalUpdate(SenderError):
    default_message = "The update contains modifications that are not allowed."


class InvalidTTLOrder(SenderError):
    default_message = (
        "MinTTL, MaxTTL and DefaultTTL should follow order MinTTL less than or equal to "
        "DefaultTTL less than or equal to MaxTTL"
    )


class TooManyDistributionCNAMEs(SenderError):
    default_message = "Your request contains more CNAMEs than are allowed per distribution."


class TooManyOriginCustomHeaders(SenderError):
    default_message = "Your request contains too many origin custom headers."


class TooManyOrigins(SenderError):
    default_message = "You cannot create more origins for the distribution."


class TooManyOriginGroupsPerDistribution(SenderError):
    default_message = (
        "Processing your request would cause you to exceed the maximum number of origin "
        "groups allowed."
    )


class TooManyCacheBehaviors(SenderError):
    default_message = "You cannot create more cache behaviors for the distribution."


class TooManyCookieNamesInWhiteList(SenderError):
    default_message = (
        "Your request contains more cookie names in the whitelist than are allowed per cache "
        "behavior."
    )


class TooManyHeadersInForwardedValues(SenderError):
    default_message = "Your request contains too many headers in forwarded values."


class TooManyQueryStringParameters(SenderError):
    default_message = "Your request contains too many query string parameters."


class InvalidErrorCode(SenderError):
    default_message = "An invalid error code was specified."


class InvalidResponseCode(SenderError):
    default_message = "A response code is not valid."


class InvalidRelativePath(SenderError):
    default_message = (
        "The relative path is too big, is not URL-encoded, or does not begin with a slash (/)."
    )


class InvalidOriginReadTimeout(SenderError):
    default_message = "The read timeout specified for the origin is not valid."


class InvalidOriginKeepaliveTimeout(SenderError):
    default_message = "The keep alive timeout specified for the origin is not valid."


class InvalidDefaultRootObject(SenderError):
    default_message = (
        "The default root object file name is too big or contains an invalid character."
    )


class NoSuchContinuousDeploymentPolicy(SenderError):
    status = 404
    default_message = "The continuous deployment policy doesn't exist."


class InvalidTagging(SenderError):
    default_message = "The tagging specified is not valid."


class NoSuchEdge(SenderError):
    status = 404
    default_message = "The specified edge is not registered."


# --- authentication ------------------------------------------------------------------------


class MissingAuthenticationToken(SenderError):
    status = 403
    default_message = "Missing Authentication Token"


class IncompleteSignature(SenderError):
    default_message = "The request signature does not conform to AWS standards."


class InvalidClientTokenId(SenderError):
    status = 403
    default_message = "The security token included in the request is invalid."


class SignatureDoesNotMatch(SenderError):
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    )


class AccessDenied(SenderError):
    status = 403
    default_message = "Access denied."


# --- ours ----------------------------------------------------------------------------------


class ServiceUnavailable(ReceiverError):
    status = 503
    default_message = "CloudFront encountered an internal error. Please try again."


class InternalError(ReceiverError):
    status = 500
    default_message = "CloudFront encountered an internal error. Please try again."
