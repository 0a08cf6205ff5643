//! The names a monitoring skill is given, parsed once at the edge.

use mlops_agent_kit::SkillError;

/// A model name as the registry, the cluster and the router's `model`
/// label spell it: 1-63 characters of a-z, 0-9 and '-', starting with a
/// letter. Being a slug, it goes between quotes in PromQL with nothing to
/// escape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelName(String);

impl ModelName {
    /// `field` names the input field in the rejection.
    pub fn parse(field: &str, raw: &str) -> Result<Self, SkillError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(ModelName(raw.to_owned()))
        } else {
            Err(SkillError::bad_field(
                field,
                format!(
                    "{raw:?} must be a model name: 1-63 characters of a-z, 0-9 and '-', starting with a letter"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registry version number (1 or more), as deployments and the router's
/// `version` label carry it.
pub fn version_number(field: &str, raw: i64) -> Result<i32, SkillError> {
    i32::try_from(raw).ok().filter(|v| *v >= 1).ok_or_else(|| {
        SkillError::bad_field(field, format!("{raw} must be a version number (1 or more)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_slugs() {
        assert!(ModelName::parse("model", "fraud-detector").is_ok());
        for bad in [
            "",
            "Fraud",
            "fraud detector",
            "9lives",
            "a\"}",
            &"x".repeat(64),
        ] {
            let err = ModelName::parse("model", bad).unwrap_err().to_string();
            assert!(err.contains("`model`"), "{bad:?}: {err}");
        }
        assert_eq!(version_number("canary_version", 3).unwrap(), 3);
        assert!(
            version_number("canary_version", 0)
                .unwrap_err()
                .to_string()
                .contains("`canary_version`")
        );
    }
}
