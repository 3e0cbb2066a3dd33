//! Keyset pagination: rows come in id order (UUIDv7, so creation order) after a cursor.

/// Which page of a list to read: up to `limit` rows whose key sorts after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Page { after: None, limit }
    }

    /// The limit clamped to 1..=MAX_LIMIT, plus one row to learn whether more follow.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT)) + 1
    }
}

/// One page of rows and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from rows fetched with [`Page::fetch_limit`]: the extra row, if
    /// present, is dropped and the last kept row's key becomes the cursor.
    pub(crate) fn from_rows(mut rows: Vec<T>, page: &Page, key: impl Fn(&T) -> String) -> Self {
        let limit = page.limit.clamp(1, Page::MAX_LIMIT) as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&key)
        } else {
            None
        };
        Paged { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}
