//! The API's error type: a status and a JSON body `{"error": …, "field": …}`
//! that names the request field at fault, so the page can mark that input.

use crate::error::Error;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An HTTP error with a one-line message and, for input errors, the JSON
/// field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// HTTP status (not serialised: it is the response's status).
    #[serde(skip)]
    pub status: StatusCode,
    /// What went wrong and how to fix it.
    pub error: String,
    /// The request field at fault (snake_case, as in the JSON body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error: message.into(),
            field: None,
        }
    }

    /// A 400 on `field`.
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: format!("{field}: {}", message.into()),
            field: Some(field.to_string()),
        }
    }
}

impl From<Error> for ApiError {
    /// Core errors: bad input and bad spec files are the client's (400);
    /// anything else is ours (500).
    fn from(e: Error) -> Self {
        match &e {
            // The field knows its JSON spelling ("kv_dtype"); the message is the core's.
            Error::Input { field, message } => ApiError {
                status: StatusCode::BAD_REQUEST,
                error: format!("{}: {message}", field.json()),
                field: Some(field.json().to_string()),
            },
            Error::Spec { .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                error: e.to_string(),
                field: Some("config".into()),
            },
            Error::Environment(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self)
            .unwrap_or_else(|_| r#"{"error":"internal error"}"#.to_string());
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
