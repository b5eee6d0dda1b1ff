//! The behaviour suite over HTTP; every case runs on SQLite and, when configured, on MySQL.

mod helpers;

mod auth;
mod binary;
mod brands;
mod claims;
mod cluster;
mod connection_timeouts;
mod conventions;
mod dashboard;
mod draws;
mod event_stream;
mod health;
mod indexes;
mod metrics;
mod openapi;
mod orders;
mod product_reads;
mod products;
mod protocol_abuse;
mod queue;
mod rounds;
mod schedule;
mod stock_accounting;
mod strict_checks;
mod subscriptions;
mod webhooks;
