//! Waiting-room joins, written a batch per transaction (`store::group_commit`): each
//! product's row locked once, its members among the batch's users read with one query, and
//! its new members written with multi-row INSERTs.

use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::{ROOM, RoomRow, Tx};
use crate::domain::Conflict;
use crate::domain::draws::rank_key;
use crate::domain::ids::ProductId;
use crate::domain::queue::Member;
use crate::store::group_commit::{Reply, answer_batch};
use crate::store::queue::{Joining, MEMBER_COLUMNS, MemberRow};
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;
use crate::store::{StoreError, StoreResult};

/// Rows per multi-row INSERT or IN list (7 values a member: under every bind limit).
const JOIN_CHUNK: usize = 1000;

type JoinAnswer = StoreResult<(bool, Member)>;

impl super::super::SqlStore {
    /// Joins a batch in one transaction, answering each join; a database failure rolls the
    /// whole batch back and answers every join with it.
    pub(super) async fn join_batch(&self, batch: Vec<(Joining, Reply<(bool, Member)>)>) {
        let _turn = self.order_turn().await;
        let (joins, replies): (Vec<Joining>, Vec<_>) = batch.into_iter().unzip();
        let done = lock_races("queue joins", || async {
            let mut tx = self.write_tx().await?;
            let answers = self.join_all(&mut tx, &joins).await?;
            tx.commit().await?;
            Ok(answers)
        })
        .await;
        answer_batch("queue joins", replies, done);
    }

    /// Answers every join of the batch, in its order, inside `tx`: each product's row is
    /// locked once (in id order), its members among the batch's users read with one query,
    /// and its new members written with multi-row INSERTs.
    async fn join_all(&self, tx: &mut Tx, batch: &[Joining]) -> StoreResult<Vec<JoinAnswer>> {
        let mut answers: Vec<Option<JoinAnswer>> = batch.iter().map(|_| None).collect();
        let mut rooms: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, j) in batch.iter().enumerate() {
            rooms.entry(j.product.get()).or_default().push(i);
        }
        for (product, picked) in rooms {
            let Some(room) =
                super::super::lock_product::<RoomRow>(tx, ProductId::from_db(product), ROOM)
                    .await?
            else {
                for i in picked {
                    answers[i] = Some(Err(StoreError::NotFound));
                }
                continue;
            };
            let users: Vec<i64> = picked.iter().map(|&i| batch[i].user.get()).collect();
            let mut members = self.members_of(tx, product, &users).await?;
            let (enabled, starts, stock, _, _, _, seed) = room;
            // Whether the room is past selling out, read once the first started join needs it.
            let mut sold_out: Option<bool> = None;
            let mut fresh: Vec<usize> = Vec::new();
            let mut seen = HashSet::new();
            for &i in &picked {
                let j = &batch[i];
                let now_ms = j.now.timestamp_millis();
                if members.contains_key(&j.user.get()) || seen.contains(&j.user.get()) {
                    continue;
                }
                if enabled == 0 {
                    answers[i] = Some(Err(Conflict::QueueClosed.into()));
                    continue;
                }
                let started = starts.is_some_and(|s| s <= now_ms);
                if started && stock <= 0 {
                    let gone = match sold_out {
                        Some(gone) => gone,
                        None => {
                            let open = self.open_admissions(&mut **tx, product, now_ms).await?;
                            *sold_out.insert(open == 0)
                        }
                    };
                    if gone {
                        answers[i] = Some(Err(Conflict::QueueClosed.into()));
                        continue;
                    }
                }
                seen.insert(j.user.get());
                fresh.push(i);
            }
            for chunk in fresh.chunks(JOIN_CHUNK) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO queue_member (product_id, user_id, lane, rank_key, status, \
                     joined_at, updated_at) ",
                );
                insert.push_values(chunk, |mut b, &i| {
                    let j = &batch[i];
                    let now_ms = j.now.timestamp_millis();
                    let started = starts.is_some_and(|s| s <= now_ms);
                    let (lane, key) = match (started, &seed) {
                        (false, Some(seed)) => (0, rank_key(seed, j.user.get())),
                        _ => (1, String::new()),
                    };
                    b.push_bind(product)
                        .push_bind(j.user.get())
                        .push_bind(lane)
                        .push_bind(key)
                        .push_bind("WAITING")
                        .push_bind(now_ms)
                        .push_bind(now_ms);
                });
                insert.build().execute(&mut **tx).await?;
                let users: Vec<i64> = chunk.iter().map(|&i| batch[i].user.get()).collect();
                members.extend(self.members_of(tx, product, &users).await?);
                for &i in chunk {
                    if let Some(m) = members.get(&batch[i].user.get()) {
                        answers[i] = Some(Ok((true, m.clone())));
                    }
                }
            }
            // Members that were there before the batch, and repeats within it.
            for &i in &picked {
                if answers[i].is_none()
                    && let Some(m) = members.get(&batch[i].user.get())
                {
                    answers[i] = Some(Ok((false, m.clone())));
                }
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(StoreError::Internal("the join was not written"))))
            .collect())
    }

    /// The members of `product` among `users`, by user.
    async fn members_of(
        &self,
        tx: &mut Tx,
        product: i64,
        users: &[i64],
    ) -> StoreResult<HashMap<i64, Member>> {
        let mut found = HashMap::new();
        for chunk in users.chunks(JOIN_CHUNK) {
            let mut q = QueryBuilder::new(format!(
                "SELECT {MEMBER_COLUMNS} FROM queue_member WHERE product_id = "
            ));
            q.push_bind(product).push(" AND user_id IN ");
            push_id_list(&mut q, chunk.iter().copied());
            let rows: Vec<MemberRow> = q.build_query_as().fetch_all(&mut **tx).await?;
            found.extend(rows.into_iter().map(|r| (r.user_id, Member::from(r))));
        }
        Ok(found)
    }
}
