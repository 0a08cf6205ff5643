//! Registry values, parsed once at the edge so an invalid one cannot exist.

use crate::ToolError;

fn invalid(msg: String) -> ToolError {
    ToolError::Invalid(msg)
}

/// `^[a-z][a-z0-9-]{0,62}$`, e.g. `fraud-detector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        mlops_mcp_kit::slug("model name", raw, 63).map(ModelName)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An alias such as `champion` or `challenger`: `^[a-z][a-z0-9-]{0,31}$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias(String);

impl Alias {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        mlops_mcp_kit::slug("alias (e.g. champion, challenger)", raw, 32).map(Alias)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A version number, 1 or more.
pub fn version(raw: u32) -> Result<i32, ToolError> {
    if raw == 0 || raw > i32::MAX as u32 {
        return Err(invalid(format!("version {raw} must be a positive integer")));
    }
    Ok(raw as i32)
}

/// `sha256:` and 64 lowercase hex digits.
pub fn digest(field: &str, raw: &str) -> Result<String, ToolError> {
    let ok = raw.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!(
            "{field} {raw:?} must be \"sha256:\" followed by 64 lowercase hex digits"
        )))
    }
}

/// Where the model artifact lives: `storage://`, `s3://` or `file://`.
pub fn artifact_uri(raw: &str) -> Result<String, ToolError> {
    let scheme_ok = ["storage://", "s3://", "file://"]
        .iter()
        .any(|s| raw.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
    if scheme_ok
        && raw.len() <= 1024
        && !raw.chars().any(char::is_whitespace)
        && !raw.contains("/../")
    {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!(
            "artifact_uri {raw:?} must be a storage://, s3:// or file:// URI without spaces or '..' segments"
        )))
    }
}

/// A run id from the trainer: 1-128 characters of `A-Za-z0-9._:-`.
pub fn run_id(raw: &str) -> Result<String, ToolError> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!(
            "training_run_id {raw:?} must be 1-128 characters of A-Za-z0-9._:-"
        )))
    }
}

/// A column name for the protected attribute: 1-64 characters, no spaces.
pub fn attribute(raw: &str) -> Result<String, ToolError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!(
            "protected_attribute {raw:?} must be a column name of 1-64 characters"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        assert!(ModelName::parse("fraud-detector").is_ok());
        assert!(ModelName::parse("Fraud").is_err());
        assert!(ModelName::parse("").is_err());
        assert!(ModelName::parse("9lives").is_err());
        assert!(ModelName::parse("a/b").is_err());
        assert!(Alias::parse("champion").is_ok());
        assert!(Alias::parse("champion!").is_err());
    }

    #[test]
    fn lineage_fields() {
        let hex = "a".repeat(64);
        assert!(digest("d", &format!("sha256:{hex}")).is_ok());
        assert!(digest("d", &format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(digest("d", "md5:abc").is_err());
        assert!(artifact_uri("storage://models/fraud/v1/model.json").is_ok());
        assert!(artifact_uri("http://x").is_err());
        assert!(artifact_uri("storage://a/../../etc").is_err());
        assert!(run_id("run-42").is_ok());
        assert!(run_id("run 42").is_err());
        assert!(version(0).is_err());
    }
}
