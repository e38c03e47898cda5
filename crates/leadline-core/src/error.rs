use std::fmt;

/// Why text holding U+0000 is refused.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// A rule the input broke, with the field it broke it in (a JSON-pointer-like path such as
/// `phones[1]` or `schedule[0].start`) so every edge can tell the caller exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError {
    pub field: String,
    pub message: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Text holding U+0000, which PostgreSQL cannot store in text, so no backend takes it.
    pub fn holds_nul(field: impl Into<String>) -> Self {
        Self::new(field, NUL_REFUSED)
    }

    /// The same error seen from one level up, e.g. `start` inside `schedule[0]`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for DomainError {}
