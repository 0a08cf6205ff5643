//! `cargo xtask site`: builds the console's browser bundle into
//! `<target>/site/pkg`, where `mlops serve` looks for it.
//!
//! This does what `cargo leptos build` does for the hydrate half, with the
//! tools pinned and installed from the registries, and nothing fetched from
//! anywhere else (cargo-leptos downloads missing tools from GitHub, which
//! this machine cannot reach, and costs ~22 minutes to build here):
//!
//! 1. the `wasm32-unknown-unknown` target (rustup);
//! 2. `wasm-bindgen-cli` at exactly the `wasm-bindgen` version in
//!    `Cargo.lock` (crates.io);
//! 3. `wasm-opt` from npm's `binaryen`, in a private tools prefix;
//! 4. `cargo build --target wasm32-unknown-unknown --features hydrate
//!    --profile wasm-release`, then `wasm-bindgen --target web`, then
//!    `wasm-opt -Oz`, then gzip copies that the server sends as they are.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

const BINARYEN: &str = "binaryen@132.0.0";
const OUT_NAME: &str = "mlops";

/// The cargo target directory the workspace builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

/// Where the tools we install outside cargo live.
fn tools_prefix() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("mlops").join("tools")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// The `wasm-bindgen` version `Cargo.lock` pins.
fn locked_wasm_bindgen() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(crate::workspace_root().join("Cargo.lock"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown"))
        .unwrap_or(false);
    if !installed {
        eprintln!("xtask: adding the wasm32-unknown-unknown target");
        run(
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
            "rustup target add wasm32-unknown-unknown",
        )?;
    }
    Ok(())
}

/// `wasm-bindgen` at the locked version: the one on PATH if it matches,
/// else installed into cargo's bin directory.
fn ensure_wasm_bindgen() -> anyhow::Result<PathBuf> {
    let version = locked_wasm_bindgen()?;
    let matches = |program: &Path| {
        Command::new(program)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == format!("wasm-bindgen {version}"))
            .unwrap_or(false)
    };
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
        .join("wasm-bindgen");
    for candidate in [PathBuf::from("wasm-bindgen"), cargo_bin.clone()] {
        if matches(&candidate) {
            return Ok(candidate);
        }
    }
    eprintln!("xtask: installing wasm-bindgen-cli {version} from crates.io (a few minutes, once)");
    run(
        Command::new(cargo()).args(["install", "wasm-bindgen-cli", "--version", &version]),
        "cargo install wasm-bindgen-cli",
    )?;
    ensure!(
        matches(&cargo_bin),
        "wasm-bindgen {version} is still not at {}",
        cargo_bin.display()
    );
    Ok(cargo_bin)
}

/// `wasm-opt` from npm's binaryen, in the tools prefix.
fn ensure_wasm_opt() -> anyhow::Result<PathBuf> {
    let prefix = tools_prefix().join("binaryen");
    let program = prefix.join("node_modules").join(".bin").join("wasm-opt");
    if !program.exists() {
        crate::ensure_node()?;
        eprintln!("xtask: installing wasm-opt ({BINARYEN}) from npm");
        std::fs::create_dir_all(&prefix)?;
        run(
            Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(&prefix)
                .arg(BINARYEN),
            "npm install binaryen",
        )?;
    }
    Ok(program)
}

/// Builds the bundle; returns the site root (`<target>/site`).
pub fn build() -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let bindgen = ensure_wasm_bindgen()?;
    let wasm_opt = ensure_wasm_opt()?;
    let target = target_dir();
    eprintln!("xtask: building the console's WASM (hydrate, wasm-release)");
    run(
        Command::new(cargo())
            .args([
                "build",
                "--quiet",
                "-p",
                "mlops-frontend",
                "--lib",
                "--target",
                "wasm32-unknown-unknown",
                "--features",
                "hydrate",
                "--profile",
                "wasm-release",
            ])
            .current_dir(crate::workspace_root()),
        "cargo build (wasm)",
    )?;
    let wasm = target
        .join("wasm32-unknown-unknown")
        .join("wasm-release")
        .join("mlops_frontend.wasm");
    let site = target.join("site");
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg)?;
    run(
        Command::new(&bindgen)
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                OUT_NAME,
                "--out-dir",
            ])
            .arg(&pkg)
            .arg(&wasm),
        "wasm-bindgen",
    )?;
    let bundle = pkg.join(format!("{OUT_NAME}_bg.wasm"));
    // The features rustc's wasm32 target enables by default.
    run(
        Command::new(&wasm_opt)
            .args([
                "-Oz",
                "--enable-bulk-memory",
                "--enable-mutable-globals",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(&bundle)
            .arg("-o")
            .arg(&bundle),
        "wasm-opt",
    )?;
    for file in [bundle.clone(), pkg.join(format!("{OUT_NAME}.js"))] {
        run(
            Command::new("gzip")
                .args(["-9", "-k", "-f", "-n"])
                .arg(&file),
            "gzip",
        )?;
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask: console bundle at {}: {} KB WASM, {} KB gzipped",
        pkg.display(),
        size(&bundle) / 1024,
        size(&bundle.with_extension("wasm.gz")) / 1024
    );
    Ok(site)
}

/// Sizes of the built bundle: (raw, gzipped) bytes of the WASM.
pub fn wasm_sizes(site: &Path) -> anyhow::Result<(u64, u64)> {
    let bundle = site.join("pkg").join(format!("{OUT_NAME}_bg.wasm"));
    let raw = std::fs::metadata(&bundle)
        .with_context(|| format!("{}", bundle.display()))?
        .len();
    let gz = std::fs::metadata(bundle.with_extension("wasm.gz"))?.len();
    Ok((raw, gz))
}
