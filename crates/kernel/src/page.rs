//! Cursor pagination shared by every listing: opaque cursors, bounded page sizes.
//!
//! Lists are ordered by a time-ordered UUIDv7 id, so "the rows after the last id seen" is a
//! stable cursor that neither skips nor repeats rows when others are inserted meanwhile.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 200;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("cursor is not one this API issued")]
    BadCursor,
    #[error("limit must be between 1 and {MAX_PAGE_SIZE}")]
    BadLimit,
}

impl PageRequest {
    pub fn parse(cursor: Option<&str>, limit: Option<u64>) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(PageError::BadLimit);
        }
        let after = match cursor {
            None | Some("") => None,
            Some(text) => Some(decode_cursor(text).ok_or(PageError::BadCursor)?),
        };
        Ok(Self { after, limit })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> u64 {
        self.limit + 1
    }
}

/// One page of results and the cursor for the next, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `fetch_limit()` rows; `id_of` gives each row's ordering id.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, id_of: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as u64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(id_of(r)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(text: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let request = PageRequest::parse(Some(&encode_cursor(id)), Some(10)).unwrap();
        assert_eq!(request.after, Some(id));
        assert_eq!(
            PageRequest::parse(Some("!!"), None).unwrap_err(),
            PageError::BadCursor
        );
        assert_eq!(
            PageRequest::parse(None, Some(0)).unwrap_err(),
            PageError::BadLimit
        );
        assert_eq!(
            PageRequest::parse(None, Some(201)).unwrap_err(),
            PageError::BadLimit
        );
    }

    #[test]
    fn a_full_page_carries_a_cursor_and_a_short_one_does_not() {
        let request = PageRequest::parse(None, Some(2)).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), &request, |id| *id);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[1])));
        let last = Page::from_rows(ids[..1].to_vec(), &request, |id| *id);
        assert!(last.next_cursor.is_none());
    }
}
