//! The response-size bound on reads from AWS: an SDK interceptor that fails
//! a response whose `Content-Length` is over the limit before reading it, and
//! caps the bytes read from any other body (a chunked body that never ends
//! stops at the limit, not at the attempt's timeout). It knows nothing about
//! APIs or errors kinds; the source classifies [`TooLarge`].

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Caps every response body at this many bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimit(pub(super) usize);

/// A response body over the limit.
#[derive(Debug, thiserror::Error)]
#[error("the response body is over {limit} bytes (max_response_bytes)")]
pub(super) struct TooLarge {
    pub(super) limit: usize,
}

impl Intercept for BodyLimit {
    fn name(&self) -> &'static str {
        "BodyLimit"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let limit = self.0;
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Box::new(TooLarge { limit }));
        }
        let body = response.take_body();
        let limited = Limited::new(body, limit).map_err(move |err| -> BoxError {
            if err.is::<LengthLimitError>() {
                Box::new(TooLarge { limit })
            } else {
                err
            }
        });
        *response.body_mut() = SdkBody::from_body_1_x(limited);
        Ok(())
    }
}

/// The [`TooLarge`] in an error's chain of sources, if any.
pub(super) fn too_large<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e TooLarge> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<TooLarge>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}
