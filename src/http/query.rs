//! Query-string parsing for lists.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use crate::domain::ValidationError;
use crate::domain::page::PageRequest;

/// The raw `?limit=&after=` of a list; parsed into a [`PageRequest`].
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1..=1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next` cursor of the previous page.
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
