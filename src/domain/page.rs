//! Keyset pagination: a page size and an opaque-to-clients cursor.

use serde::Serialize;

use super::ValidationError;

/// A validated page request: at most `limit` items after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items to return, 1..=1000.
    pub limit: u32,
    /// Return items strictly after this key (the `next` of the previous page).
    pub after: Option<i64>,
}

impl PageRequest {
    /// Default page size when the client sends none.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Largest page a client may ask for.
    pub const MAX_LIMIT: u32 = 1000;

    /// Parses the raw query values.
    pub fn parse(limit: Option<i64>, after: Option<&str>) -> Result<Self, ValidationError> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(l) if (1..=i64::from(Self::MAX_LIMIT)).contains(&l) => l as u32,
            Some(_) => return Err(ValidationError::new("limit", "must be between 1 and 1000")),
        };
        let after = match after {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| ValidationError::new("after", "is not a valid cursor"))?,
            ),
        };
        Ok(Self { limit, after })
    }

    /// The number of rows to fetch: one more than the page, to know whether a next page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list, as sent to clients.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor for the next page, or null on the last one.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Cuts a fetched list (of up to `req.fetch()` rows) into a page, taking the cursor from `key`.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, key: impl Fn(&T) -> i64) -> Self {
        let more = rows.len() > req.limit as usize;
        rows.truncate(req.limit as usize);
        let next = if more {
            rows.last().map(|r| key(r).to_string())
        } else {
            None
        };
        Self { items: rows, next }
    }

    /// Converts each item, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(PageRequest::parse(None, None).map(|p| p.limit), Ok(100));
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(1001), None).is_err());
        assert!(PageRequest::parse(Some(1), Some("x")).is_err());
        assert_eq!(
            PageRequest::parse(Some(5), Some("42")).map(|p| p.after),
            Ok(Some(42))
        );
    }

    #[test]
    fn page_has_next_only_when_more_rows_exist() {
        let req = PageRequest::parse(Some(2), None).unwrap();
        let p = Page::from_rows(vec![1, 2, 3], &req, |v| *v);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.as_deref(), Some("2"));
        let p = Page::from_rows(vec![1, 2], &req, |v| *v);
        assert_eq!(p.next, None);
    }
}
