//! Error types. Every message is written to be shown to the person or model that sent the
//! data or the request, as a tool error, without further wrapping.

use std::fmt;

/// Why an analysis did not produce a report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The data could not be turned into a [`Dataset`](crate::Dataset).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong with the data.
        reason: InputError,
    },
    /// The request does not fit the dataset or has an invalid option.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong with the request.
        reason: RequestError,
    },
    /// A requested statistic exceeds the range of a 64-bit float (the values are too large).
    #[error(
        "the {statistic} of column \"{column}\" is outside the range of 64-bit floating point \
         numbers; rescale the data (for example divide by a power of ten) and retry"
    )]
    Overflow {
        /// Column whose statistic overflowed.
        column: String,
        /// Name of the statistic.
        statistic: &'static str,
    },
    /// The run was cancelled through its [`CancelToken`](crate::CancelToken).
    #[error("the analysis was cancelled")]
    Cancelled,
    /// The pool already runs its maximum number of jobs; nothing was started.
    #[error("the analysis engine is busy (limit: {capacity} at a time); retry shortly")]
    Overloaded {
        /// Maximum number of jobs the pool runs at once.
        capacity: usize,
    },
    /// A worker panicked while computing; this is a bug in the engine or in the progress
    /// callback.
    #[error("the analysis failed unexpectedly: {message}")]
    WorkerPanicked {
        /// The panic payload, when it was a string.
        message: String,
    },
}

impl From<InputError> for AnalysisError {
    fn from(reason: InputError) -> Self {
        Self::InvalidInput { reason }
    }
}

impl From<RequestError> for AnalysisError {
    fn from(reason: RequestError) -> Self {
        Self::InvalidRequest { reason }
    }
}

impl From<Overloaded> for AnalysisError {
    fn from(busy: Overloaded) -> Self {
        Self::Overloaded {
            capacity: busy.capacity,
        }
    }
}

/// Where a bad value sits: a 1-based data row (the header is not counted) and a column name,
/// plus the 1-based line for CSV input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRef {
    /// 1-based data row; the first value of a column is row 1.
    pub row: usize,
    /// Column name.
    pub column: String,
    /// 1-based line in CSV text, when the data came from CSV.
    pub line: Option<u64>,
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} (data row {})", self.row)?,
            None => write!(f, "row {}", self.row)?,
        }
        write!(f, ", column \"{}\"", self.column)
    }
}

/// What is wrong with input data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// No columns at all.
    #[error("the dataset has no columns")]
    NoColumns,
    /// Columns exist but hold no values.
    #[error("the dataset has no rows; at least one value is needed")]
    NoRows,
    /// A column name is empty.
    #[error("column {position} has an empty name")]
    EmptyColumnName {
        /// 1-based position of the column.
        position: usize,
    },
    /// Two columns share a name.
    #[error("column name \"{name}\" appears more than once")]
    DuplicateColumn {
        /// The repeated name.
        name: String,
    },
    /// Columns differ in length.
    #[error(
        "column \"{column}\" has {found} values but column \"{first}\" has {expected}; \
         all columns must have the same length"
    )]
    LengthMismatch {
        /// The column whose length differs.
        column: String,
        /// Its length.
        found: usize,
        /// The first column, whose length is the reference.
        first: String,
        /// The reference length.
        expected: usize,
    },
    /// A row has a different number of values than there are columns.
    #[error("{location}: expected {expected} values (one per column), found {found}")]
    RowWidth {
        /// "row N" or "line N".
        location: String,
        /// Values in the row.
        found: usize,
        /// Number of columns.
        expected: usize,
    },
    /// A value that is not a number.
    #[error("{at}: {value} is not a number")]
    NotNumeric {
        /// Where the value is.
        at: CellRef,
        /// The value as given (quoted if it was text), shortened if long.
        value: String,
    },
    /// A null value.
    #[error("{at}: value is null; every cell must hold a number")]
    Null {
        /// Where the value is.
        at: CellRef,
    },
    /// An empty CSV cell while [`EmptyCells::Error`](crate::EmptyCells::Error) is in force.
    #[error("{at}: cell is empty; fill it, or ask for rows with empty cells to be skipped")]
    EmptyCell {
        /// Where the cell is.
        at: CellRef,
    },
    /// NaN or an infinity.
    #[error("{at}: {value} is not a finite number; NaN and infinity are not allowed")]
    NonFinite {
        /// Where the value is.
        at: CellRef,
        /// The value as given.
        value: String,
    },
    /// CSV text that cannot be parsed (for example an unterminated quote or invalid UTF-8).
    #[error("malformed CSV{}: {reason}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Csv {
        /// 1-based line, when known.
        line: Option<u64>,
        /// The parser's description of the problem.
        reason: String,
    },
    /// JSON of the wrong shape.
    #[error("expected {expected}, found {found}")]
    Shape {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
}

/// What is wrong with an [`AnalysisRequest`](crate::AnalysisRequest) for a given dataset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A column named in the request is not in the dataset.
    #[error("no column named \"{name}\"; available columns: {}", list(available))]
    UnknownColumn {
        /// The missing name.
        name: String,
        /// Names the dataset has.
        available: Vec<String>,
    },
    /// A column is listed twice in `columns`.
    #[error("column \"{name}\" is listed more than once")]
    DuplicateColumn {
        /// The repeated name.
        name: String,
    },
    /// An operation that takes options appears more than once.
    #[error("operation \"{op}\" is listed more than once; list it once with all its options")]
    DuplicateOperation {
        /// The operation's name.
        op: &'static str,
    },
    /// An option is out of range.
    #[error("{op}: {name} = {value} is invalid; expected {expected}")]
    InvalidParameter {
        /// The operation's name.
        op: &'static str,
        /// The option's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// The dataset has too few rows for the operation.
    #[error("{op} needs at least {needed} rows, the dataset has {rows}")]
    NotEnoughRows {
        /// The operation's name.
        op: &'static str,
        /// Rows needed.
        needed: usize,
        /// Rows present.
        rows: usize,
    },
    /// Too few columns selected for the operation.
    #[error("{op} needs at least {needed} columns, {found} selected")]
    NotEnoughColumns {
        /// The operation's name.
        op: &'static str,
        /// Columns needed.
        needed: usize,
        /// Columns selected.
        found: usize,
    },
    /// Regression on an x column whose values are all equal: the slope is undefined.
    #[error("regression: x column \"{x}\" is constant, so the slope is undefined")]
    ConstantRegressor {
        /// The x column.
        x: String,
    },
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// [`AnalysisPool::try_submit`](crate::AnalysisPool::try_submit) found every slot taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the analysis engine is busy (limit: {capacity} at a time); retry shortly")]
pub struct Overloaded {
    /// Maximum number of jobs the pool runs at once.
    pub capacity: usize,
}

/// The pool's worker threads could not be started.
#[derive(Debug, thiserror::Error)]
#[error("could not start the analysis thread pool")]
pub struct PoolBuildError {
    #[source]
    pub(crate) source: rayon::ThreadPoolBuildError,
}
