//! The line in a round's walk order, read in keyset pages: from the round's checkpoint to
//! the end of the line, then (rotated) from the front up to where the round began.

use crate::domain::ids::ProductId;
use crate::domain::round::{Checkpoint, Round};
use crate::domain::subscription::Subscription;
use crate::store::{LineWindow, Store, StoreResult};

/// Where a round's walk of the line stands: line ids after `after`, up to the end of the line
/// and then, once `wrapped`, from the front up to `start`.
pub(crate) struct LineWalk {
    start: i64,
    wrapped: bool,
    after: i64,
}

impl LineWalk {
    /// The walk of `round` from its checkpoint.
    pub fn from_checkpoint(round: &Round) -> Self {
        Self {
            start: round.start_position,
            wrapped: round.wrapped,
            after: round.cursor,
        }
    }

    /// The next page of at most `size` members, and whether it lies in the wrapped part of
    /// the walk; None when the walk has reached its end (members who join later are found by
    /// a later call).
    pub async fn next_page(
        &mut self,
        store: &dyn Store,
        product: ProductId,
        size: i64,
    ) -> StoreResult<Option<(Vec<Subscription>, bool)>> {
        loop {
            let upto = if self.wrapped { self.start } else { i64::MAX };
            let window = LineWindow {
                after: self.after,
                upto,
                limit: size,
            };
            let page = store.line_page(product, window).await?;
            if let Some(last) = page.last() {
                self.after = last.position;
                return Ok(Some((page, self.wrapped)));
            }
            if !self.wrapped && self.start > 0 {
                self.wrapped = true;
                self.after = 0;
                continue;
            }
            return Ok(None);
        }
    }
}

/// The checkpoint `round` was left at.
pub(crate) fn checkpoint_of(round: &Round) -> Checkpoint {
    Checkpoint {
        cursor: round.cursor,
        wrapped: round.wrapped,
        last_sent_user_id: round.last_sent_user_id,
    }
}
