//! Custom access-token claims computed by an admin's JavaScript (Logto-style).
//!
//! The admin writes
//!
//! ```js
//! const getCustomJwtClaims = async ({ token, context, environmentVariables, api }) => {
//!   if (context?.user?.suspended) api.denyAccess("suspended");
//!   return { tier: environmentVariables.DEFAULT_TIER };
//! };
//! ```
//!
//! and [`ScriptEngine::run`] evaluates it in a QuickJS sandbox: a fresh context for every run,
//! base intrinsics only (no file system, no modules, no `std`/`os`), `console` collected rather
//! than printed, `fetch` only to the hosts of a [`FetchPolicy`], and wall time, heap and stack
//! bounded by [`Limits`]. The result must be a plain JSON object; anything else is a
//! [`ScriptFailure`].

mod cache;
mod engine;
mod error;
mod fetch;
mod globals;
mod limits;
mod outcome;
mod redact;
mod run;
mod sandbox;

pub use engine::{EngineStats, MAX_SOURCE_BYTES, RunReport, ScriptEngine, ScriptInput};
pub use error::{ScriptError, ScriptFailure};
pub use fetch::policy::{AllowedHost, FetchPolicy, FetchPolicyError};
pub use limits::Limits;
pub use redact::{Redactor, without_url_secrets};
