//! Object keys and dataset names, parsed once at the edge.

use mlops_mcp_kit::ToolError;

/// A relative object key such as `uploads/transactions.csv`: segments of
/// `A-Za-z0-9._-` separated by `/`; no `..`, no empty or hidden-parent
/// segments, at most 512 characters. Keys never escape the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        let bad = |why: &str| ToolError::Invalid(format!("object key {raw:?} {why}"));
        if raw.is_empty() || raw.len() > 512 {
            return Err(bad("must be 1-512 characters"));
        }
        if raw.starts_with('/') || raw.contains('\\') {
            return Err(bad("must be a relative path with '/' separators"));
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return Err(bad("has an empty path segment"));
            }
            if segment == "." || segment == ".." {
                return Err(bad("must not contain '.' or '..' segments"));
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(bad("may only use A-Z, a-z, 0-9, '.', '_', '-' and '/'"));
            }
        }
        Ok(ObjectKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn path(&self) -> object_store::path::Path {
        object_store::path::Path::from(self.0.as_str())
    }
}

/// A dataset name: `^[a-z][a-z0-9-]{0,62}$`.
pub fn dataset_name(raw: &str) -> Result<String, ToolError> {
    mlops_mcp_kit::slug("dataset name", raw, 63)
}

/// A dataset version: 64 lowercase hex digits (a sha256), optionally
/// written with its `sha256:` prefix.
pub fn dataset_version(raw: &str) -> Result<String, ToolError> {
    let hex = raw.strip_prefix("sha256:").unwrap_or(raw);
    if hex.len() == 64
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        Ok(hex.to_owned())
    } else {
        Err(ToolError::Invalid(format!(
            "dataset version {raw:?} must be a sha256 content hash (64 lowercase hex digits)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_odd_keys_are_refused() {
        assert!(ObjectKey::parse("uploads/tx.csv").is_ok());
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/abs",
            "a//b",
            "a\\b",
            "a/./b",
            "sp ace",
            "",
            "ümlaut",
        ] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(ObjectKey::parse(&"a".repeat(513)).is_err());
    }

    #[test]
    fn versions_are_content_hashes() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(dataset_version(&hex).unwrap(), hex);
        assert_eq!(dataset_version(&format!("sha256:{hex}")).unwrap(), hex);
        assert!(dataset_version("v1").is_err());
    }
}
