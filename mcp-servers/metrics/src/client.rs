//! A client for the Prometheus HTTP API (`/api/v1/...`): instant and range
//! queries, active alerts, label values. Every answer Prometheus marks
//! `status: error` becomes a tool error carrying its `errorType` and
//! message; transport failures say what could not be reached.

use std::collections::BTreeMap;
use std::time::Duration;

use mlops_mcp_kit::ToolError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::{PromDuration, PromQl, PromTime};

/// How long one request to Prometheus may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read; a bigger one means the query asks for more
/// than a tool result could carry anyway.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Labels of one series.
pub type Labels = BTreeMap<String, String>;

/// One sample: unix seconds and the value (NaN and ±Inf included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub time: f64,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct InstantSeries {
    pub metric: Labels,
    pub sample: Sample,
}

#[derive(Debug, Clone)]
pub struct RangeSeries {
    pub metric: Labels,
    pub samples: Vec<Sample>,
}

/// What a query evaluated to, by Prometheus's `resultType`.
#[derive(Debug, Clone)]
pub enum QueryResult {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(Sample),
    String { time: f64, value: String },
}

impl QueryResult {
    pub fn kind(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String { .. } => "string",
        }
    }
}

/// A query's result and the warnings Prometheus attached to it.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub result: QueryResult,
    pub warnings: Vec<String>,
}

/// One active alert from `/api/v1/alerts`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// The Prometheus HTTP API at one base URL.
#[derive(Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum RawResult {
    Vector(Vec<RawInstant>),
    Matrix(Vec<RawRange>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Deserialize)]
struct RawInstant {
    #[serde(default)]
    metric: Labels,
    /// Absent for native-histogram samples, which this server does not read.
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(default)]
    metric: Labels,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct AlertsData {
    alerts: Vec<Alert>,
}

/// Prometheus writes sample values as strings so NaN and ±Inf survive JSON.
pub fn parse_value(raw: &str) -> Result<f64, ToolError> {
    match raw {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other.parse().map_err(|_| {
            ToolError::Internal(format!(
                "Prometheus returned a sample value {other:?} that is not a number"
            ))
        }),
    }
}

fn sample((time, value): (f64, String)) -> Result<Sample, ToolError> {
    Ok(Sample {
        time,
        value: parse_value(&value)?,
    })
}

impl PrometheusClient {
    /// A client for the Prometheus at `base_url` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("an HTTP client with only timeouts set builds: nothing in it comes from input");
        PrometheusClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `/api/v1/query`: `query` evaluated at `time` (Prometheus's now if none).
    pub async fn instant(
        &self,
        query: &PromQl,
        time: Option<PromTime>,
    ) -> Result<QueryAnswer, ToolError> {
        let mut form = vec![
            ("query", query.as_str().to_owned()),
            ("timeout", timeout_param()),
        ];
        if let Some(time) = time {
            form.push(("time", time.param()));
        }
        let (data, warnings) = self.post("/api/v1/query", &form).await?;
        Ok(QueryAnswer {
            result: convert(data)?,
            warnings,
        })
    }

    /// `/api/v1/query_range`.
    pub async fn range(
        &self,
        query: &PromQl,
        start: PromTime,
        end: PromTime,
        step: PromDuration,
    ) -> Result<QueryAnswer, ToolError> {
        let form = vec![
            ("query", query.as_str().to_owned()),
            ("start", start.param()),
            ("end", end.param()),
            ("step", format!("{:.3}", step.seconds())),
            ("timeout", timeout_param()),
        ];
        let (data, warnings) = self.post("/api/v1/query_range", &form).await?;
        Ok(QueryAnswer {
            result: convert(data)?,
            warnings,
        })
    }

    /// `/api/v1/alerts`: every pending and firing alert.
    pub async fn alerts(&self) -> Result<Vec<Alert>, ToolError> {
        let (data, _) = self.get("/api/v1/alerts", &[]).await?;
        Ok(decode::<AlertsData>(data, "/api/v1/alerts")?.alerts)
    }

    /// `/api/v1/label/{label}/values` over series matching `selector`.
    pub async fn label_values(
        &self,
        label: &str,
        selector: &str,
    ) -> Result<Vec<String>, ToolError> {
        let path = format!("/api/v1/label/{label}/values");
        let (data, _) = self.get(&path, &[("match[]", selector)]).await?;
        decode(data, &path)
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<(Value, Vec<String>), ToolError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(form);
        self.send(path, request).await
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(Value, Vec<String>), ToolError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base_url)).map_err(|e| {
            ToolError::Internal(format!(
                "the Prometheus URL {:?} is not a URL: {e}",
                self.base_url
            ))
        })?;
        url.query_pairs_mut().extend_pairs(query);
        self.send(path, self.http.get(url)).await
    }

    async fn send(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(Value, Vec<String>), ToolError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| self.transport_error(path, &e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(path, &e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ToolError::Invalid(format!(
                    "Prometheus's answer is larger than {} MiB; narrow the query (fewer series, a larger step, a shorter range)",
                    MAX_RESPONSE_BYTES / (1024 * 1024)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            tracing::error!(%status, path, error = %e, body = %text, "Prometheus answered with something other than its API JSON");
            ToolError::Internal(format!(
                "Prometheus at {} answered {path} with HTTP {status} and no API JSON: {}",
                self.base_url,
                text.trim()
            ))
        })?;
        if envelope.status != "success" {
            return Err(api_error(
                envelope.error_type.as_deref().unwrap_or("unknown"),
                envelope.error.as_deref().unwrap_or("(no message)"),
            ));
        }
        let data = envelope.data.ok_or_else(|| {
            ToolError::Internal(format!(
                "Prometheus answered {path} with success but no data"
            ))
        })?;
        Ok((data, envelope.warnings.unwrap_or_default()))
    }

    fn transport_error(&self, path: &str, error: &reqwest::Error) -> ToolError {
        tracing::warn!(%error, path, url = %self.base_url, "Prometheus request failed");
        if error.is_timeout() {
            ToolError::Internal(format!(
                "Prometheus at {} did not answer {path} within {} s",
                self.base_url,
                REQUEST_TIMEOUT.as_secs()
            ))
        } else if error.is_connect() {
            ToolError::Internal(format!(
                "Prometheus is unreachable at {}: is it running?",
                self.base_url
            ))
        } else {
            ToolError::Internal(format!(
                "Prometheus request {path} to {} failed: {error}",
                self.base_url
            ))
        }
    }
}

/// Prometheus's own error: a query problem is the caller's to fix (with
/// Prometheus's words); a timeout or an unavailable server is ours.
fn api_error(error_type: &str, error: &str) -> ToolError {
    match error_type {
        "bad_data" | "execution" | "not_found" => ToolError::Invalid(format!(
            "Prometheus rejected the query ({error_type}): {error}"
        )),
        _ => ToolError::Internal(format!("Prometheus failed ({error_type}): {error}")),
    }
}

fn timeout_param() -> String {
    format!("{}s", REQUEST_TIMEOUT.as_secs())
}

fn decode<T: DeserializeOwned>(data: Value, path: &str) -> Result<T, ToolError> {
    serde_json::from_value(data).map_err(|e| {
        ToolError::Internal(format!(
            "Prometheus's answer to {path} has an unexpected shape: {e}"
        ))
    })
}

fn convert(data: Value) -> Result<QueryResult, ToolError> {
    Ok(match decode::<RawResult>(data, "a query")? {
        RawResult::Vector(series) => QueryResult::Vector(
            series
                .into_iter()
                .filter_map(|s| s.value.map(|v| (s.metric, v)))
                .map(|(metric, v)| {
                    Ok(InstantSeries {
                        metric,
                        sample: sample(v)?,
                    })
                })
                .collect::<Result<_, ToolError>>()?,
        ),
        RawResult::Matrix(series) => QueryResult::Matrix(
            series
                .into_iter()
                .map(|s| {
                    Ok(RangeSeries {
                        metric: s.metric,
                        samples: s
                            .values
                            .into_iter()
                            .map(sample)
                            .collect::<Result<_, ToolError>>()?,
                    })
                })
                .collect::<Result<_, ToolError>>()?,
        ),
        RawResult::Scalar(v) => QueryResult::Scalar(sample(v)?),
        RawResult::String((time, value)) => QueryResult::String { time, value },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_results_decode_every_result_type() {
        let vector = convert(serde_json::json!({
            "resultType": "vector",
            "result": [{"metric": {"version": "1"}, "value": [1767225600.5, "NaN"]}]
        }))
        .unwrap();
        let QueryResult::Vector(series) = vector else {
            panic!("vector")
        };
        assert_eq!(series[0].metric["version"], "1");
        assert!(series[0].sample.value.is_nan());

        let matrix = convert(serde_json::json!({
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[1.0, "2.5"], [2.0, "+Inf"]]}]
        }))
        .unwrap();
        let QueryResult::Matrix(series) = matrix else {
            panic!("matrix")
        };
        assert_eq!(series[0].samples[0].value, 2.5);
        assert_eq!(series[0].samples[1].value, f64::INFINITY);

        let scalar =
            convert(serde_json::json!({"resultType": "scalar", "result": [3.0, "2"]})).unwrap();
        assert!(matches!(
            scalar,
            QueryResult::Scalar(Sample { value: 2.0, .. })
        ));
        assert!(convert(serde_json::json!({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "x"]}]})).is_err());
    }

    #[test]
    fn prometheus_errors_keep_their_type_and_message() {
        let error = api_error("bad_data", "1:5: parse error: unexpected \")\"");
        assert!(matches!(error, ToolError::Invalid(_)));
        assert!(
            error.to_string().contains("bad_data") && error.to_string().contains("parse error")
        );
        assert!(matches!(
            api_error("timeout", "query timed out"),
            ToolError::Internal(_)
        ));
    }
}
