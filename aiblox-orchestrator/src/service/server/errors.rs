//! Error answers: `{"error": {"code", "message"}}` in the API's words, from every failure
//! (extraction, the pipeline, the contract, routing and the layers).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::pipeline::PipelineError;
use crate::protocol::{ErrorBody, ErrorCode, ErrorDetail, InvalidRequest};

/// An error response: status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// Its stable code.
    pub(super) fn code(&self) -> ErrorCode {
        self.code
    }

    /// What it says, for people (and models).
    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<InvalidRequest> for ApiError {
    fn from(invalid: InvalidRequest) -> Self {
        let status =
            StatusCode::from_u16(invalid.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        ApiError::new(status, invalid.code(), invalid.to_string())
    }
}

/// The body limit in force, for the message of a 413 (set by the router).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) usize, pub(crate) &'static str);

/// What a 413 says: the limit, and the setting that raises it.
fn too_large(limit: Option<BodyLimit>) -> String {
    match limit {
        Some(BodyLimit(bytes, setting)) => {
            let setting = crate::service::config::setting_names(setting);
            format!("the request body is over the limit of {bytes} bytes ({setting})")
        }
        None => format!(
            "the request body is over the size limit ({})",
            crate::service::config::setting_names("limits.max_body_bytes")
        ),
    }
}

impl ApiError {
    /// The answer to a body the JSON extractor refused, under the body limit `limit`.
    pub(super) fn from_json_rejection(rejection: JsonRejection, limit: Option<BodyLimit>) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                too_large(limit),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send `Content-Type: application/json`",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
            ),
            _ => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, message),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(err: PipelineError) -> Self {
        match err {
            PipelineError::Timeout(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
                err.to_string(),
            ),
            PipelineError::NoModel(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                err.to_string(),
            ),
            PipelineError::Embed(err) => {
                tracing::error!(error = %err, "embedding the question failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the request id in the logs has details",
                )
            }
            PipelineError::Kb(err) => err.into(),
        }
    }
}

impl From<aiblox_kb::Error> for ApiError {
    fn from(err: aiblox_kb::Error) -> Self {
        match err {
            aiblox_kb::Error::InvalidInput { message, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
            ),
            aiblox_kb::Error::Unavailable { .. } | aiblox_kb::Error::Conflict { .. } => {
                tracing::warn!(error = %err, "knowledge base unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the knowledge base is unavailable; retry later",
                )
            }
            aiblox_kb::Error::Database { ref code, .. } if code == "42501" => {
                tracing::error!(error = %err, "the database role lacks a privilege");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "this service's database role may not do this (a read-only role such as \
                     kb_reader cannot write items): writes need a service with the writer's role \
                     (docs/operations.md)",
                )
            }
            other => {
                tracing::error!(error = %other, "knowledge base error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the request id in the logs has details",
                )
            }
        }
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint; see /openapi.json",
    )
}

/// An error answer made outside the handlers (routing, the timeout and body-limit layers)
/// given the API's JSON error body, its headers (`Allow`, ...) kept; handlers' own errors
/// pass unchanged.
pub(super) fn in_api_words(response: Response, method: &str, path: &str) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let status = response.status();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}; the Allow header says what is"),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "the request did not arrive in time; send the whole body at once".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, too_large(None)),
        _ if status.is_server_error() => (
            ErrorCode::Internal,
            "internal error; the request id in the logs has details".to_owned(),
        ),
        _ => (
            ErrorCode::InvalidRequest,
            status
                .canonical_reason()
                .unwrap_or("invalid request")
                .to_owned(),
        ),
    };
    let (parts, _) = response.into_parts();
    let mut answer = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}
