//! Query-string parsing for lists.

use serde::Deserialize;

use super::error::ApiError;
use crate::domain::ValidationError;
use crate::domain::page::PageRequest;

/// The raw `?limit=&after=` of a list; parsed into a [`PageRequest`].
#[derive(Debug, Deserialize, Default)]
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

impl PageQuery {
    /// Validates the page request.
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.limit.as_deref() {
            None => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .map_err(|_| ValidationError::new("limit", "must be between 1 and 1000"))?,
            ),
        };
        Ok(PageRequest::parse(limit, self.after.as_deref())?)
    }
}
