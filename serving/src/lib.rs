//! The serving data plane, run as `mlops model-server` and `mlops router`
//! processes that the cluster server's `local` backend starts:
//!
//! - [`model_server`]: one process per replica of a model version. It loads
//!   the version's artifact from the object store and answers the KServe v1
//!   protocol ([`kserve`]).
//! - [`router`]: one process per model. It splits traffic across versions
//!   by weight (smooth weighted round-robin, so shares are exact over any
//!   window), injects per-version faults on request, exports per-version
//!   request, error and latency metrics, and writes every scored instance
//!   to the [`prediction_log`] for drift windows.

pub mod kserve;
pub mod model_server;
pub mod prediction_log;
pub mod router;
