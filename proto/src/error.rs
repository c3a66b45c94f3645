//! Why bytes could not become an event.

use muster_domain::ReasonCode;
use std::fmt;

/// A payload that is not a valid event, with the stable reason code and,
/// when they could be read, the event's `id` and `source` — so the ledger
/// can still record a rejected receipt the publisher can look up.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DecodeError {
    /// The stable reason code.
    pub code: ReasonCode,
    /// What is wrong, naming the field.
    pub message: String,
    /// The event id, if it was readable.
    pub id: Option<String>,
    /// The event source, if it was readable.
    pub source: Option<String>,
}

impl DecodeError {
    pub(crate) fn new(code: ReasonCode, message: impl Into<String>) -> DecodeError {
        DecodeError { code, message: message.into(), id: None, source: None }
    }

    pub(crate) fn with_key(mut self, id: &str, source: &str) -> DecodeError {
        self.id = Some(id.to_owned());
        self.source = Some(source.to_owned());
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let (Some(source), Some(id)) = (&self.source, &self.id) {
            write!(f, " (event {source}/{id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// `text` cut to at most `max` bytes on a character boundary, marked with
/// an ellipsis when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
