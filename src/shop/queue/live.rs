//! Live standings for the waiting room's event stream. For each room with a stream open on
//! this instance, one read of the whole room (in its order) answers every stream's standing;
//! the read is taken again whenever the room's rows change, whichever instance changed them
//! (the admitting step looks at each watched room's mark, `QueueStore::queue_mark`).

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

use super::Standing;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::queue::{MemberStatus, QueueState, RoomMark, Seat, seen_state, sold_out};
use crate::store::{Store, StoreResult};

/// A read of one room: each member's status and place among the waiters.
#[derive(Debug, Default)]
pub struct Room {
    /// The room's mark when it was read.
    mark: RoomMark,
    /// When it was read.
    read_at: Option<DateTime<Utc>>,
    /// Each member's seat and 0-based place among the waiters (if waiting).
    seats: HashMap<UserId, (Seat, Option<i64>)>,
    /// The end of each admission (open or not: it is compared with the time asked about).
    admissions: Vec<DateTime<Utc>>,
    /// The product's free units when the room was read.
    free: i64,
}

impl Room {
    fn read(seats: Vec<Seat>, mark: RoomMark, free: i64, now: DateTime<Utc>) -> Self {
        let mut waiting = 0;
        let mut admissions = Vec::new();
        let mut by_user = HashMap::with_capacity(seats.len());
        for seat in seats {
            let place = match seat.status {
                MemberStatus::Waiting => {
                    waiting += 1;
                    Some(waiting - 1)
                }
                MemberStatus::Admitted => {
                    admissions.extend(seat.admitted_until);
                    None
                }
                _ => None,
            };
            by_user.insert(seat.user_id, (seat, place));
        }
        Self {
            mark,
            read_at: Some(now),
            seats: by_user,
            admissions,
            free,
        }
    }

    /// Whether `user` is in this read.
    pub fn has(&self, user: UserId) -> bool {
        self.seats.contains_key(&user)
    }

    /// The standing of `user` at `now`, as `GET /products/{id}/queue` answers it; None when
    /// the read does not hold the user.
    pub fn standing(
        &self,
        user: UserId,
        sale_starts_at: Option<DateTime<Utc>>,
        per_user_limit: i64,
        now: DateTime<Utc>,
    ) -> Option<Standing> {
        let (seat, place) = self.seats.get(&user)?;
        let open = self.admissions.iter().filter(|u| **u > now).count() as i64;
        let mut state = seen_state(seat.status, seat.admitted_until, sale_starts_at, now);
        // Told at once, not only once the admitting step has marked every row.
        if state == QueueState::Waiting && sold_out(self.free, open) {
            state = QueueState::SoldOut;
        }
        let waiting = state == QueueState::Waiting;
        Some(Standing {
            state,
            place: place.filter(|_| waiting).map(|p| p + 1),
            units_ahead: place
                .filter(|_| waiting)
                .map(|p| (p + open) * per_user_limit),
            admitted_until: seat
                .admitted_until
                .filter(|_| state == QueueState::Admitted),
        })
    }
}

/// A watched room: its latest read, sent to every stream on it.
struct Watched {
    room: watch::Sender<Arc<Room>>,
    /// One read of the room at a time.
    reading: tokio::sync::Mutex<()>,
}

/// The rooms watched on this instance.
#[derive(Default)]
pub struct LiveRooms {
    rooms: Mutex<HashMap<ProductId, Arc<Watched>>>,
}

/// How long after a write the room is read again at every step even when its mark looks
/// unchanged (a second write in the same millisecond keeps the mark's time).
const SETTLING: Duration = Duration::seconds(1);

impl LiveRooms {
    fn watched(&self, product: ProductId) -> Arc<Watched> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .entry(product)
            .or_insert_with(|| {
                Arc::new(Watched {
                    room: watch::channel(Arc::new(Room::default())).0,
                    reading: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    /// Watches the room of `product` for `user`: the receiver holds a read that has the
    /// user (read now if the latest one does not).
    pub async fn watch(
        &self,
        store: &dyn Store,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<watch::Receiver<Arc<Room>>> {
        let watched = self.watched(product);
        let rx = watched.room.subscribe();
        if !rx.borrow().has(user) {
            let _one = watched.reading.lock().await;
            if !watched.room.borrow().has(user) {
                read_into(store, product, &watched, now).await?;
            }
        }
        Ok(rx)
    }

    /// Reads again each watched room whose rows changed; forgets rooms nobody watches.
    pub async fn refresh(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<()> {
        let watched: Vec<(ProductId, Arc<Watched>)> = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms.retain(|_, w| w.room.receiver_count() > 0);
            rooms.iter().map(|(p, w)| (*p, w.clone())).collect()
        };
        for (product, w) in watched {
            let _one = w.reading.lock().await;
            let mark = store.queue_mark(product).await?;
            let (last_mark, read_at) = {
                let room = w.room.borrow();
                (room.mark, room.read_at)
            };
            let settled = read_at
                .is_some_and(|at| at.timestamp_millis() > mark.1 + SETTLING.num_milliseconds());
            if mark != last_mark || !settled {
                read_into(store, product, &w, now).await?;
            }
        }
        Ok(())
    }
}

async fn read_into(
    store: &dyn Store,
    product: ProductId,
    watched: &Watched,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mark = store.queue_mark(product).await?;
    // Read just before the seats: a unit that comes back after it brings an admission,
    // whose write is seen by the next refresh.
    let free = store.stock_of(product).await?.map_or(0, |s| s.stock);
    let seats = store.queue_room(product).await?;
    watched
        .room
        .send_replace(Arc::new(Room::read(seats, mark, free, now)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(user: i64, status: MemberStatus) -> Seat {
        Seat {
            user_id: UserId::from_db(user),
            status,
            admitted_until: None,
        }
    }

    #[test]
    fn a_waiter_of_a_room_with_no_free_unit_and_no_open_admission_is_sold_out() {
        let now = Utc::now();
        let started = Some(now - Duration::seconds(5));
        let seats = || {
            vec![
                seat(1, MemberStatus::Ordered),
                seat(2, MemberStatus::Waiting),
            ]
        };
        let gone = Room::read(seats(), (2, 0), 0, now);
        let s = gone
            .standing(UserId::from_db(2), started, 1, now)
            .expect("seat");
        assert_eq!((s.state, s.place), (QueueState::SoldOut, None));
        let left = Room::read(seats(), (2, 0), 1, now);
        let s = left
            .standing(UserId::from_db(2), started, 1, now)
            .expect("seat");
        assert_eq!((s.state, s.place), (QueueState::Waiting, Some(1)));
        // An open admission may still give its unit back: the waiter keeps waiting.
        let mut held = seats();
        held.push(Seat {
            admitted_until: Some(now + Duration::seconds(60)),
            ..seat(3, MemberStatus::Admitted)
        });
        let open = Room::read(held, (3, 0), 0, now);
        let s = open
            .standing(UserId::from_db(2), started, 1, now)
            .expect("seat");
        assert_eq!(
            (s.state, s.place, s.units_ahead),
            (QueueState::Waiting, Some(1), Some(1))
        );
    }
}
