//! The schema of each backend, embedded in the binary.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

fn migrator(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The SQLite schema, in order.
pub fn sqlite() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "stock_version",
            include_str!("../../migrations/sqlite/0002_stock_version.sql"),
        ),
        (
            3,
            "draws",
            include_str!("../../migrations/sqlite/0003_draws.sql"),
        ),
        (
            4,
            "draw_ranks",
            include_str!("../../migrations/sqlite/0004_draw_ranks.sql"),
        ),
        (
            5,
            "claims",
            include_str!("../../migrations/sqlite/0005_claims.sql"),
        ),
        (
            6,
            "draw_units",
            include_str!("../../migrations/sqlite/0006_draw_units.sql"),
        ),
        (
            7,
            "queue",
            include_str!("../../migrations/sqlite/0007_queue.sql"),
        ),
        (
            8,
            "deliveries",
            include_str!("../../migrations/sqlite/0008_deliveries.sql"),
        ),
    ])
}

/// The MySQL / MariaDB schema, in order.
pub fn mysql() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../../migrations/mysql/0001_init.sql"),
        ),
        (
            2,
            "stock_version",
            include_str!("../../migrations/mysql/0002_stock_version.sql"),
        ),
        (
            3,
            "draws",
            include_str!("../../migrations/mysql/0003_draws.sql"),
        ),
        (
            4,
            "draw_ranks",
            include_str!("../../migrations/mysql/0004_draw_ranks.sql"),
        ),
        (
            5,
            "claims",
            include_str!("../../migrations/mysql/0005_claims.sql"),
        ),
        (
            6,
            "draw_units",
            include_str!("../../migrations/mysql/0006_draw_units.sql"),
        ),
        (
            7,
            "queue",
            include_str!("../../migrations/mysql/0007_queue.sql"),
        ),
        (
            8,
            "deliveries",
            include_str!("../../migrations/mysql/0008_deliveries.sql"),
        ),
    ])
}
