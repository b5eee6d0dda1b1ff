//! dropline: limited-edition collaboration drops and restock alerts.

pub mod auth;
pub mod cli;
pub mod config;
pub mod coord;
pub mod domain;
pub mod events;
pub mod gate;
pub mod http;
pub mod notify;
pub mod secret;
pub mod shop;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod ticks;
pub mod tools;
pub mod workers;
