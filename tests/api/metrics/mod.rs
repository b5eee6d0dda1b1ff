//! `/metrics`: what a running app counts after traffic, and exactly what a freshly started
//! binary counts.

mod after_traffic;
mod fresh_binary;
