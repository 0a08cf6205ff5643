//! `services.json`: what `mlops up` is running, for people and tools.

use std::path::{Path, PathBuf};

pub use mlops_frontend::api::{ServiceKind, ServiceRecord};

pub fn services_path(data_dir: &Path) -> PathBuf {
    data_dir.join("services.json")
}

/// Writes the list atomically (temp file + rename), so readers never see
/// half a file.
pub fn write(data_dir: &Path, services: &[ServiceRecord]) -> std::io::Result<()> {
    let path = services_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(services).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, path)
}

pub fn read(data_dir: &Path) -> std::io::Result<Vec<ServiceRecord>> {
    let text = std::fs::read_to_string(services_path(data_dir))?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// The list as an aligned table.
pub fn render_table(services: &[ServiceRecord]) -> String {
    let name_w = services
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:<name_w$}  {:<13}  {:>7}  URL\n", "NAME", "KIND", "PID");
    for s in services {
        out.push_str(&format!(
            "{:<name_w$}  {:<13}  {:>7}  {}\n",
            s.name,
            s.kind.as_str(),
            s.pid,
            s.url
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_documented_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let list = vec![ServiceRecord {
            name: "control-plane".into(),
            kind: ServiceKind::ControlPlane,
            url: "http://127.0.0.1:8080".into(),
            pid: 42,
        }];
        write(dir.path(), &list).unwrap();
        assert_eq!(read(dir.path()).unwrap(), list);
        let raw = std::fs::read_to_string(services_path(dir.path())).unwrap();
        assert!(raw.contains("\"kind\": \"control-plane\""), "{raw}");
        assert!(render_table(&list).contains("control-plane"));
    }
}
