//! How a script can fail: at save time ([`ScriptError`]) and at run time ([`ScriptFailure`]).

/// Why a script cannot be saved. [`ScriptEngine::check`](crate::ScriptEngine::check) returns it;
/// a run of such a script fails with [`ScriptFailure::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The source does not parse. `line` and `column` are 1-based positions in the source.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// QuickJS's description, e.g. `unexpected token in expression: ';'`.
        message: String,
        /// 1-based line in the source.
        line: u32,
        /// 1-based column in the source.
        column: u32,
    },
    /// The source parses but does not define a function named `getCustomJwtClaims`.
    #[error("the script must define a function getCustomJwtClaims")]
    MissingFunction,
    /// The source is longer than [`MAX_SOURCE_BYTES`](crate::script::MAX_SOURCE_BYTES).
    #[error("the script is {bytes} bytes long; at most {max} are allowed")]
    TooLarge {
        /// Length of the source.
        bytes: usize,
        /// The maximum.
        max: usize,
    },
    /// The script's top-level code (run at check time to find the function) threw, timed out
    /// or ran out of memory.
    #[error("the script's top-level code failed: {failure}")]
    TopLevel {
        /// What happened.
        failure: Box<ScriptFailure>,
    },
}

/// Why a run produced no claims. Every variant means: issue no token with these claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptFailure {
    /// The script called `api.denyAccess(message)`. This wins over every other outcome: a
    /// script that catches the denial and returns claims is still denied.
    #[error("access denied by the custom claims script: {message}")]
    Denied {
        /// The message given to `denyAccess` (or a default one).
        message: String,
    },
    /// The script threw (or its promise rejected). `line` is the 1-based source line of the
    /// innermost script frame, when QuickJS reports one.
    #[error("the custom claims script threw: {message}")]
    Thrown {
        /// `Name: message` for an `Error`, the string form of any other thrown value.
        message: String,
        /// 1-based source line.
        line: Option<u32>,
    },
    /// The run exceeded [`Limits::wall_time`](crate::Limits::wall_time), or returned a promise
    /// that can never settle.
    #[error("the custom claims script ran out of time")]
    Timeout,
    /// The run exceeded [`Limits::memory_bytes`](crate::Limits::memory_bytes).
    #[error("the custom claims script ran out of memory")]
    OutOfMemory,
    /// The script returned something other than a plain JSON object within
    /// [`Limits::max_result_bytes`](crate::Limits::max_result_bytes).
    #[error("the custom claims script returned an invalid result: {message}")]
    InvalidResult {
        /// What was wrong with it.
        message: String,
    },
    /// The script cannot run at all (it would not pass [`check`](crate::ScriptEngine::check)).
    #[error(transparent)]
    Invalid(#[from] ScriptError),
    /// The engine itself failed (the process could not allocate a JavaScript runtime).
    #[error("the script engine failed: {message}")]
    Engine {
        /// What failed.
        message: String,
    },
}

impl ScriptFailure {
    /// The failure's kind, as the test runner reports it and the audit log records it:
    /// `denied`, `thrown`, `timeout`, `out_of_memory`, `invalid_result`, `invalid` or `engine`.
    pub fn kind(&self) -> &'static str {
        match self {
            ScriptFailure::Denied { .. } => "denied",
            ScriptFailure::Thrown { .. } => "thrown",
            ScriptFailure::Timeout => "timeout",
            ScriptFailure::OutOfMemory => "out_of_memory",
            ScriptFailure::InvalidResult { .. } => "invalid_result",
            ScriptFailure::Invalid(_) => "invalid",
            ScriptFailure::Engine { .. } => "engine",
        }
    }
}
