//! A failed attempt, classified once, where it happens: its [`ErrorKind`]
//! (what the audit and the scheduler act on), its [`RequestOutcome`] (what
//! the metrics count), the server's retry-after hint, and a clipped message.
//! Nothing downstream looks at error strings.

use std::time::Duration;

use aws_sdk_apigatewayv2::config::http::HttpResponse;
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::bounded;
use crate::source::{ErrorKind, RequestOutcome};

/// The longest error message kept from a response: an excerpt, not the body.
const MAX_MESSAGE_BYTES: usize = 1024;

/// An error message clipped to [`MAX_MESSAGE_BYTES`]: an excerpt of what the
/// endpoint said, never the body (sinks escape it where people read it).
fn short(message: String) -> String {
    match routewarden_core::sanitize::clip(&message, MAX_MESSAGE_BYTES) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(clipped) => clipped,
    }
}

/// A failed attempt, classified once.
#[derive(Debug)]
pub(super) struct Classified {
    pub(super) kind: ErrorKind,
    pub(super) outcome: RequestOutcome,
    pub(super) retry_after: Option<Duration>,
    pub(super) message: String,
}

pub(super) fn classify<E>(err: &SdkError<E, HttpResponse>) -> Classified
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let plain = |kind, outcome| Classified {
        kind,
        outcome,
        retry_after: None,
        message: short(DisplayErrorContext(err).to_string()),
    };
    if let Some(too_large) = bounded::too_large(err) {
        return Classified {
            kind: ErrorKind::MalformedResponse,
            outcome: RequestOutcome::ServerError,
            retry_after: None,
            message: too_large.to_string(),
        };
    }
    match err {
        SdkError::TimeoutError(_) => plain(ErrorKind::Timeout, RequestOutcome::Timeout),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            plain(ErrorKind::Timeout, RequestOutcome::Timeout)
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            plain(ErrorKind::Transport, RequestOutcome::TransportError)
        }
        SdkError::ResponseError(_) | SdkError::ServiceError(_) | _ => {
            let response = err.raw_response();
            let status = response.map(|r| r.status().as_u16());
            let code = ProvideErrorMetadata::code(err);
            let retry_after = response.and_then(|r| {
                let headers = r.headers();
                let ms = headers
                    .get("x-amz-retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_millis);
                let secs = headers
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                ms.or(secs)
            });
            // An excerpt: a body that is not an AWS error could be the size
            // of the response.
            let message = short(match (code, ProvideErrorMetadata::message(err)) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => match status {
                    Some(status) => format!("HTTP {status}: {}", DisplayErrorContext(err)),
                    None => DisplayErrorContext(err).to_string(),
                },
            });
            let (kind, outcome) = class_of(code, status);
            Classified {
                kind,
                outcome,
                retry_after,
                message,
            }
        }
    }
}

/// The class of a response that is not a success, by its AWS error code
/// (when it has one) and its HTTP status.
fn class_of(code: Option<&str>, status: Option<u16>) -> (ErrorKind, RequestOutcome) {
    match (code, status) {
        (Some("TooManyRequestsException" | "ThrottlingException" | "Throttling"), _)
        | (_, Some(429)) => (ErrorKind::Throttled, RequestOutcome::Throttled),
        (
            Some(
                "NotFoundException"
                | "ChildNotFoundException"
                | "ParentNotFoundException"
                | "TargetNotFoundException"
                | "OrganizationalUnitNotFoundException"
                | "AccountNotFoundException",
            ),
            _,
        )
        | (_, Some(404)) => (ErrorKind::NotFound, RequestOutcome::ClientError),
        (
            Some(
                "AccessDeniedException"
                | "AccessDenied"
                | "AWSOrganizationsNotInUseException"
                | "RegionDisabledException"
                | "ExpiredToken"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "UnauthorizedException"
                | "ForbiddenException",
            ),
            _,
        )
        | (_, Some(401 | 403)) => (ErrorKind::AccessDenied, RequestOutcome::ClientError),
        (_, Some(500..=599)) => (ErrorKind::ServerError, RequestOutcome::ServerError),
        (Some("BadRequestException"), _) | (_, Some(400..=499)) => {
            (ErrorKind::BadRequest, RequestOutcome::ClientError)
        }
        // A 2xx whose body did not parse.
        _ => (ErrorKind::MalformedResponse, RequestOutcome::ServerError),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_apigatewayv2::error::ErrorMetadata;
    use aws_sdk_apigatewayv2::operation::get_routes::GetRoutesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    type Error = SdkError<GetRoutesError, HttpResponse>;

    fn response(status: u16, headers: &[(&'static str, &'static str)]) -> HttpResponse {
        let mut response =
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from("{}"));
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        response
    }

    /// A service error with an AWS error code (or none) and a status.
    fn service(code: Option<&str>, status: u16) -> Error {
        let mut meta = ErrorMetadata::builder().message("said the server");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(GetRoutesError::generic(meta.build()), response(status, &[]))
    }

    fn class(err: &Error) -> (ErrorKind, RequestOutcome) {
        let c = classify(err);
        (c.kind, c.outcome)
    }

    #[test]
    fn throttling_by_code_or_by_429_alone() {
        use ErrorKind::Throttled;
        for code in [
            "TooManyRequestsException",
            "ThrottlingException",
            "Throttling",
        ] {
            assert_eq!(
                class(&service(Some(code), 400)),
                (Throttled, RequestOutcome::Throttled),
                "{code}"
            );
        }
        assert_eq!(class(&service(None, 429)).0, Throttled);
    }

    #[test]
    fn client_errors_by_code_or_status() {
        let cases = [
            (Some("NotFoundException"), 404, ErrorKind::NotFound),
            (None, 404, ErrorKind::NotFound),
            (Some("AccessDeniedException"), 403, ErrorKind::AccessDenied),
            (
                Some("UnrecognizedClientException"),
                400,
                ErrorKind::AccessDenied,
            ),
            (
                Some("InvalidSignatureException"),
                400,
                ErrorKind::AccessDenied,
            ),
            (Some("ExpiredTokenException"), 400, ErrorKind::AccessDenied),
            (None, 401, ErrorKind::AccessDenied),
            (None, 403, ErrorKind::AccessDenied),
            (Some("BadRequestException"), 400, ErrorKind::BadRequest),
            (None, 409, ErrorKind::BadRequest),
        ];
        for (code, status, kind) in cases {
            assert_eq!(
                class(&service(code, status)),
                (kind, RequestOutcome::ClientError),
                "{code:?} {status}"
            );
        }
    }

    #[test]
    fn server_errors_and_unparsable_successes() {
        for status in [500, 502, 503, 504] {
            assert_eq!(
                class(&service(None, status)),
                (ErrorKind::ServerError, RequestOutcome::ServerError)
            );
        }
        // A 200 whose body the SDK could not read.
        let err: Error = SdkError::response_error("unexpected token", response(200, &[]));
        assert_eq!(
            class(&err),
            (ErrorKind::MalformedResponse, RequestOutcome::ServerError)
        );
    }

    #[test]
    fn timeouts_and_transport_failures() {
        let err: Error = SdkError::timeout_error("attempt timeout");
        assert_eq!(class(&err), (ErrorKind::Timeout, RequestOutcome::Timeout));
        let err: Error = SdkError::dispatch_failure(ConnectorError::timeout("connect".into()));
        assert_eq!(class(&err), (ErrorKind::Timeout, RequestOutcome::Timeout));
        let err: Error = SdkError::dispatch_failure(ConnectorError::io("refused".into()));
        assert_eq!(
            class(&err),
            (ErrorKind::Transport, RequestOutcome::TransportError)
        );
        let err: Error = SdkError::construction_failure("no region");
        assert_eq!(class(&err).0, ErrorKind::Transport);
    }

    #[test]
    fn a_body_over_the_limit_is_a_malformed_response() {
        let err: Error =
            SdkError::response_error(bounded::TooLarge { limit: 10 }, response(200, &[]));
        let c = classify(&err);
        assert_eq!(c.kind, ErrorKind::MalformedResponse);
        assert!(c.message.contains("over 10 bytes"), "{}", c.message);
    }

    #[test]
    fn retry_after_hints_in_milliseconds_or_seconds() {
        let hinted = |headers| {
            let err: Error = SdkError::service_error(
                GetRoutesError::generic(ErrorMetadata::builder().code("Throttling").build()),
                response(429, headers),
            );
            classify(&err).retry_after
        };
        assert_eq!(
            hinted(&[("x-amz-retry-after", "1500")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            hinted(&[("retry-after", "2")]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(hinted(&[("retry-after", "soon")]), None);
        assert_eq!(hinted(&[]), None);
    }

    #[test]
    fn messages_name_the_code_and_are_clipped() {
        let c = classify(&service(Some("NotFoundException"), 404));
        assert_eq!(c.message, "NotFoundException: said the server");
        let c = classify(&service(None, 502));
        assert!(c.message.starts_with("HTTP 502"), "{}", c.message);
        let long = "x".repeat(10 * MAX_MESSAGE_BYTES);
        let err: Error = SdkError::service_error(
            GetRoutesError::generic(ErrorMetadata::builder().code("E").message(long).build()),
            response(500, &[]),
        );
        let message = classify(&err).message;
        assert!(message.starts_with("E: xxx"), "{message}");
        assert!(message.ends_with("more bytes)"), "{message}");
        assert!(message.len() < MAX_MESSAGE_BYTES + 40, "{}", message.len());
    }
}
