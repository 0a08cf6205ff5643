//! The KServe v1 ("TensorFlow Serving style") wire format, as the model
//! servers and the router speak it:
//!
//! - `POST /v1/models/{name}:predict` with `{"instances": [...]}`; each
//!   instance is either an array of numbers in the model's feature order or
//!   an object of feature name → number. Answer: `{"predictions": [...]}`,
//!   one `{"score", "label"}` per instance, in order.
//! - `GET /v1/models/{name}`: `{"name", "version", "ready", "feature_names"}`.
//!
//! Errors are `{"error": "..."}` with a 4xx/5xx status, as KServe answers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most instances in one request; larger batches are split by the client.
pub const MAX_BATCH: usize = 1_000;
/// Largest request body either process reads.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct PredictRequest {
    pub instances: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// P(class 1).
    pub score: f64,
    /// The class at threshold 0.5.
    pub label: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PredictResponse {
    pub predictions: Vec<Prediction>,
    /// The model version that answered; the router sets it so callers and
    /// tests can see the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    pub version: String,
    pub ready: bool,
    pub feature_names: Vec<String>,
}

/// An error answer in KServe's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// The path segment `{name}:predict` → `name`.
pub fn model_of_predict_path(segment: &str) -> Option<&str> {
    segment.strip_suffix(":predict")
}

/// Parses a request body into feature rows in `feature_names` order.
pub fn rows_of(body: &[u8], feature_names: &[String]) -> Result<Vec<Vec<f64>>, ApiError> {
    let request: PredictRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body must be {{\"instances\": [...]}}: {e}"))
    })?;
    if request.instances.is_empty() {
        return Err(ApiError::bad_request("instances is empty"));
    }
    if request.instances.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} instances; at most {MAX_BATCH} per request",
            request.instances.len()
        )));
    }
    request
        .instances
        .iter()
        .enumerate()
        .map(|(i, instance)| row_of(i, instance, feature_names))
        .collect()
}

fn row_of(i: usize, instance: &Value, feature_names: &[String]) -> Result<Vec<f64>, ApiError> {
    let number = |v: &Value, what: &str| -> Result<f64, ApiError> {
        match v {
            Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                ApiError::bad_request(format!("instance {i}: {what} is not a finite number"))
            }),
            Value::Bool(b) => Ok(f64::from(u8::from(*b))),
            _ => Err(ApiError::bad_request(format!(
                "instance {i}: {what} must be a number, got {v}"
            ))),
        }
    };
    match instance {
        Value::Array(values) => {
            if values.len() != feature_names.len() {
                return Err(ApiError::bad_request(format!(
                    "instance {i} has {} values; the model takes {} ({})",
                    values.len(),
                    feature_names.len(),
                    feature_names.join(", ")
                )));
            }
            values
                .iter()
                .zip(feature_names)
                .map(|(v, name)| number(v, name))
                .collect()
        }
        Value::Object(fields) => {
            if let Some(extra) = fields.keys().find(|k| !feature_names.contains(k)) {
                return Err(ApiError::bad_request(format!(
                    "instance {i} has unknown feature {extra:?}; the model takes {}",
                    feature_names.join(", ")
                )));
            }
            feature_names
                .iter()
                .map(|name| match fields.get(name) {
                    Some(v) => number(v, name),
                    None => Err(ApiError::bad_request(format!(
                        "instance {i} lacks feature {name:?}"
                    ))),
                })
                .collect()
        }
        other => Err(ApiError::bad_request(format!(
            "instance {i} must be an array or an object, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["amount".into(), "hour".into()]
    }

    #[test]
    fn arrays_and_objects_become_rows_in_feature_order() {
        let rows = rows_of(
            br#"{"instances": [[1.5, 3], {"hour": 4, "amount": 2.5}, [true, 0]]}"#,
            &names(),
        )
        .unwrap();
        assert_eq!(rows, vec![vec![1.5, 3.0], vec![2.5, 4.0], vec![1.0, 0.0]]);
    }

    #[test]
    fn bad_instances_say_what_is_wrong() {
        let err = |body: &str| rows_of(body.as_bytes(), &names()).unwrap_err().message;
        assert!(err("{}").contains("instances"));
        assert!(err(r#"{"instances": []}"#).contains("empty"));
        assert!(err(r#"{"instances": [[1]]}"#).contains("takes 2"));
        assert!(err(r#"{"instances": [{"amount": 1}]}"#).contains("lacks feature \"hour\""));
        assert!(
            err(r#"{"instances": [{"amount": 1, "hour": 2, "x": 3}]}"#).contains("unknown feature")
        );
        assert!(err(r#"{"instances": [[1, "a"]]}"#).contains("must be a number"));
        assert!(err(r#"{"instances": [7]}"#).contains("array or an object"));
    }

    #[test]
    fn predict_paths() {
        assert_eq!(model_of_predict_path("fraud:predict"), Some("fraud"));
        assert_eq!(model_of_predict_path("fraud"), None);
    }
}
