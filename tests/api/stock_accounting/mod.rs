//! Clients that behave as real ones do: they give up mid-request, retry with the same key,
//! and servers that restart on a Redis holding someone else's (or an older) state. After the
//! work settles, the gate equals the database and every unit is accounted for.

mod abandoned_requests;
mod dropped_futures;
mod same_key_retries;
mod stale_redis;
