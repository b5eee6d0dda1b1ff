//! The behaviour suite over HTTP; every case runs on SQLite and, when configured, on MySQL.

mod helpers;

mod auth;
mod binary;
mod brands;
mod claims;
mod cluster;
mod conventions;
mod dashboard;
mod draws;
mod events;
mod faults;
mod hardening;
mod health;
mod hostile;
mod indexes;
mod metrics;
mod metrics_fresh;
mod openapi;
mod orders;
mod product_reads;
mod products;
mod restarts;
mod rounds;
mod rounds_failures;
mod rounds_orders;
mod rounds_stock;
mod schedule;
mod subscriptions;
mod timeouts;
mod webhooks;
