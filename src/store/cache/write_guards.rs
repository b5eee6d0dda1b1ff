//! The brackets a write of the caching store runs in: one product's (`Changing`), and a
//! sweep's, whose products are known only from its answer (`Sweeping`).

use std::sync::atomic::Ordering;

use super::{Change, ProductCache};
use crate::domain::ids::ProductId;

/// Brackets a write of one product: from its creation the product's entry is neither served
/// nor filled, and when it goes out of scope (after the write, or when the write's future is
/// dropped halfway) the entry is dropped again and the change announced, so no path leaves a
/// stale entry in place or serves one between the commit and the end of the call.
pub(crate) struct Changing<'a> {
    cache: &'a ProductCache,
    product: ProductId,
}

impl<'a> Changing<'a> {
    /// Starts the bracket: the product's entry is dropped and none is filled until it ends.
    pub(crate) fn new(cache: &'a ProductCache, product: ProductId) -> Self {
        cache.begin_change(product);
        Self { cache, product }
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.cache.end_change(self.product);
        self.cache.announce(Change::Product(self.product));
    }
}

/// Brackets a write whose products are known only from its answer (a sweep of due holds or
/// claims): while it runs no entry is served or filled; what it changed is dropped by the
/// caller from the answer, before the bracket ends.
/// A sweep abandoned halfway may have changed anything: then every entry is dropped.
pub(crate) struct Sweeping<'a> {
    cache: &'a ProductCache,
    answered: bool,
}

impl<'a> Sweeping<'a> {
    /// Starts the bracket: no entry is served or filled until it ends.
    pub(crate) fn new(cache: &'a ProductCache) -> Self {
        cache.sweeping.fetch_add(1, Ordering::AcqRel);
        Self {
            cache,
            answered: false,
        }
    }

    /// The sweep answered and what it changed was dropped.
    pub(crate) fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Sweeping<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.cache.changed(Change::All);
        }
        self.cache.sweeping.fetch_sub(1, Ordering::AcqRel);
    }
}
