//! The Twirp wire format LiveKit's server SDKs speak: `POST /twirp/livekit.RoomService/{Method}`
//! with a protobuf (`application/protobuf`, what the Python and Go SDKs send) or
//! protobuf-JSON (`application/json`, the Node SDK) body; errors are always JSON
//! `{"code","msg","meta"}` with Twirp's code → HTTP status mapping.
//!
//! Twirp errors are this edge's own wire format (LiveKit's clients parse them), so
//! they do not go through `ApiError`; `From<ApiError>` keeps one mapping for shared helpers.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;
use crate::sfu::SfuError;
use crate::store::StoreError;

/// Twirp's error codes (https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwirpCode {
    InvalidArgument,
    Malformed,
    NotFound,
    BadRoute,
    AlreadyExists,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    FailedPrecondition,
    Unimplemented,
    Internal,
    Unavailable,
}

impl TwirpCode {
    pub fn as_str(self) -> &'static str {
        match self {
            TwirpCode::InvalidArgument => "invalid_argument",
            TwirpCode::Malformed => "malformed",
            TwirpCode::NotFound => "not_found",
            TwirpCode::BadRoute => "bad_route",
            TwirpCode::AlreadyExists => "already_exists",
            TwirpCode::PermissionDenied => "permission_denied",
            TwirpCode::Unauthenticated => "unauthenticated",
            TwirpCode::ResourceExhausted => "resource_exhausted",
            TwirpCode::FailedPrecondition => "failed_precondition",
            TwirpCode::Unimplemented => "unimplemented",
            TwirpCode::Internal => "internal",
            TwirpCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status Twirp assigns to the code.
    pub fn status(self) -> StatusCode {
        match self {
            TwirpCode::InvalidArgument | TwirpCode::Malformed => StatusCode::BAD_REQUEST,
            TwirpCode::NotFound | TwirpCode::BadRoute => StatusCode::NOT_FOUND,
            TwirpCode::AlreadyExists => StatusCode::CONFLICT,
            TwirpCode::PermissionDenied => StatusCode::FORBIDDEN,
            TwirpCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            TwirpCode::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            TwirpCode::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
            TwirpCode::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            TwirpCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            TwirpCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {msg}", code.as_str())]
pub struct TwirpError {
    pub code: TwirpCode,
    pub msg: String,
    pub meta: BTreeMap<String, String>,
}

impl TwirpError {
    pub fn new(code: TwirpCode, msg: impl Into<String>) -> Self {
        TwirpError { code, msg: msg.into(), meta: BTreeMap::new() }
    }

    pub fn with_meta(mut self, key: &str, value: impl Into<String>) -> Self {
        self.meta.insert(key.to_string(), value.into());
        self
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        TwirpError::new(TwirpCode::NotFound, msg)
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        TwirpError::new(TwirpCode::InvalidArgument, msg)
    }

    /// What LiveKit answers for a missing or insufficient grant (its `twirpAuthError`).
    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        TwirpError::new(TwirpCode::Unauthenticated, msg)
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "LiveKit RoomService request failed");
        TwirpError::new(TwirpCode::Internal, "internal error")
    }
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    msg: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    meta: BTreeMap<String, String>,
}

impl IntoResponse for TwirpError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code.as_str(), msg: self.msg, meta: self.meta };
        (self.code.status(), axum::Json(body)).into_response()
    }
}

impl From<StoreError> for TwirpError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => TwirpError::new(TwirpCode::Unavailable, "the database is unavailable; retry shortly"),
            other => TwirpError::internal(other),
        }
    }
}

impl From<SfuError> for TwirpError {
    fn from(err: SfuError) -> Self {
        match err {
            SfuError::Stopped => TwirpError::new(TwirpCode::Unavailable, "the media server is not running; retry shortly"),
            SfuError::UnknownSession => TwirpError::not_found("participant not found; it may have left"),
            SfuError::NotLive => TwirpError::new(TwirpCode::FailedPrecondition, "nobody is publishing in this room"),
            other => TwirpError::new(TwirpCode::FailedPrecondition, other.to_string()),
        }
    }
}

impl From<ApiError> for TwirpError {
    fn from(err: ApiError) -> Self {
        let code = match err.status_code() {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE => TwirpCode::InvalidArgument,
            StatusCode::UNAUTHORIZED => TwirpCode::Unauthenticated,
            StatusCode::FORBIDDEN => TwirpCode::PermissionDenied,
            StatusCode::NOT_FOUND => TwirpCode::NotFound,
            StatusCode::CONFLICT => TwirpCode::AlreadyExists,
            StatusCode::TOO_MANY_REQUESTS => TwirpCode::ResourceExhausted,
            StatusCode::SERVICE_UNAVAILABLE => TwirpCode::Unavailable,
            _ => return TwirpError::internal(err),
        };
        TwirpError::new(code, err.to_string())
    }
}

/// How a request body is encoded; the response uses the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Protobuf,
    Json,
}

impl Codec {
    /// Twirp routes on Content-Type: anything else is `bad_route`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Codec, TwirpError> {
        let raw = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/protobuf" | "application/x-protobuf" => Ok(Codec::Protobuf),
            "application/json" => Ok(Codec::Json),
            _ => Err(TwirpError::new(TwirpCode::BadRoute, format!("unexpected Content-Type {raw:?}; send application/protobuf or application/json"))
                .with_meta("content_type", raw)),
        }
    }

    pub fn decode<T: prost::Message + Default + DeserializeOwned>(self, body: &[u8]) -> Result<T, TwirpError> {
        match self {
            Codec::Protobuf => T::decode(body).map_err(|e| TwirpError::new(TwirpCode::Malformed, format!("the body is not a valid protobuf message: {e}"))),
            Codec::Json if body.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
            Codec::Json => serde_json::from_slice(body).map_err(|e| TwirpError::new(TwirpCode::Malformed, format!("the body is not valid protobuf-JSON: {e}"))),
        }
    }

    pub fn encode<T: prost::Message + Serialize>(self, message: &T) -> Response {
        match self {
            Codec::Protobuf => {
                let mut response = message.encode_to_vec().into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/protobuf"));
                response
            }
            Codec::Json => axum::Json(message).into_response(),
        }
    }
}

/// The bearer token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_protocol::ListRoomsRequest;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn twirp_codes_map_to_twirps_http_statuses() {
        assert_eq!(TwirpCode::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(TwirpCode::BadRoute.status(), StatusCode::NOT_FOUND);
        assert_eq!(TwirpCode::FailedPrecondition.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(TwirpCode::Malformed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(TwirpCode::Unimplemented.status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn protobuf_and_json_bodies_decode_to_the_same_request() {
        use prost::Message;
        let request = ListRoomsRequest { names: vec!["show".into()] };
        let from_proto: ListRoomsRequest = Codec::Protobuf.decode(&request.encode_to_vec()).unwrap();
        let from_json: ListRoomsRequest = Codec::Json.decode(br#"{"names":["show"]}"#).unwrap();
        assert_eq!(from_proto, request);
        assert_eq!(from_json, request);
    }

    #[test]
    fn an_empty_json_body_is_the_default_request() {
        let request: ListRoomsRequest = Codec::Json.decode(b"").unwrap();
        assert!(request.names.is_empty());
    }

    #[test]
    fn a_content_type_other_than_protobuf_or_json_is_a_bad_route() {
        assert_eq!(Codec::from_headers(&headers("application/protobuf")).unwrap(), Codec::Protobuf);
        assert_eq!(Codec::from_headers(&headers("application/json; charset=utf-8")).unwrap(), Codec::Json);
        assert_eq!(Codec::from_headers(&headers("text/plain")).unwrap_err().code, TwirpCode::BadRoute);
    }

    #[test]
    fn garbage_protobuf_is_malformed() {
        let err = Codec::Protobuf.decode::<ListRoomsRequest>(&[0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(err.code, TwirpCode::Malformed);
    }
}
