//! Where the object store lives, named by one string (`MLOPS_STORAGE_ROOT`):
//! a local directory, `file:///dir`, or `s3://bucket[/prefix]`. Every process
//! that shares the store is given the same string, so they all see the same
//! objects under the same keys.

use std::path::PathBuf;

use crate::keys::ObjectKey;

/// A parsed object-store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory on this machine (created if missing).
    Local(PathBuf),
    /// An S3 bucket, with every key under `prefix` when one is given.
    S3 {
        bucket: String,
        /// Segments like an object key (`team-a/objects`), no leading or
        /// trailing `/`.
        prefix: Option<String>,
    },
}

/// Why an object store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    #[error(
        "object store location {location:?} {reason}; give a directory, file:///absolute/dir or s3://bucket[/prefix]"
    )]
    InvalidLocation { location: String, reason: String },
    #[error("cannot open the object store directory {}: {source}", path.display())]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot configure S3 for bucket {bucket:?} (check the AWS_* variables): {source}")]
    S3 {
        bucket: String,
        source: object_store::Error,
    },
}

impl StoreLocation {
    pub fn parse(raw: &str) -> Result<Self, OpenStoreError> {
        let invalid = |reason: String| OpenStoreError::InvalidLocation {
            location: raw.to_owned(),
            reason,
        };
        if raw.trim().is_empty() {
            return Err(invalid("is empty".into()));
        }
        if raw.trim() != raw {
            return Err(invalid("has leading or trailing whitespace".into()));
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_end_matches('/')),
                None => (rest, ""),
            };
            check_bucket_name(bucket).map_err(invalid)?;
            let prefix = if prefix.is_empty() {
                None
            } else {
                // The prefix obeys the object-key rules, so it cannot hold
                // `..`, empty segments or characters S3 would treat oddly.
                ObjectKey::parse(prefix)
                    .map_err(|e| invalid(format!("has a bad key prefix: {e}")))?;
                Some(prefix.to_owned())
            };
            return Ok(StoreLocation::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if let Some(rest) = raw.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid(
                    "must be file:///absolute/dir (no host part in a file URL)".into(),
                ));
            }
            // Taken literally rather than percent-decoded: a stray `%` is
            // refused instead of silently naming another directory.
            if rest.contains('%') {
                return Err(invalid(
                    "contains '%'; percent-encoded file URLs are not supported, give the plain path"
                        .into(),
                ));
            }
            return Ok(StoreLocation::Local(PathBuf::from(rest)));
        }
        // Anything else that looks like a URL is a backend this build does
        // not have; better an error than a local directory named `gs:`.
        if let Some((scheme, _)) = raw.split_once(':')
            && !scheme.is_empty()
            && !scheme.contains('/')
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            && (raw[scheme.len()..].starts_with("://") || scheme.eq_ignore_ascii_case("s3"))
        {
            return Err(invalid(format!(
                "uses the scheme {scheme:?}; only s3:// and file:// are supported"
            )));
        }
        Ok(StoreLocation::Local(PathBuf::from(raw)))
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Local(path) => write!(f, "{}", path.display()),
            StoreLocation::S3 {
                bucket,
                prefix: None,
            } => write!(f, "s3://{bucket}"),
            StoreLocation::S3 {
                bucket,
                prefix: Some(prefix),
            } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// S3's bucket naming rules: 3-63 characters of `a-z 0-9 . -`, starting and
/// ending with a letter or digit, no `..`.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("has a bad bucket name {bucket:?}: {why}"));
    if !(3..=63).contains(&bucket.len()) {
        return bad("it must be 3-63 characters");
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return bad("it may only use a-z, 0-9, '.' and '-'");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(bucket.chars().next()) || !edge_ok(bucket.chars().last()) {
        return bad("it must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return bad("it must not contain '..'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: Option<&str>) -> StoreLocation {
        StoreLocation::S3 {
            bucket: bucket.into(),
            prefix: prefix.map(str::to_owned),
        }
    }

    #[test]
    fn locations_parse_into_a_directory_or_a_bucket() {
        let cases = [
            (
                "/var/lib/mlops/objects",
                StoreLocation::Local("/var/lib/mlops/objects".into()),
            ),
            (
                ".mlops/objects",
                StoreLocation::Local(".mlops/objects".into()),
            ),
            (
                "file:///srv/objects",
                StoreLocation::Local("/srv/objects".into()),
            ),
            ("s3://mlops-data", s3("mlops-data", None)),
            ("s3://mlops-data/", s3("mlops-data", None)),
            ("s3://mlops-data/prod", s3("mlops-data", Some("prod"))),
            (
                "s3://mlops.data/team-a/objects/",
                s3("mlops.data", Some("team-a/objects")),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(StoreLocation::parse(raw).unwrap(), expected, "{raw}");
        }
        assert_eq!(
            StoreLocation::parse("s3://b12/a/b").unwrap().to_string(),
            "s3://b12/a/b"
        );
    }

    #[test]
    fn bad_locations_say_what_is_wrong() {
        let cases = [
            ("", "is empty"),
            (" /tmp/x", "whitespace"),
            ("s3://", "3-63 characters"),
            ("s3://ab", "3-63 characters"),
            ("s3://My_Bucket", "a-z, 0-9"),
            ("s3://-bucket", "start and end"),
            ("s3://a..b", "'..'"),
            ("s3://bucket/../other", "'..'"),
            ("s3://bucket/a//b", "empty path segment"),
            ("s3://bucket/a b", "may only use"),
            ("s3://bucket?region=x", "a-z, 0-9"),
            ("s3:bucket", "scheme \"s3\""),
            ("S3://bucket", "scheme \"S3\""),
            ("gs://bucket", "scheme \"gs\""),
            ("https://bucket.s3.amazonaws.com", "scheme \"https\""),
            ("file://host/dir", "no host part"),
            ("file:///a%20b", "percent-encoded"),
        ];
        for (raw, expected) in cases {
            let message = StoreLocation::parse(raw).unwrap_err().to_string();
            assert!(
                message.contains(expected),
                "{raw:?}: {message:?} should mention {expected:?}"
            );
        }
    }
}
