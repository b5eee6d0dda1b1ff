//! Draw entries, written a batch per transaction: the caller that takes the entry writer's
//! turn writes every entry queued by then. The new entries of a batch go in with one
//! multi-row INSERT a product; a replacement, a re-entry after withdrawing and an entry a
//! concurrent writer inserted first take the one-by-one path, in arrival order.

use sqlx::QueryBuilder;
use std::collections::{HashMap, HashSet};

use super::super::SqlStore;
use super::one_entry::{Step, Tx};
use crate::domain::draws::{Entry, EntryOutcome, rank_key};
use crate::domain::ids::ProductId;
use crate::store::draws::{Entering, EntryCursor, EntryRow};
use crate::store::group_commit::{Reply, answer_batch};
use crate::store::orders::is_unique_violation;
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;
use crate::store::{StoreError, StoreResult};

/// Rows per multi-row INSERT (7 values an entry: well under every bound-variable limit).
const CHUNK: usize = 1000;

type Answer = StoreResult<(EntryOutcome, Entry)>;

impl SqlStore {
    /// Enters `e` through the entry writer: queues it, and whoever takes the writer's turn
    /// writes every entry queued by then in one transaction, on a task of its own (a caller
    /// that goes away cannot cut it short). A caller whose entry an earlier batch wrote
    /// answers at once instead of waiting for a turn it no longer needs.
    pub(super) async fn enter_queued(&self, e: Entering) -> Answer {
        let store = self.clone();
        self.entry_queue()
            .submit(
                e,
                move |batch| async move { store.enter_batch(batch).await },
            )
            .await
    }

    /// Enters a batch in one transaction, answering each entry; a database failure rolls
    /// the whole batch back and answers every entry with it. A lost lock race runs the
    /// batch again from the start (see `store::retry`).
    async fn enter_batch(&self, batch: Vec<(Entering, Reply<(EntryOutcome, Entry)>)>) {
        let _turn = self.order_turn().await;
        let (entries, replies): (Vec<Entering>, Vec<_>) = batch.into_iter().unzip();
        let done = lock_races("draw entries", || async {
            let mut tx = self.write_tx().await?;
            let answers = self.enter_all(&mut tx, &entries).await?;
            tx.commit().await?;
            Ok(answers)
        })
        .await;
        answer_batch("draw entries", replies, done);
    }

    /// Answers every entry of the batch, in its order, inside `tx`.
    async fn enter_all(&self, tx: &mut Tx, batch: &[Entering]) -> StoreResult<Vec<Answer>> {
        let mut terms = HashMap::new();
        let mut answers: Vec<Option<Answer>> = batch.iter().map(|_| None).collect();
        // The entries that may be new: allowed, and the first of their user and product in
        // the batch (a later one replaces it, one by one below).
        let mut seen = HashSet::new();
        let mut fresh: HashMap<ProductId, Vec<usize>> = HashMap::new();
        for (i, e) in batch.iter().enumerate() {
            match self.allowed(tx, &mut terms, e).await {
                Err(Step::Refused(why)) => answers[i] = Some(Err(why)),
                Err(Step::Failed(why)) => return Err(why),
                Ok(()) if seen.insert((e.product, e.user)) => {
                    fresh.entry(e.product).or_default().push(i);
                }
                Ok(()) => {}
            }
        }
        for (product, mut picked) in fresh {
            let seed = terms
                .get(&product)
                .and_then(|t| t.draw_seed.clone())
                .unwrap_or_default();
            let known = self
                .entered_users(tx, product, picked.iter().map(|&i| batch[i].user.get()))
                .await?;
            picked.retain(|&i| !known.contains(&batch[i].user.get()));
            for chunk in picked.chunks(CHUNK) {
                let rows: Vec<&Entering> = chunk.iter().map(|&i| &batch[i]).collect();
                if let Some(ids) = self.insert_new(tx, product, &seed, &rows).await? {
                    for (&i, id) in chunk.iter().zip(ids) {
                        answers[i] = Some(Ok(new_entry(&batch[i], id)));
                    }
                }
            }
        }
        // Everything not answered yet, one by one in arrival order: replacements, re-entries,
        // repeats within the batch, and entries another writer inserted first.
        for (i, e) in batch.iter().enumerate() {
            if answers[i].is_none() {
                answers[i] = Some(match self.enter_in(tx, &mut terms, e).await {
                    Ok(entered) => Ok(entered),
                    Err(Step::Refused(why)) => Err(why),
                    Err(Step::Failed(why)) => return Err(why),
                });
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(StoreError::Internal("the entry was not written"))))
            .collect())
    }

    /// Which of `users` have an entry row for `product` already.
    async fn entered_users(
        &self,
        tx: &mut Tx,
        product: ProductId,
        users: impl IntoIterator<Item = i64>,
    ) -> StoreResult<HashSet<i64>> {
        let users: Vec<i64> = users.into_iter().collect();
        let mut known = HashSet::new();
        for chunk in users.chunks(CHUNK) {
            let mut q = QueryBuilder::new("SELECT user_id FROM draw_entry WHERE product_id = ");
            q.push_bind(product.get()).push(" AND user_id IN ");
            push_id_list(&mut q, chunk.iter().copied());
            let rows: Vec<(i64,)> = q.build_query_as().fetch_all(&mut **tx).await?;
            known.extend(rows.into_iter().map(|(u,)| u));
        }
        Ok(known)
    }

    /// Inserts new entries of one product in one statement and answers their row ids in
    /// the order given; None when another writer inserted one of them first (the statement
    /// is undone; they go one by one).
    async fn insert_new(
        &self,
        tx: &mut Tx,
        product: ProductId,
        seed: &str,
        rows: &[&Entering],
    ) -> StoreResult<Option<Vec<i64>>> {
        let mut insert = QueryBuilder::new(
            "INSERT INTO draw_entry (product_id, user_id, quantity, status, draw_key, \
             created_at, updated_at) ",
        );
        insert.push_values(rows, |mut b, e| {
            let now = e.now.timestamp_millis();
            b.push_bind(product.get())
                .push_bind(e.user.get())
                .push_bind(e.quantity.get())
                .push_bind("ENTERED")
                .push_bind(rank_key(seed, e.user.get()))
                .push_bind(now)
                .push_bind(now);
        });
        match insert.build().execute(&mut **tx).await {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => return Ok(None),
            Err(err) => return Err(err.into()),
        }
        let mut read = QueryBuilder::new("SELECT user_id, id FROM draw_entry WHERE product_id = ");
        read.push_bind(product.get()).push(" AND user_id IN ");
        push_id_list(&mut read, rows.iter().map(|e| e.user.get()));
        let ids: HashMap<i64, i64> = read
            .build_query_as::<(i64, i64)>()
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
        Ok(Some(
            rows.iter()
                .map(|e| ids.get(&e.user.get()).copied().unwrap_or_default())
                .collect(),
        ))
    }
}

/// The answer for an entry inserted with row id `id`.
fn new_entry(e: &Entering, id: i64) -> (EntryOutcome, Entry) {
    let now = e.now.timestamp_millis();
    let row = EntryRow {
        id,
        product_id: e.product.get(),
        user_id: e.user.get(),
        quantity: e.quantity.get(),
        status: "ENTERED".into(),
        list_pos: None,
        order_id: None,
        created_at: now,
    };
    (EntryOutcome::Entered, row.entry(EntryCursor::Id))
}
